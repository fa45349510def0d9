"""Shared fixtures: a private data dir per test, users, a live Veo emulator."""

import time

import pytest
from django.core.cache import caches
from django_q.conf import Conf

from jobs.veo.emulator import Emulator

API_KEY = "test-key-not-secret"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Keep SQLite's test database in a file, so a real qcluster process can share it."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        path = tmp_path_factory.mktemp("db") / "test-videostudio.sqlite3"
        database.setdefault("TEST", {})["NAME"] = str(path)


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """Give every test its own data dir, so files never leak between tests."""
    path = tmp_path / "user-data"
    path.mkdir()
    settings.DATA_DIR = path
    settings.MEDIA_ROOT = path
    return path


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hash test users' passwords quickly; the studio tests log in through real hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_caches():
    """Start every test with empty caches: kept fragments must come from its own rows."""
    for cache in caches.all():
        cache.clear()


@pytest.fixture(autouse=True)
def sync_tasks(monkeypatch):
    """Run django-q2 tasks in-process; the real cluster runs in the end-to-end tests."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("ana", password="a-long-passphrase")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("bo", password="a-long-passphrase")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("cy", password="a-long-passphrase", is_staff=True)


@pytest.fixture
def manager(django_user_model):
    """Staff with the permissions to see everyone's jobs and drafts and change the drafts."""
    from django.contrib.auth.models import Permission

    person = django_user_model.objects.create_user(
        "di", password="a-long-passphrase", is_staff=True
    )
    codenames = ["view_all_jobs", "view_draft", "change_draft"]
    person.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return person


@pytest.fixture
def viewers(user, other_user, staff_user, manager):
    """The four kinds of viewer of ana's work, for tests of who may see what."""
    return {"owner": user, "other user": other_user, "staff alone": staff_user, "manager": manager}


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture(scope="session")
def emulator():
    server = Emulator(latency=0, api_key=API_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def veo(settings, emulator):
    """Point the studio's Gemini client at the emulator over real HTTP."""
    settings.VEO_API_BASE_URL = emulator.base_url
    settings.GEMINI_API_KEY = API_KEY
    settings.VEO_POLL_INTERVAL = 0.05
    return emulator


@pytest.fixture
def gemini(settings):
    """Point the client at Google's real address, for tests that fake it with responses."""
    settings.VEO_API_BASE_URL = "https://generativelanguage.googleapis.com"
    settings.GEMINI_API_KEY = API_KEY
    settings.VEO_POLL_INTERVAL = 0
    return settings.VEO_API_BASE_URL


JOB_OPTIONS = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 4}


def run_due_jobs(timeout=10):
    """Play the cluster's ticker in sync mode until no unfinished job has a step due.

    Each tick enqueues the jobs whose next step (a poll, a retry) is due, and django-q2's
    sync mode runs them in-process, as a worker would.
    """
    from jobs import services
    from jobs.models import VideoCreationJob

    give_up = time.monotonic() + timeout
    while VideoCreationJob.objects.active().filter(next_run_at__isnull=False).exists():
        assert time.monotonic() < give_up, "a job still had a step due after the timeout"
        services.jobs_enqueue_due()
        time.sleep(0.01)
