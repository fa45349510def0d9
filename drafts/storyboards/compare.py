"""Compare two to four takes of a shot side by side, with what differs between them."""

from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from jobs.compare import compare_videos
from jobs.models import VideoCreationJob

from . import services
from .access import can_work, get_shot, get_storyboard_for_user

MIN_TAKES, MAX_TAKES = 2, 4
# A take's id is a UUID's text; anything longer (or with a NUL, which PostgreSQL refuses
# in a query) cannot be one and is never sent to the database.
ID_MAX_CHARS = 36


@require_GET
def compare(request, pk, shot):
    """Show the chosen takes' players, played together, and what differs between them."""
    storyboard = get_storyboard_for_user(request.user, pk)
    shot = get_shot(storyboard, shot)
    context = {"storyboard": storyboard, "shot": shot}
    try:
        takes = _chosen_takes(shot, request.GET.getlist("takes"))
    except ValidationError as exc:
        context["problem"] = " ".join(exc.messages)
        return render(request, "storyboards/compare.html", context, status=400)
    context["comparison"] = compare_videos([_video(storyboard, take) for take in takes])
    context["takes"] = takes
    context["can_work"] = can_work(request.user, storyboard)
    return render(request, "storyboards/compare.html", context)


def _chosen_takes(shot, ids):
    """Return the shot's completed takes named by ids, in their order; raise a sentence if not."""
    ids = list(dict.fromkeys(i for i in ids if i))
    if len(ids) < MIN_TAKES:
        raise ValidationError("Choose two to four completed takes of this shot to compare.")
    if len(ids) > MAX_TAKES:
        raise ValidationError(f"Compare at most four takes at once; {len(ids)} were chosen.")
    wanted = [i for i in ids if len(i) <= ID_MAX_CHARS and "\x00" not in i]
    found = {take.pk: take for take in shot.takes.filter(pk__in=wanted).select_related("job")}
    if len(found) < len(ids):
        raise ValidationError(
            f"One of the chosen takes is not a take of shot {shot.position}; "
            "choose them from the shot's list of takes."
        )
    takes = [found[i] for i in ids]
    for take in takes:
        if take.job.status != VideoCreationJob.Status.COMPLETED or not take.job.video_url:
            raise ValidationError(
                f"Take {take.number} has no video yet: only completed takes can be compared."
            )
    return takes


def _video(storyboard, take) -> dict:
    """Return a take as the comparison's generic video."""
    job = take.job
    options = dict(job.options or {})
    seed = options.pop("seed", None)
    cost = job.actual_cost_usd if job.actual_cost_usd is not None else job.estimated_cost_usd
    return {
        "label": f"Take {take.number}",
        "video_url": reverse("storyboards:take-video", args=[storyboard.pk, take.pk]),
        "poster_url": reverse("storyboards:take-poster", args=[storyboard.pk, take.pk]),
        "prompt": job.prompt_text,
        "seed": seed,
        "model": job.model,
        "options": options,
        "cost": cost,
        "duration": services.take_duration(take),
    }
