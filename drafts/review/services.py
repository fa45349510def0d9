"""Review's operations: states, ratings, favourites, comments and mentions, and what they tell.

Pages and client links call these; each checks what it is given and raises
ValidationError with a sentence a person understands, changing nothing. Who may call
them is the callers' question (drafts.review.access), except where the rule depends on
the row itself (who may resolve a comment, who may move a review state).
"""

import logging
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Avg, Count
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from jobs.models import Notice, ReviewState, VideoCreationJob
from jobs.webhooks.models import Event
from jobs.webhooks.services import event_fire, iso, link

from ..storyboards.models import Cut
from . import access
from .models import (
    COMMENT_MAX_LENGTH,
    GUEST_NAME_MAX_LENGTH,
    Comment,
    Favourite,
    Mention,
    Rating,
    ReviewChange,
)

logger = logging.getLogger(__name__)

# Who may move a video from one state to another: "owner" (its owner or a reviewer) or
# "team" (anyone who sees it). Asking for changes is feedback, the team's to give;
# approving, and asking for review, are the owner's or a reviewer's.
MOVES = {
    (ReviewState.DRAFT, ReviewState.IN_REVIEW): "owner",
    (ReviewState.CHANGES_REQUESTED, ReviewState.IN_REVIEW): "owner",
    (ReviewState.APPROVED, ReviewState.IN_REVIEW): "owner",
    (ReviewState.IN_REVIEW, ReviewState.APPROVED): "owner",
    (ReviewState.CHANGES_REQUESTED, ReviewState.APPROVED): "owner",
    (ReviewState.IN_REVIEW, ReviewState.CHANGES_REQUESTED): "team",
    (ReviewState.APPROVED, ReviewState.CHANGES_REQUESTED): "owner",
    (ReviewState.IN_REVIEW, ReviewState.DRAFT): "owner",
    (ReviewState.CHANGES_REQUESTED, ReviewState.DRAFT): "owner",
}

# A guest may post this many comments through one link in a minute, and in an hour.
GUEST_COMMENTS_PER_MINUTE = 5
GUEST_COMMENTS_PER_HOUR = 30

# The latest moment a comment can be pinned to: Comment.at_seconds' 8 digits, 3 decimals.
LONGEST_MOMENT = Decimal("99999.999")

MENTION = re.compile(r"(?<![\w@])@([\w.+-]+)")


def _rows(model, video):
    """Return the rows of `model` about video."""
    return model.objects.filter(**{access.kind_of(video): video})


def _of(video) -> dict:
    return {access.kind_of(video): video}


def video_duration(video) -> float | None:
    """Return the video's length in seconds, or None when it is not known."""
    if isinstance(video, Cut):
        return video.duration_seconds
    measured = ((video.metadata or {}).get("video") or {}).get("duration_seconds")
    if measured:
        return float(measured)
    seconds = (video.options or {}).get("duration_seconds")
    return float(seconds) if seconds else None


def video_title(video) -> str:
    if isinstance(video, Cut):
        return f"the cut of {video.storyboard.name}"
    text = video.prompt_text
    return f"“{text[:60]}…”" if len(text) > 60 else f"“{text}”"


def video_url(video) -> str:
    """Return the studio page where the video is reviewed."""
    return reverse("review:video", args=[access.kind_of(video), video.pk])


def video_data(video) -> dict:
    """Describe the video in a webhook payload."""
    return {
        "kind": access.kind_of(video),
        "id": video.pk,
        "title": video_title(video),
        "reviewState": video.review_state,
        "url": link(video_url(video)),
    }


def _tell(recipient_id, text, url, *, actor=None):
    """Leave a notice for recipient, unless they did it themselves."""
    if recipient_id is None or (actor is not None and actor.pk == recipient_id):
        return
    Notice.objects.create(recipient_id=recipient_id, text=text[:300], url=url)


# --- Review states --------------------------------------------------------------------


def review_move(*, video, to_state, by) -> ReviewChange:
    """Move the video to `to_state` if `by` may, record who and when, and tell its owner."""
    try:
        to_state = ReviewState(to_state)
    except ValueError:
        raise ValidationError("That is not a review state.") from None
    from_state = ReviewState(video.review_state)
    who = MOVES.get((from_state, to_state))
    if who is None:
        raise ValidationError(
            f"A video {from_state.label.lower()} cannot be marked "
            f"“{to_state.label.lower()}”; reload to see where it stands."
        )
    if who == "owner" and not access.can_review(by, video):
        raise PermissionDenied("Only the video's owner or a reviewer can do this.")
    model = type(video)
    with transaction.atomic():
        # The state it was read in: a change someone made meanwhile is not overwritten.
        # updated_at moves, as with every write: the pages' pollers see the new badge.
        moved = model.objects.filter(pk=video.pk, review_state=from_state).update(
            review_state=to_state, updated_at=timezone.now()
        )
        if not moved:
            raise ValidationError("Someone changed this video's review meanwhile; reload.")
        video.review_state = to_state
        change = ReviewChange.objects.create(state=to_state, by=by, **_of(video))
        text = f"{by.get_username()} marked {video_title(video)} {to_state.label.lower()}"
        _tell(access.owner_id_of(video), text, video_url(video), actor=by)
        event_fire(
            event=Event.REVIEW_CHANGED,
            key=f"review:{change.pk}",
            owner_id=access.owner_id_of(video),
            data={
                "video": video_data(video),
                "from": from_state,
                "to": to_state,
                "by": by.get_username(),
                "at": iso(change.at),
                "summary": text,
            },
        )
    return change


