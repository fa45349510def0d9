"""The review page of one video: its player, state, stars, favourite and comments.

Every write looks the video up for the viewer first (a video they may not see is a 404,
like one that does not exist), then calls drafts.review.services. A sentence the service
refuses with re-renders the page with it (400), what the person typed kept; a move only
the owner or a reviewer may make is a 403. Success goes back to the page.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from jobs import storage
from jobs.models import ReviewState

from ..storyboards.models import Cut
from . import access, services
from .models import COMMENT_MAX_LENGTH, Comment

# What the button that moves a video to each state says.
MOVE_LABELS = {
    ReviewState.IN_REVIEW: "Ask for review",
    ReviewState.APPROVED: "Approve",
    ReviewState.CHANGES_REQUESTED: "Request changes",
    ReviewState.DRAFT: "Back to draft",
}


def _sources(video) -> tuple[str, str | None]:
    """Return the URLs of the video's file and of its poster (None when it has none)."""
    if isinstance(video, Cut):
        args = [video.storyboard_id, video.pk]
        return reverse("storyboards:cut-video", args=args), reverse(
            "storyboards:cut-poster", args=args
        )
    poster = (video.metadata or {}).get("poster_url")
    if not poster:
        poster = (
            video.resources.filter(filename=storage.POSTER_NAME).values_list("url", flat=True)
        ).first()
    return reverse("jobs:video", args=[video.pk]), poster or None


def moves_for(user, video) -> list[dict]:
    """Return the moves from the video's state that user may make, as buttons to show."""
    reviews = access.can_review(user, video)
    return [
        {"state": to_state, "label": MOVE_LABELS[to_state]}
        for (from_state, to_state), who in services.MOVES.items()
        if from_state == video.review_state and (who == "team" or reviews)
    ]


def _render(request, video, *, error=None, sent=None, status=200):
    """Render the review page; `sent` is the comment form as posted, to show it again."""
    kind = access.kind_of(video)
    src, poster = _sources(video)
    threads = services.comments_of(video)
    for thread in threads:
        thread.resolvable = services.can_resolve(request.user, thread, video)
        if thread.at_seconds is not None:
            # Where the player seeks to (the data attribute is read by review.js).
            thread.seek = str(thread.at_seconds)
            thread.moment = services.format_moment(thread.at_seconds)
    context = {
        "video": video,
        "kind": kind,
        "title": services.video_title(video),
        "src": src,
        "poster": poster,
        "duration": services.video_duration(video),
        "back": video.get_absolute_url(),
        "history": services.review_history(video),
        "moves": moves_for(request.user, video),
        # Only what one owns goes to a client (drafts.review.links).
        "owns": access.owner_id_of(video) == request.user.pk,
        "rating": services.rating_summary(video, request.user),
        "stars": range(1, 6),
        "favourite": services.is_favourite(video, request.user),
        "threads": threads,
        "error": error,
        "sent": sent or {},
        "comment_max_length": COMMENT_MAX_LENGTH,
    }
    return render(request, "review/video.html", context, status=status)


def _sentence(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _back(video, anchor=""):
    return redirect(services.video_url(video) + anchor)


@require_GET
def video(request, kind, pk):
    return _render(request, access.get_video_for_user(request.user, kind, pk))


@require_POST
def state(request, kind, pk):
    video = access.get_video_for_user(request.user, kind, pk)
    try:
        change = services.review_move(
            video=video, to_state=request.POST.get("state"), by=request.user
        )
    except ValidationError as exc:
        return _render(request, video, error=_sentence(exc), status=400)
    messages.success(request, f"Marked {change.get_state_display().lower()}.")
    return _back(video)


@require_POST
def rate(request, kind, pk):
    video = access.get_video_for_user(request.user, kind, pk)
    try:
        rating = services.rating_set(
            video=video, person=request.user, stars=request.POST.get("stars")
        )
    except ValidationError as exc:
        return _render(request, video, error=_sentence(exc), status=400)
    if rating is None:
        messages.success(request, "Cleared your stars.")
    else:
        messages.success(request, f"You gave it {rating.stars} of 5 stars.")
    return _back(video, "#rating")


@require_POST
def favourite(request, kind, pk):
    video = access.get_video_for_user(request.user, kind, pk)
    on = request.POST.get("on")
    if on not in ("0", "1"):
        return _render(
            request, video, error="Say whether it is a favourite: on is 1 or 0.", status=400
        )
    services.favourite_set(video=video, person=request.user, on=on == "1")
    return _back(video, "#favourite")


def _comment_of(video, comment_id) -> Comment:
    """Return the video's comment with this id; one of another video is a 404."""
    try:
        comment_id = int(comment_id)
    except (TypeError, ValueError):
        raise Http404("No such comment.") from None
    comment = (
        Comment.objects.filter(pk=comment_id, **{access.kind_of(video): video})
        .select_related("author")
        .first()
    )
    if comment is None:
        raise Http404("No such comment.")
    return comment


@require_POST
def comment(request, kind, pk):
    video = access.get_video_for_user(request.user, kind, pk)
    parent_id = request.POST.get("parent") or None
    parent = _comment_of(video, parent_id) if parent_id else None
    whole = request.POST.get("whole") == "1"
    at_seconds = "" if whole else request.POST.get("at_seconds", "")
    sent = {
        "text": request.POST.get("text", ""),
        "at_seconds": request.POST.get("at_seconds", ""),
        "whole": whole,
        "parent": parent.pk if parent else None,
    }
    try:
        made = services.comment_add(
            video=video,
            text=sent["text"],
            author=request.user,
            at_seconds=at_seconds,
            parent=parent,
        )
    except ValidationError as exc:
        return _render(request, video, error=_sentence(exc), sent=sent, status=400)
    return _back(video, f"#comment-{made.pk}")


@require_POST
def resolve(request, kind, pk, comment):
    video = access.get_video_for_user(request.user, kind, pk)
    thread = _comment_of(video, comment)
    reopen = request.POST.get("reopen") == "1"
    try:
        services.comment_resolve(comment=thread, video=video, by=request.user, resolved=not reopen)
    except ValidationError as exc:
        return _render(request, video, error=_sentence(exc), status=400)
    return _back(video, f"#comment-{thread.pk}")
