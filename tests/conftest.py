"""Shared fixtures: a data dir per test, users, API and admin clients, a live Veo emulator.

The suite runs on pytest-xdist workers (addopts in pyproject.toml); each worker gets its own
database and Redis database, and a module sharing a module fixture stays on one worker.
"""

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _pytest.nodeid import coerce_node_id
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django_q.conf import Conf

from jobs import pipeline
from jobs.veo.emulator import Emulator
from jobs.veo.emulator.media import render_mp4
from tests.factories import MODEL, api_client, make_user

API_KEY = "test-key-not-secret"
# The suite runs jobs on a Veo preview over the emulator's predictLongRunning dialect:
# the built-in catalog marks the previews retired, so this override keeps them usable,
# and VEO_MODEL names one, in the test process (the fixture below) and in every studio,
# worker or command process a test starts (they inherit the environment).
LEGACY_CATALOG = str(Path(__file__).with_name("legacy_catalog.json"))
os.environ.setdefault("VEO_CATALOG_FILE", LEGACY_CATALOG)
os.environ.setdefault("VEO_MODEL", MODEL)
# A Gemini key or Vertex project in the developer's shell would point the studio at real
# Google (settings pick the provider from the credentials): the suite runs on the emulator.
os.environ.setdefault("VEO_PROVIDER", "emulator")


def own_redis_database():
    """Give this xdist worker its own Redis database: gw0 REDIS_URL's, gw1 the next, ...

    Workers sharing a database share django-q's queue, so one worker's cluster would run
    (and one's purge would drop) another's tasks. Settings were read before this module, so
    the broker's copy is changed as well as the environment the real clusters inherit.
    """
    worker, url = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("REDIS_URL", "")
    if not (url and worker.startswith("gw")):
        return
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0) + int(worker.removeprefix("gw"))
    assert number < 16, f"{worker} would need Redis database {number}; run fewer workers"
    url = parts._replace(path=f"/{number}").geturl()
    os.environ["REDIS_URL"] = django_settings.REDIS_URL = url
    django_settings.Q_CLUSTER["redis"] = Conf.REDIS = url
    if "sessions" in django_settings.CACHES:
        django_settings.CACHES["sessions"]["LOCATION"] = url


own_redis_database()


def shares_a_fixture(item):
    """Whether a test uses one of the project's fixtures kept for its whole module (or class)."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return any(
        fixture.scope in ("module", "package", "class") and fixture.baseid  # not a plugin's
        for fixtures in definitions.values()
        for fixture in fixtures
    )


def pytest_addoption(parser):
    parser.addoption(
        "--database-only",
        action="store_true",
        help="run only the tests that reach the database or start processes that do",
    )


def uses_the_test_database(item):
    """Whether a test reaches the test database, through a fixture or pytest-django's mark."""
    return item.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db", "live_server"} & set(item.fixturenames)
    )


def reaches_the_database(item):
    """Whether a test uses the database or starts real processes (which use it or their own).

    The tests left out (wire formats, the emulator, the SDK round trip, start-up checks on
    a fresh checkout) run the same on any database: CI's PostgreSQL pass skips them.
    """
    return uses_the_test_database(item) or item.get_closest_marker("processes") is not None


def is_transactional(item):
    marker = item.get_closest_marker("django_db")
    return bool(
        (marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
        or {"transactional_db", "live_server"} & set(item.fixturenames)
    )


def _serialized(item):
    marker = item.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("serialized_rollback"))


def place(item):
    """Where a test goes in the run: the long ones first, in pytest-django's order.

    A module sharing a running studio, or a test running real processes, takes a worker
    for up to minutes: handed out at the end it runs alone while the others are done. The
    ones using no test database go ahead of everything; those using it go first among the
    transactional tests, still after every test that rolls back (pytest-django's order,
    so no test meets a database another flushed).
    """
    long = shares_a_fixture(item) or any(
        item.get_closest_marker(name) for name in ("processes", "studio")
    )
    if not uses_the_test_database(item):
        return 0 if long else 4
    if not is_transactional(item):
        return 1
    return 2 if long else 3


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """Keep a module whose tests share a module fixture (a running studio) on one worker.

    Its tests lean on the ones before them (the usage page reads the first test's job, the
    last tests stop the studio), so they run in their order in one xdist group. Every other
    test is handed out one by one, long ones first (`place`). xdist 3.8 marks a group by a suffix
    on `item._nodeid`, which pytest 9 no longer reads (its node id is built from parts), so
    the suffix is set here on the parts. Workers collect with `loadgroup` set.

    With --database-only, the tests the database cannot change are deselected first.
    A transactional test that does not serialize is refused here, before anything runs:
    its plain flush re-creates the content types that the serialized tests restore, so
    the next of those (on the same worker, in whatever order) fails on a duplicate.
    """
    unserialized = [
        item.nodeid for item in items if is_transactional(item) and not _serialized(item)
    ]
    if unserialized:
        raise pytest.UsageError(
            "Mark these django_db(transaction=True, serialized_rollback=True): "
            + ", ".join(unserialized)
        )
    if config.getoption("database_only"):
        left_out = [item for item in items if not reaches_the_database(item)]
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if reaches_the_database(item)]
    groups = getattr(config.option, "loadgroup", False)
    if groups:
        for item in items:
            if shares_a_fixture(item):
                item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    yield
    if not groups:
        return
    items.sort(key=place)
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        if marker and "@" not in item.nodeid.rsplit("]", 1)[-1]:
            item._id = coerce_node_id(f"{item.nodeid}@{marker.args[0]}")


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
def legacy_models(settings):
    """Run the tests' jobs on MODEL, a Veo preview the test catalog keeps usable."""
    settings.VEO_CATALOG_FILE = LEGACY_CATALOG
    settings.VEO_MODEL = MODEL
    settings.VEO_PROVIDER = os.environ["VEO_PROVIDER"]


