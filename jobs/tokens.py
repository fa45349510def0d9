"""Personal API tokens: made, checked and revoked here, stored only as a SHA-256.

A token is `vs_` followed by 43 URL-safe characters (256 random bits). Its SHA-256 is
enough to look it up: the token is random, so there is nothing to salt or stretch.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from .models import ApiToken

TOKEN_PREFIX = "vs_"  # noqa: S105 (a marker, not a secret)
# Characters kept in clear, for telling tokens apart: "vs_" and 7 of the 43 random ones.
DISPLAY_CHARS = 10
# Anything longer is not one of ours; refuse it before hashing or querying.
MAX_TOKEN_CHARS = 100
# last_used_at is written at most this often per token, to spare a write per request.
TOUCH_INTERVAL = timedelta(minutes=1)


def token_hash(raw) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(*, user, name) -> tuple[ApiToken, str]:
    """Make a token for user; return it with the raw value, which is never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user, name=name.strip(), token_hash=token_hash(raw), prefix=raw[:DISPLAY_CHARS]
    )
    token.full_clean(exclude=["user", "token_hash"])
    token.save(force_insert=True)
    return token, raw


def token_revoke(*, token) -> bool:
    """Revoke the token from now on; return whether this call revoked it."""
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    return revoked == 1


def token_authenticate(raw):
    """Return the active user this unrevoked token belongs to, or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > MAX_TOKEN_CHARS:
        return None
    token = (
        ApiToken.objects.active().select_related("user").filter(token_hash=token_hash(raw)).first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - TOUCH_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOUCH_INTERVAL)
        ).update(last_used_at=now)
    return token.user
