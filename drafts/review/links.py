"""Client links: making, extending and revoking them, opening them, and logging their views.

A link shares one thing of its owner's (a completed job, a ready cut, a storyboard) with
someone who has no account. Only the token's SHA-256 is stored; the token is shown to the
owner once, when the link is made. An unknown token is Http404 and a revoked or expired
link LinkGone: the client pages answer both with the same blank page (404, 410).
"""

import ipaddress
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from jobs.models import Notice, VideoCreationJob
from jobs.webhooks.models import Event
from jobs.webhooks.services import event_fire, iso
from jobs.webhooks.services import link as absolute
from videostudio.auth import client_address

from ..storyboards import access as board_access
from ..storyboards.models import Cut, Storyboard
from . import access
from .models import ClientLink, ClientLinkView, hash_token, new_token
from .services import video_title, video_url

MIN_DAYS, MAX_DAYS = 1, 90
LABEL_MAX_LENGTH = 200
PASSWORD_MAX_LENGTH = 200
# The longest token this module makes is 43 characters; longer ones are not looked up.
TOKEN_MAX_LENGTH = 100
STORYBOARD = "storyboard"


class LinkGone(Exception):
    """The link was revoked or has expired: it opens nothing."""


def kind_of(target) -> str:
    return STORYBOARD if isinstance(target, Storyboard) else access.kind_of(target)


def key_of(target) -> str:
    """Return "job:<id>", "cut:<id>" or "storyboard:<id>", how the link form names a target."""
    return f"{kind_of(target)}:{target.pk}"


def owner_id_of(target):
    return target.owner_id if isinstance(target, Storyboard) else access.owner_id_of(target)


def target_title(target) -> str:
    if isinstance(target, Storyboard):
        return f"the storyboard {target.name}"
    return video_title(target)


def target_url(target) -> str:
    """Return the studio page of what a link shares (its owner's, not the client's)."""
    if isinstance(target, Storyboard):
        return target.get_absolute_url()
    return video_url(target)


def target_for(user, key):
    """Return what the "kind:id" key names if user may see it (404) and owns it (403)."""
    kind, _, pk = (key or "").partition(":")
    if kind not in (*access.KINDS, STORYBOARD) or not pk:
        raise ValidationError("Choose what the link shares: a video, a cut or a storyboard.")
    if kind == STORYBOARD:
        target = board_access.get_storyboard_for_user(user, pk)
    else:
        target = access.get_video_for_user(user, kind, pk)
    if owner_id_of(target) != user.pk:
        raise PermissionDenied("Only its owner can share this with a client.")
    return target


def parse_days(days) -> int:
    try:
        days = int(str(days).strip())
    except (TypeError, ValueError):
        raise ValidationError(
            f"A link lasts a whole number of days, {MIN_DAYS} to {MAX_DAYS}."
        ) from None
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValidationError(f"A link lasts {MIN_DAYS} to {MAX_DAYS} days.")
    return days


def _check_target(owner, target):
    if owner_id_of(target) != owner.pk:
        raise PermissionDenied("Only its owner can share this with a client.")
    if isinstance(target, VideoCreationJob) and (
        target.status != VideoCreationJob.Status.COMPLETED or not target.video_url
    ):
        raise ValidationError("Only a completed video can be shared.")
    if isinstance(target, Cut) and target.status != Cut.Status.READY:
        raise ValidationError("Only a ready cut can be shared.")


def link_create(*, owner, target, days, password="", guests_may_comment=False, label=""):
    """Make a link to target of owner's; return (link, token). The token is not stored."""
    _check_target(owner, target)
    days = parse_days(days)
    label = (label or "").strip()
    if len(label) > LABEL_MAX_LENGTH:
        raise ValidationError(f"A label has at most {LABEL_MAX_LENGTH} characters.")
    password = password or ""
    if len(password) > PASSWORD_MAX_LENGTH:
        raise ValidationError(f"A password has at most {PASSWORD_MAX_LENGTH} characters.")
    if "\x00" in label or "\x00" in password:
        raise ValidationError("A label or password cannot hold a NUL character.")
    token = new_token()
    link = ClientLink.objects.create(
        owner=owner,
        **{kind_of(target): target},
        label=label,
        token_hash=hash_token(token),
        token_hint=token[-4:],
        password=make_password(password) if password else "",
        guests_may_comment=bool(guests_may_comment),
        expires_at=timezone.now() + timedelta(days=days),
    )
    return link, token


