"""The review page of one video: its player, state, stars, favourite and comments."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import access, services


@require_GET
def video(request, kind, pk):
    video = access.get_video_for_user(request.user, kind, pk)
    context = {"video": video, "threads": services.comments_of(video)}
    return render(request, "review/video.html", context)