def review_history(video):
    return _rows(ReviewChange, video).select_related("by")


# --- Ratings and favourites -----------------------------------------------------------


def rating_set(*, video, person, stars) -> Rating | None:
    """Set person's stars (1 to 5) for the video; empty or "0"... is refused, None clears."""
    if stars in (None, ""):
        _rows(Rating, video).filter(person=person).delete()
        return None
    try:
        stars = int(stars)
    except (TypeError, ValueError):
        raise ValidationError("A rating is one to five stars.") from None
    if not 1 <= stars <= 5:
        raise ValidationError("A rating is one to five stars.")
    rating, _ = Rating.objects.update_or_create(
        person=person, **_of(video), defaults={"stars": stars, "updated_at": timezone.now()}
    )
    return rating


def rating_summary(video, person=None) -> dict:
    """Return the video's average stars, how many rated it, and person's own stars."""
    figures = _rows(Rating, video).aggregate(average=Avg("stars"), count=Count("pk"))
    mine = None
    if person is not None and person.is_authenticated:
        mine = _rows(Rating, video).filter(person=person).values_list("stars", flat=True).first()
    average = figures["average"]
    return {
        "average": round(float(average), 1) if average is not None else None,
        "count": figures["count"],
        "mine": mine,
    }


def favourite_set(*, video, person, on: bool) -> bool:
    """Mark or unmark the video as one of person's favourites; return whether it is one."""
    if on:
        Favourite.objects.get_or_create(person=person, **_of(video))
    else:
        _rows(Favourite, video).filter(person=person).delete()
    return on


def is_favourite(video, person) -> bool:
    return _rows(Favourite, video).filter(person=person).exists()


# --- Comments -------------------------------------------------------------------------


def parse_moment(value, video) -> Decimal | None:
    """Read a comment's moment in seconds ("", None: the whole video), within the video."""
    if value in (None, ""):
        return None
    try:
        seconds = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError("The moment must be a number of seconds.") from None
    if not seconds.is_finite() or seconds < 0:
        raise ValidationError("The moment must be a number of seconds from the start.")
    # What the column holds (8 digits, 3 after the point), for a video of unknown length.
    if seconds > LONGEST_MOMENT:
        raise ValidationError("That moment is past the end of any video.")
    duration = video_duration(video)
    # A player's current time at the very end may be a few milliseconds past it.
    if duration is not None and seconds > Decimal(str(duration)) + Decimal("0.05"):
        raise ValidationError(f"That moment is past the video's end ({format_moment(duration)}).")
    return seconds.quantize(Decimal("0.001"))


