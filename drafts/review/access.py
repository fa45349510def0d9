"""Who may see a video (a job's output or a cut) and who may review it.

A video is seen by whoever sees its job (jobs.models: its owner, the team when it, its
batch or its storyboard is shared, staff with view_all_jobs) or its cut's storyboard.
Anything else is a 404, like an id that does not exist. Approving, asking for review and
resolving others' comments take the video's owner or the review permission (403).
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from jobs.models import REVIEW_VIDEOS, VideoCreationJob

from ..storyboards.models import Cut, Storyboard

JOB, CUT = "job", "cut"
KINDS = (JOB, CUT)


def kind_of(video) -> str:
    return CUT if isinstance(video, Cut) else JOB


def key_of(video) -> str:
    """Return "job:<id>" or "cut:<id>", how forms and the gallery name a video."""
    return f"{kind_of(video)}:{video.pk}"


def visible_jobs(user):
    return VideoCreationJob.objects.visible_to(user)


def visible_cuts(user):
    return Cut.objects.filter(storyboard__in=Storyboard.objects.visible_to(user))


def get_video_for_user(user, kind, pk):
    """Return the finished video (completed job, ready cut) of kind if user may see it."""
    if kind == JOB:
        jobs = visible_jobs(user).filter(status=VideoCreationJob.Status.COMPLETED)
        return get_object_or_404(jobs.select_related("owner"), pk=pk)
    if kind == CUT:
        cuts = visible_cuts(user).filter(status=Cut.Status.READY)
        return get_object_or_404(cuts.select_related("storyboard__owner"), pk=pk)
    raise Http404("No such video.")


def get_video_by_key(user, key):
    """Return the video a "kind:id" key names, if user may see it (else 404)."""
    kind, _, pk = (key or "").partition(":")
    return get_video_for_user(user, kind, pk)


def owner_id_of(video):
    return video.storyboard.owner_id if isinstance(video, Cut) else video.owner_id


def is_video_owner(user, video) -> bool:
    return user.is_authenticated and owner_id_of(video) == user.pk


def can_review(user, video) -> bool:
    """Return whether user may approve the video: its owner, or the review permission."""
    return is_video_owner(user, video) or (user.is_authenticated and user.has_perm(REVIEW_VIDEOS))


def check_can_review(user, video) -> None:
    if not can_review(user, video):
        raise PermissionDenied("Only the video's owner or a reviewer can do this.")
