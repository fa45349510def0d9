"""The studio's authentication backend: Django's ModelBackend, able to reuse a user row.

A polled partial is the studio's most frequent request: every open job polls every two
seconds. Its view reads the job together with its owner in one query; when that owner is
the session's user, `session_user_from(row)` lets `django.contrib.auth.get_user` take the
row instead of reading the user again, so the poll costs the session and that one query.
Everything else about the session (the auth hash, its fallbacks, an inactive user, a
flushed session) is still checked by Django's own `get_user`.
"""

from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.auth.backends import ModelBackend

_loaded_user = ContextVar("loaded_user", default=None)


class StudioBackend(ModelBackend):
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
