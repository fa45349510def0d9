"""Personal API tokens: made, checked and revoked here, stored only as a SHA-256.

A token is `vs_` followed by 43 URL-safe characters (256 random bits). Its SHA-256 is
enough to look it up: the token is random, so there is nothing to salt or stretch.

A token may expire, may be read-only (the API refuses it any unsafe method), and is
revoked with all its owner's others when the owner's password changes: whoever made a
password change to lock someone out expects the scripts that person made to stop too.
The raw token is kept out of error reports (`sensitive_variables`).
"""

import hashlib
import secrets
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from jobs.models import ApiToken

TOKEN_PREFIX = "vs_"  # noqa: S105 (a marker, not a secret)
# Characters kept in clear, for telling tokens apart: "vs_" and 7 of the 43 random ones.
DISPLAY_CHARS = 10
# Anything longer is not one of ours; refuse it before hashing or querying.
MAX_TOKEN_CHARS = 100
# last_used_at is written at most this often per token, to spare a write per request.
TOUCH_INTERVAL = timedelta(minutes=1)


@sensitive_variables("raw")
def token_hash(raw) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@sensitive_variables("raw")
def token_create(
    *, user, name, expires_at=None, scope=ApiToken.Scope.READ_WRITE
) -> tuple[ApiToken, str]:
    """Make a token for user; return it with the raw value, which is never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name.strip(),
        token_hash=token_hash(raw),
        prefix=raw[:DISPLAY_CHARS],
        expires_at=expires_at,
        scope=scope,
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


def tokens_revoke_all(*, user) -> int:
    """Revoke every token of user that is not revoked yet; return how many."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


@sensitive_variables("raw")
def token_lookup(raw):
    """Return the unrevoked, unexpired token of an active user, with its user; or None."""
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
    return token


@sensitive_variables("raw")
def token_authenticate(raw):
    """Return the active user this unrevoked, unexpired token belongs to, or None."""
    token = token_lookup(raw)
    return token.user if token else None


class RevokeApiTokensOnPasswordChange:
    """Revoke a person's API tokens when their password changes, however it is changed.

    Listed in AUTH_PASSWORD_VALIDATORS for Django's `password_changed` hook, which runs
    when a user saved after set_password() (the password change page, the admin,
    `changepassword`) but not when Django only rehashes the same password at login. It
    validates nothing.
    """

    def validate(self, password, user=None):
        return None

    def password_changed(self, password, user=None):
        if user is not None and user.pk is not None:
            tokens_revoke_all(user=user)

    def get_help_text(self):
        return "Changing your password revokes your API tokens."
