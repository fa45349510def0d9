"""Sessions: in the database without Redis; read from Redis and kept in the database with it.

The suite runs on both (pass 1 without Redis, pass 2 with REDIS_URL), so the logout and
page tests here prove each engine in its own pass; the ones below build the Redis case on
purpose.
"""

from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, settings_read

ROOT = Path(__file__).resolve().parent.parent
# A loopback port nothing listens on: a Redis that is down.
DOWN = "redis://127.0.0.1:9/0"


def session_settings(**env):
    """Return the session engine, its cache alias and that cache's backend, as settings read env."""
    return settings_read(
        {"DEBUG": "true", "DATABASE_URL": "sqlite:///:memory:", **env},
        "s.SESSION_ENGINE",
        "s.SESSION_CACHE_ALIAS",
        "s.CACHES.get(s.SESSION_CACHE_ALIAS, {}).get('BACKEND')",
    )


def test_sessions_are_in_the_database_without_redis_and_read_from_redis_with_it():
    assert session_settings() == [
        "django.contrib.sessions.backends.db",
        "default",
        "django.core.cache.backends.locmem.LocMemCache",
    ]
    assert session_settings(REDIS_URL="redis://127.0.0.1:6379/3") == [
        "videostudio.sessions",
        "sessions",
        "videostudio.cache.RedisCache",
    ]


def log_in(user):
    client = Client()
    response = client.post(
        reverse("login"), {"username": user.get_username(), "password": PASSWORD}
    )
    assert response.status_code == 302
    return client


def test_logging_out_revokes_the_cookie_everywhere(user):
    client = log_in(user)
    cookie = client.cookies["sessionid"].value
    assert client.get(reverse("jobs:index")).status_code == 200
    assert client.post(reverse("logout")).status_code in (200, 302)
    replayed = Client()
    replayed.cookies["sessionid"] = cookie
    response = replayed.get(reverse("jobs:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Session.objects.filter(session_key=cookie).exists()


@pytest.fixture
def redis_sessions(settings):
    """Sessions read from a Redis that is down: the engine REDIS_URL gives, with Redis gone."""
    settings.CACHES = {
        **settings.CACHES,
        "sessions": {
            "BACKEND": "videostudio.cache.RedisCache",
            "LOCATION": DOWN,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    settings.SESSION_ENGINE = "videostudio.sessions"
    settings.SESSION_CACHE_ALIAS = "sessions"


def test_a_session_is_read_from_the_database_while_redis_is_down(redis_sessions, user):
    client = log_in(user)
    assert Session.objects.filter(session_key=client.cookies["sessionid"].value).exists()
    page = client.get(reverse("jobs:index"))
    assert page.status_code == 200
    assert user.get_username() in page.content.decode()


def test_the_session_cache_makes_one_redis_client_per_pool_not_one_per_call():
    from videostudio.cache import RedisCache

    cache = RedisCache(DOWN, {})
    reader = cache._cache.get_client("a")
    assert cache._cache.get_client("b") is reader
    assert cache._cache.get_client("a", write=True) is cache._cache.get_client("c", write=True)