def format_moment(seconds) -> str:
    """Write seconds as a player shows them: 0:03, 1:02:05."""
    total = int(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def _clean_text(text) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError("Write something to comment.")
    if len(text) > COMMENT_MAX_LENGTH:
        raise ValidationError(f"A comment has at most {COMMENT_MAX_LENGTH} characters.")
    if "\x00" in text:
        raise ValidationError("A comment cannot hold a NUL character.")
    return text


def _guest_flood(link) -> bool:
    now = timezone.now()
    recent = Comment.objects.filter(link=link, created_at__gte=now - timedelta(hours=1))
    return (
        recent.count() >= GUEST_COMMENTS_PER_HOUR
        or recent.filter(created_at__gte=now - timedelta(minutes=1)).count()
        >= GUEST_COMMENTS_PER_MINUTE
    )


def comment_add(
    *, video, text, author=None, guest_name="", link=None, at_seconds=None, parent=None
) -> Comment:
    """Add a comment (by a person, or by a guest through a link) and tell who it concerns.

    A reply takes its thread's moment and joins the thread's first comment. Mentions of
    teammates who may see the video are each told once: a notice, an email if they have
    an address, and a comment.mentioned webhook.
    """
    text = _clean_text(text)
    if author is None:
        guest_name = (guest_name or "").strip()
        if not guest_name or link is None:
            raise ValidationError("Say who you are: a guest comments under a name.")
        if len(guest_name) > GUEST_NAME_MAX_LENGTH:
            raise ValidationError(f"A name has at most {GUEST_NAME_MAX_LENGTH} characters.")
        if _guest_flood(link):
            raise ValidationError("Too many comments through this link; wait a minute.")
    if parent is not None:
        if getattr(parent, access.kind_of(video) + "_id") != video.pk:
            raise ValidationError("That reply is to a comment on another video.")
        parent = parent.parent or parent
        at_seconds = parent.at_seconds
    else:
        at_seconds = parse_moment(at_seconds, video)
    with transaction.atomic():
        comment = Comment.objects.create(
            author=author,
            guest_name="" if author else guest_name,
            link=link,
            parent=parent,
            at_seconds=at_seconds,
            text=text,
            **_of(video),
        )
        _announce(comment, video)
    return comment


def comment_data(comment, video) -> dict:
    return {
        "id": comment.pk,
        "video": video_data(video),
        "by": comment.by_name,
        "guest": comment.is_guest,
        "atSeconds": float(comment.at_seconds) if comment.at_seconds is not None else None,
        "text": comment.text,
        "replyTo": comment.parent_id,
        "createdAt": iso(comment.created_at),
    }


def _announce(comment, video):
    owner_id = access.owner_id_of(video)
    where = f" at {format_moment(comment.at_seconds)}" if comment.at_seconds is not None else ""
    who = comment.by_name + (" (guest)" if comment.is_guest else "")
    summary = f"{who} commented on {video_title(video)}{where}"
    url = f"{video_url(video)}#comment-{comment.pk}"
    data = comment_data(comment, video)
    _tell(owner_id, summary, url, actor=comment.author)
    if comment.parent_id and comment.parent.author_id not in (owner_id, comment.author_id):
        _tell(comment.parent.author_id, f"{who} replied to you{where}", url)
    event_fire(
        event=Event.COMMENT_CREATED,
        key=f"comment:{comment.pk}",
        owner_id=owner_id,
        data={**data, "summary": summary},
    )
    for person in _mentioned(comment.text, video):
        if person.pk == comment.author_id:
            continue
        Mention.objects.create(comment=comment, person=person)
        text = f"{who} mentioned you on {video_title(video)}{where}"
        Notice.objects.create(recipient=person, text=text[:300], url=url)
        event_fire(
            event=Event.COMMENT_MENTIONED,
            key=f"mention:{comment.pk}:{person.pk}",
            owner_id=person.pk,
            data={**data, "mentioned": person.get_username(), "summary": text},
        )
        if person.email:
            transaction.on_commit(
                partial(async_task, "drafts.tasks.email_mention", comment.pk, person.pk)
            )


def _mentioned(text, video):
    """Return the people `@name`s in text point at who may see the video."""
    names = {name.rstrip(".") for name in MENTION.findall(text)}
    if not names:
        return []
    people = get_user_model().objects.filter(username__in=names, is_active=True)
    return [person for person in people if _sees(person, video)]


def _sees(person, video) -> bool:
    if isinstance(video, Cut):
        return access.visible_cuts(person).filter(pk=video.pk).exists()
    return VideoCreationJob.objects.visible_to(person).filter(pk=video.pk).exists()


def mention_email(comment_id, person_id) -> bool:
    """Email a mentioned person the comment; a lost email is logged, nothing more."""
    comment = Comment.objects.select_related("author", "job", "cut__storyboard").get(pk=comment_id)
    person = get_user_model().objects.get(pk=person_id)
    video = comment.video
    where = f" at {format_moment(comment.at_seconds)}" if comment.at_seconds is not None else ""
    try:
        send_mail(
            subject=f"{comment.by_name} mentioned you on {video_title(video)}",
            message=(
                f"{comment.by_name} wrote{where}:\n\n{comment.text}\n\n"
                f"{settings.STUDIO_URL}{video_url(video)}#comment-{comment.pk}\n"
            ),
            from_email=None,
            recipient_list=[person.email],
        )
    except OSError:
        logger.exception("Could not email %s about comment %s", person.email, comment.pk)
        return False
    return True


def comments_of(video):
    """Return the video's threads: first comments in time order, each with its replies."""
    rows = list(_rows(Comment, video).select_related("author").order_by("created_at", "pk"))
    threads, by_id = [], {}
    for comment in rows:
        comment.thread = []
        by_id[comment.pk] = comment
        if comment.parent_id is None:
            threads.append(comment)
    for comment in rows:
        if comment.parent_id in by_id:
            by_id[comment.parent_id].thread.append(comment)
    # Pinned ones in the video's order, then those on the whole video.
    threads.sort(key=lambda c: (c.at_seconds is None, c.at_seconds or 0, c.created_at))
    return threads


def can_resolve(user, comment, video) -> bool:
    return access.can_review(user, video) or (
        user.is_authenticated and comment.author_id == user.pk
    )


def comment_resolve(*, comment, video, by, resolved=True) -> Comment:
    """Resolve (or reopen) a thread: its author, the video's owner or a reviewer may."""
    if not can_resolve(by, comment, video):
        raise PermissionDenied("Only the comment's author, the owner or a reviewer can do this.")
    if comment.parent_id:
        raise ValidationError("Resolve the thread from its first comment.")
    comment.resolved_at = timezone.now() if resolved else None
    comment.resolved_by = by if resolved else None
    comment.save(update_fields=["resolved_at", "resolved_by"])
    return comment
