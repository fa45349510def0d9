"""The studio's authentication backend: Django's ModelBackend, able to reuse a user row.

A job page's poll is the studio's most frequent request: every open job page polls
every two seconds while its job runs (list pages poll once for all their cards). Its view
reads the job together with its owner in one query; when that owner is the session's
user, `session_user_from(row)` lets `django.contrib.auth.get_user` take the row instead
of reading the user again, so the poll costs the session and that one query.
Everything else about the session (the auth hash, its fallbacks, an inactive user, a
flushed session) is still checked by Django's own `get_user`.

A login as a username that many addresses together have failed for waits a while before
its password is checked: django-axes locks only a (username, address) pair, so this is
what slows a guesser who spreads over many addresses, without locking the owner out.
The address axes counts is `client_address`: X-Forwarded-For as the trusted proxy set it.
"""

import logging
import time
from contextlib import contextmanager
from contextvars import ContextVar

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db.models import Sum
from django.utils import timezone
from ipware.ip import get_client_ip

log = logging.getLogger(__name__)

_loaded_user = ContextVar("loaded_user", default=None)


class StudioBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        failures = _recent_failures(request, username) if username and request else 0
        if failures >= settings.LOGIN_USERNAME_SLOWDOWN_AFTER:
            log.warning("Slowing down a login: %d recent failures for its username.", failures)
            time.sleep(settings.LOGIN_SLOWDOWN_SECONDS)
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id):
        user = _loaded_user.get()
        if user is None or str(user.pk) != str(user_id):
            return super().get_user(user_id)
        return user if self.user_can_authenticate(user) else None


@contextmanager
def session_user_from(user):
    """Within this block, a session whose user is `user` takes that row without a query."""
    token = _loaded_user.set(user)
    try:
        yield
    finally:
        _loaded_user.reset(token)


def _recent_failures(request, username):
    """Return the failed logins as username from every address within the cool-off."""
    attempts = AccessAttempt.objects.filter(username=username)
    if (cool_off := get_cool_off(request)) is not None:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0


def client_address(request):
    """Return the client's address: from X-Forwarded-For only when a trusted proxy sent it.

    django-ipware counts only the proxies listed in the header, not the one that is the
    peer; non-strict, it takes that entry even when a client prepended forged ones.
    """
    peer = request.META.get("REMOTE_ADDR")
    if not settings.TRUSTED_PROXY_COUNT or peer not in settings.TRUSTED_PROXY_ADDRESSES:
        return peer
    address, _routable = get_client_ip(
        request,
        proxy_count=settings.TRUSTED_PROXY_COUNT - 1,
        request_header_order=["HTTP_X_FORWARDED_FOR"],
        strict=False,
    )
    return address or peer