@pytest.fixture
def real_catalog(settings):
    """The built-in catalog as shipped, with the studio's default model."""
    settings.VEO_CATALOG_FILE = ""
    settings.VEO_MODEL = "gemini-omni-1.2-flash"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hash test users' passwords quickly; the studio tests log in through real hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_caches():
    """Start every test with empty caches: kept fragments must come from its own rows."""
    for cache in caches.all():
        # Redis's clear is FLUSHDB, which would drop the broker's queue too; sessions
        # there have random keys no other test can meet.
        if not isinstance(cache, RedisCache):
            cache.clear()
    # A provider keeps its OAuth token: a test's token service must be asked afresh.
    pipeline.forget_providers()


@pytest.fixture(autouse=True)
def sync_tasks(monkeypatch):
    """Run django-q2 tasks in-process; the real cluster runs in the end-to-end tests."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def user(db):
    return make_user("ana")


@pytest.fixture
def other_user(db):
    return make_user("bo")


@pytest.fixture
def staff_user(db):
    return make_user("cy", is_staff=True)


@pytest.fixture
def manager(db):
    """Staff with the permissions to see everyone's jobs, drafts and storyboards and change
    the drafts and storyboards."""
    from django.contrib.auth.models import Permission

    person = make_user("di", is_staff=True)
    codenames = [
        "view_all_jobs",
        "view_draft",
        "change_draft",
        "view_storyboard",
        "change_storyboard",
    ]
    person.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return person


@pytest.fixture
def superuser(db):
    return make_user("root", superuser=True)


@pytest.fixture
def viewers(user, other_user, staff_user, manager):
    """The four kinds of viewer of ana's work, for tests of who may see what."""
    return {"owner": user, "other user": other_user, "staff alone": staff_user, "manager": manager}


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(client, superuser):
    """The test client logged in as a superuser (pytest-django's own is one named admin)."""
    client.force_login(superuser)
    return client


@pytest.fixture
def api(user):
    """A client of the JSON API with a read-write token of user's."""
    return api_client(user)


@pytest.fixture(scope="session")
def mp4_bytes(tmp_path_factory):
    """A real one-second MP4 from the emulator's renderer, for Google's file to answer with."""
    path = tmp_path_factory.mktemp("mp4") / "clip.mp4"
    render_mp4(path, prompt="fixture clip", width=320, height=180, seconds=1)
    return path.read_bytes()


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


def run_due_jobs(timeout=60):
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


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on loopback: the real S3 wire, for the bucket tests."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


class Bucket:
    """A fresh bucket on the S3 server, and what is in it under the studio's prefix."""

    def __init__(self, endpoint, name, prefix):
        import boto3

        self.endpoint, self.name, self.prefix = endpoint, name, prefix
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        self.client.create_bucket(Bucket=name)

    def names(self):
        """Return every key in the bucket (under any prefix), relative to the studio's."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        return sorted(key.removeprefix(f"{self.prefix}/") for key in keys)

    def read(self, name):
        answer = self.client.get_object(Bucket=self.name, Key=f"{self.prefix}/{name}")
        return answer["Body"].read()


@pytest.fixture
def bucket(settings, s3_server, monkeypatch):
    """Make a new bucket the studio's default storage (MEDIA_STORAGE=s3), as deployed."""
    import uuid

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "studio-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "studio-test-secret")
    store = Bucket(s3_server, f"studio-{uuid.uuid4().hex[:12]}", "team-media")
    settings.MEDIA_STORAGE = "s3"
    settings.S3_BUCKET = store.name
    settings.S3_PREFIX = store.prefix
    settings.S3_ENDPOINT_URL = s3_server
    settings.S3_REGION = "us-east-1"
    settings.S3_ADDRESSING_STYLE = "path"
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "jobs.storage.BucketStorage"}}
    return store