def link_extend(*, link, days) -> ClientLink:
    """Give the link `days` more, from its expiry or, if it has passed, from now."""
    days = parse_days(days)
    if link.revoked_at is not None:
        raise ValidationError("A revoked link stays revoked; make a new one.")
    link.expires_at = max(link.expires_at, timezone.now()) + timedelta(days=days)
    link.save(update_fields=["expires_at"])
    return link


def link_revoke(*, link) -> ClientLink:
    """Close the link for good (revoking twice keeps the first time)."""
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
    return link


def link_for_token(raw) -> ClientLink:
    """Return the open link of this token; Http404 if there is none, LinkGone if closed."""
    if not raw or len(raw) > TOKEN_MAX_LENGTH:
        raise Http404("No such link.")
    related = ("owner", "job", "cut__storyboard", "storyboard")
    link = ClientLink.objects.select_related(*related).filter(token_hash=hash_token(raw)).first()
    if link is None:
        raise Http404("No such link.")
    if not link.is_open():
        raise LinkGone
    return link


def password_matches(link, password) -> bool:
    return bool(link.password) and check_password(password or "", link.password)


def shared_videos(link) -> list:
    """Return the videos the link shares, in the order the client sees them.

    A job or a cut is itself; a storyboard is its shots' picked takes in order (those
    finished with a file), then its latest ready cut if it has one.
    """
    target = link.target
    if isinstance(target, Storyboard):
        videos = []
        shots = target.shots.select_related("picked__job").order_by("position", "created_at")
        for shot in shots:
            job = shot.picked.job if shot.picked_id else None
            if job and job.status == VideoCreationJob.Status.COMPLETED and job.video_url:
                job.shot = shot
                videos.append(job)
        cut = target.cuts.filter(status=Cut.Status.READY).order_by("-created_at").first()
        if cut is not None:
            cut.storyboard = target
            videos.append(cut)
        return videos
    if isinstance(target, Cut):
        return [target] if target.status == Cut.Status.READY else []
    if target.status == VideoCreationJob.Status.COMPLETED and target.video_url:
        return [target]
    return []


def shared_video(link, kind, pk):
    """Return the video of kind and pk if the link shares it; Http404 otherwise."""
    for video in shared_videos(link):
        if access.kind_of(video) == kind and str(video.pk) == str(pk):
            return video
    raise Http404("This link does not share that video.")


def _address(request):
    address = client_address(request)
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def view_log(link, request, played) -> ClientLinkView:
    """Log one request through the link; the first ever tells its owner, once.

    Two first views at once both log, but only the one whose conditional update finds
    first_viewed_at still empty fires client_link.viewed and leaves the notice.
    """
    now = timezone.now()
    with transaction.atomic():
        view = ClientLinkView.objects.create(
            link=link, at=now, address=_address(request), played=played[:80]
        )
        if link.first_viewed_at is None:
            first = ClientLink.objects.filter(pk=link.pk, first_viewed_at__isnull=True).update(
                first_viewed_at=now
            )
            link.first_viewed_at = link.first_viewed_at or now
            if first:
                _announce_first_view(link, view)
    return view


def link_name(link) -> str:
    return link.label or f"…{link.token_hint}"


def _announce_first_view(link, view):
    target = link.target
    summary = f"A client opened your link {link_name(link)} to {target_title(target)}"
    url = reverse("links:list")
    Notice.objects.create(recipient_id=link.owner_id, text=summary[:300], url=url)
    event_fire(
        event=Event.CLIENT_LINK_VIEWED,
        key=f"client_link.viewed:{link.pk}",
        owner_id=link.owner_id,
        data={
            "link": {
                "id": link.pk,
                "label": link.label,
                "hint": link.token_hint,
                "expiresAt": iso(link.expires_at),
            },
            # What the link shares: a job's video, a cut, or a storyboard (kind says).
            "video": {
                "kind": kind_of(target),
                "id": target.pk,
                "title": target_title(target),
                "url": absolute(target_url(target)),
            },
            "address": view.address,
            "at": iso(view.at),
            "played": view.played,
            "url": absolute(url),
            "summary": summary,
        },
    )
