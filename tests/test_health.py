"""/healthz and /readyz: probes answered without login, each check named, nothing else told.

Everything here is real: the test database, the broker django-q2 is configured with (the
ORM broker in pass 1, Redis in pass 2), the media directory, the ticker's own thread. A
failing dependency is made by pointing a setting at something that does not answer.
"""

import json
import logging
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_q.conf import Conf

from jobs.health.beats import Heart
from jobs.health.models import ClusterHeartbeat
from jobs.ticker import Ticker

ALL_OK = {"database": "ok", "broker": "ok", "storage": "ok", "cluster": "ok"}


def readyz():
    response = Client().get("/readyz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, json.loads(response.content)


def test_healthz_answers_anyone_without_touching_the_database():
    # No database access is allowed in this test: a query would raise, and answer 500.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}
    assert "Set-Cookie" not in response


@pytest.mark.django_db
def test_readyz_is_200_naming_every_check_when_a_cluster_beat_lately():
    Heart().beat()
    assert readyz() == (200, {"status": "ok", "checks": ALL_OK})


@pytest.mark.django_db
def test_without_a_recent_cluster_beat_readyz_is_503_naming_the_cluster(settings):
    assert readyz() == (
        503,
        {"status": "failing", "checks": {**ALL_OK, "cluster": "no cluster beat in the last 60 s"}},
    )
    Heart().beat()
    ClusterHeartbeat.objects.update(seen_at=timezone.now() - timedelta(seconds=61))
    assert readyz()[0] == 503
    settings.READY_HEARTBEAT_SECONDS = 120
    assert readyz() == (200, {"status": "ok", "checks": ALL_OK})


@pytest.mark.django_db
def test_a_storage_that_is_not_there_is_named_and_its_detail_only_logged(
    settings, tmp_path, caplog
):
    Heart().beat()
    missing = tmp_path / "gone" / "media"
    settings.MEDIA_ROOT = missing
    with caplog.at_level(logging.WARNING, logger="jobs.health.views"):
        status, body = readyz()
    assert (status, body) == (
        503,
        {"status": "failing", "checks": {**ALL_OK, "storage": "unreachable"}},
    )
    assert str(missing) in caplog.text  # the log says what failed, the answer does not


@pytest.mark.django_db
def test_a_broker_that_does_not_answer_is_named(monkeypatch):
    Heart().beat()
    # django-q2 falls back to Redis when no ORM broker is set: one on a port nobody holds.
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:1/0")
    assert readyz() == (
        503,
        {"status": "failing", "checks": {**ALL_OK, "broker": "unreachable"}},
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_database_that_does_not_answer_is_named_and_the_next_request_reconnects(tmp_path):
    Heart().beat()
    name = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = (
        str(tmp_path / "no-such-dir" / "db.sqlite3")
        if connection.vendor == "sqlite"
        else "videostudio_no_such_database"
    )
    try:
        status, body = readyz()
    finally:
        connection.settings_dict["NAME"] = name
    assert status == 503
    assert body["checks"]["database"] == "unreachable"
    assert body["checks"]["cluster"] == "unreachable"  # read from the same database
    assert "no-such" not in json.dumps(body)
    assert readyz() == (200, {"status": "ok", "checks": ALL_OK})


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_ticker_keeps_a_heartbeat_while_it_runs_and_removes_it_when_stopped():
    ticker = Ticker(every=0.01).start()
    try:
        deadline = time.monotonic() + 10
        while not ClusterHeartbeat.objects.exists():
            assert time.monotonic() < deadline, "the ticker wrote no heartbeat"
            time.sleep(0.02)
        beat = ClusterHeartbeat.objects.get()
        assert beat.seen_at > timezone.now() - timedelta(seconds=5)
        assert readyz()[0] == 200
    finally:
        ticker.stop()
    assert not ClusterHeartbeat.objects.exists()
    assert readyz()[0] == 503


@pytest.mark.django_db
def test_a_heartbeat_is_written_every_ten_seconds_not_every_tick(django_assert_num_queries):
    heart = Heart()
    assert heart.beat()
    with django_assert_num_queries(0):
        assert not heart.beat()
    heart.last -= 11
    assert heart.beat()
    assert ClusterHeartbeat.objects.count() == 1


@pytest.mark.django_db
def test_a_cluster_gone_for_a_day_is_forgotten_when_another_starts():
    ClusterHeartbeat.objects.create(
        host="old-machine", pid=1, seen_at=timezone.now() - timedelta(days=2)
    )
    ClusterHeartbeat.objects.create(host="other-machine", pid=2)
    heart = Heart()
    heart.beat()
    hosts = sorted(ClusterHeartbeat.objects.values_list("host", flat=True))
    assert hosts == sorted(["other-machine", heart.host])


def test_only_get_and_head_are_answered():
    for path in ("/healthz", "/readyz"):
        assert Client().post(path).status_code == 405
    assert Client().head("/healthz").status_code == 200
