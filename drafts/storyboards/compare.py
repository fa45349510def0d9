"""Compare two to four takes of a shot side by side, with what differs between them."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from .access import get_shot, get_storyboard_for_user, get_take

MAX_TAKES = 4


@require_GET
def compare(request, pk, shot):
    storyboard = get_storyboard_for_user(request.user, pk)
    shot = get_shot(storyboard, shot)
    ids = request.GET.getlist("takes")[:MAX_TAKES]
    if len(ids) < 2:
        return render(request, "400.html", {"message": "Choose two to four takes."}, status=400)
    takes = [get_take(storyboard, take_id) for take_id in ids]
    context = {"storyboard": storyboard, "shot": shot, "takes": takes}
    return render(request, "storyboards/compare.html", context)
