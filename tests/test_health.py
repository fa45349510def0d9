"""/healthz, /readyz and /metrics: answered without login, each check named, nothing else told.

Everything here is real: the test database, the broker django-q2 is configured with (the
ORM broker in pass 1, Redis in pass 2), the media directory, the ticker's own thread, and
for /metrics' tallies whole pipeline runs against the emulator (or Google's wire faked with
`responses`). A failing dependency is made by pointing a setting at something that does
not answer.
"""

import json
import logging
import socket
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from django.db import connection
from django.test import Client, TestCase
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from jobs import pipeline, pricing, services
from jobs.health import metrics
from jobs.health.beats import Heart
from jobs.health.models import ClusterHeartbeat, LatencyTally, ProviderErrorTally
from jobs.models import Budget
from jobs.ticker import Ticker
from jobs.webhooks.models import InboundEvent, WebhookDelivery, WebhookEndpoint
from tests.conftest import API_KEY, run_due_jobs
from tests.factories import JOB_OPTIONS, MODEL, Stage, Status, make_job

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


# --- /metrics: Prometheus's scrape, behind METRICS_TOKEN ---------------------------------

TOKEN = "scrape-token-not-secret"
OMNI = "gemini-omni-1.2-flash"
GEMINI = "https://generativelanguage.googleapis.com"
FAMILIES = {
    "videostudio_jobs": "gauge",
    "videostudio_queue_depth": "gauge",
    "videostudio_jobs_in_flight": "gauge",
    "videostudio_spend_today_usd": "gauge",
    "videostudio_webhook_deliveries": "gauge",
    "videostudio_inbound_webhooks": "gauge",
    "videostudio_provider_errors": "counter",
    "videostudio_done_to_downloading_seconds": "histogram",
}
HISTOGRAM = "videostudio_done_to_downloading_seconds"
BOUNDS = ["0.5", "1.0", "2.5", "5.0", "10.0", "20.0", "30.0", "60.0", "120.0", "300.0", "+Inf"]


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def get_metrics(authorization=f"Bearer {TOKEN}"):
    headers = {} if authorization is None else {"Authorization": authorization}
    return Client().get("/metrics", headers=headers)


def families(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == CONTENT_TYPE_LATEST
    assert "no-cache" in response["Cache-Control"]
    return list(text_string_to_metric_families(response.content.decode()))


def scrape():
    """Return /metrics' samples as {(name, labels sorted): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families(get_metrics())
        for sample in family.samples
    }


def value(samples, name, **labels):
    return samples[name, tuple(sorted(labels.items()))]


def histogram(samples):
    """Return the done-to-downloading histogram: ({le: cumulative count}, count, sum)."""
    buckets = {le: value(samples, f"{HISTOGRAM}_bucket", le=le) for le in BOUNDS}
    return buckets, value(samples, f"{HISTOGRAM}_count"), value(samples, f"{HISTOGRAM}_sum")


def errors_tallied():
    return dict(ProviderErrorTally.objects.values_list("error_class", "count"))


@pytest.mark.django_db
def test_metrics_is_not_there_while_no_token_is_set(settings):
    settings.METRICS_TOKEN = ""
    for authorization in (None, "Bearer ", f"Bearer {TOKEN}"):
        assert get_metrics(authorization).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong-token",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer t\u00f8ken-beyond-ascii",
    ],
)
def test_metrics_without_the_right_bearer_token_is_401_and_reads_nothing(
    metrics_token, authorization, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = get_metrics(authorization)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert b"videostudio_" not in response.content


@pytest.mark.django_db
def test_metrics_with_the_token_answers_every_family_in_one_query_each(
    metrics_token, user, django_assert_max_num_queries
):
    make_job(user)
    assert get_metrics(f"bearer {TOKEN}").status_code == 200
    with django_assert_max_num_queries(len(FAMILIES)):  # the ORM broker's count is one
        found = {family.name: family.type for family in families(get_metrics())}
    assert found == FAMILIES
    response = Client().post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405


@pytest.mark.django_db
def test_metrics_count_jobs_spend_and_webhooks_as_the_database_holds_them(metrics_token, user):
    today = pricing.period_start(Budget.Period.DAILY)
    make_job(user)
    make_job(user)
    running = {"status": Status.PROCESSING, "estimated_cost_usd": Decimal("0.40")}
    make_job(user, stage=Stage.SUBMITTING, **running)
    make_job(user, stage=Stage.GENERATING, operation_name="models/m/operations/1", **running)
    done = {"status": Status.COMPLETED, "stage": Stage.DONE}
    make_job(user, estimated_cost_usd=Decimal("0.80"), actual_cost_usd=Decimal("0.50"), **done)
    make_job(
        user,
        status=Status.FAILED,
        stage=Stage.GENERATING,
        estimated_cost_usd=Decimal("0.40"),
        actual_cost_usd=Decimal("0"),
    )
    # Yesterday's spend is not today's.
    make_job(
        user,
        estimated_cost_usd=9,
        actual_cost_usd=9,
        created_at=today - timedelta(minutes=1),
        **done,
    )
    endpoint = WebhookEndpoint.objects.create(owner=user, url="https://hooks.example/studio")
    for n, status in enumerate(["delivered", "delivered", "failed"]):
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_type="job.completed",
            event_key=f"job-{n}",
            payload={},
            status=status,
            retry_until=timezone.now(),
        )
    for n, outcome in enumerate(["woke", "ignored", "ignored"]):
        InboundEvent.objects.create(webhook_id=f"wh-{n}", event_type="x", outcome=outcome)

    samples = scrape()

    jobs = {
        (dict(labels)["status"], dict(labels)["stage"]): count
        for (name, labels), count in samples.items()
        if name == "videostudio_jobs"
    }
    assert {key: count for key, count in jobs.items() if count} == {
        ("idle", "queued"): 2,
        ("processing", "submitting"): 1,
        ("processing", "generating"): 1,
        ("completed", "done"): 2,
        ("failed", "generating"): 1,
    }
    assert len(jobs) == len(Status) * len(Stage)  # the others answer 0, not nothing
    assert value(samples, "videostudio_jobs_in_flight") == 2
    assert value(samples, "videostudio_spend_today_usd") == pytest.approx(1.30)
    assert value(samples, "videostudio_webhook_deliveries", outcome="delivered") == 2
    assert value(samples, "videostudio_webhook_deliveries", outcome="failed") == 1
    assert value(samples, "videostudio_webhook_deliveries", outcome="pending") == 0
    assert value(samples, "videostudio_inbound_webhooks", outcome="woke") == 1
    assert value(samples, "videostudio_inbound_webhooks", outcome="ignored") == 2
    assert value(samples, "videostudio_inbound_webhooks", outcome="no_job") == 0
    for error_class in metrics.ERROR_CLASSES:
        assert value(samples, "videostudio_provider_errors_total", **{"class": error_class}) == 0
    assert histogram(samples) == (dict.fromkeys(BOUNDS, 0), 0, 0)


@pytest.mark.django_db
def test_the_queue_depth_is_the_brokers_own_count(metrics_token):
    broker = get_broker()
    before = broker.queue_size()
    try:
        broker.enqueue("not a task: purged below")
        broker.enqueue("not a task: purged below")
        assert value(scrape(), "videostudio_queue_depth") == before + 2
    finally:
        broker.purge_queue()  # a stray unsigned task in Redis would break later clusters
    assert broker.queue_size() == 0


@pytest.mark.django_db
def test_a_broker_that_does_not_answer_leaves_out_the_queue_depth_only(
    metrics_token, user, monkeypatch, caplog
):
    make_job(user)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:1/0")
    with caplog.at_level(logging.WARNING, logger="jobs.health.metrics"):
        samples = scrape()
    assert not [key for key in samples if key[0] == "videostudio_queue_depth"]
    assert value(samples, "videostudio_jobs", status="idle", stage="queued") == 1
    assert "queue size could not be read" in caplog.text


# --- The tallies, kept by real pipeline runs --------------------------------------------


@pytest.fixture
def quick_retries(settings):
    settings.VEO_RETRY_BASE_SECONDS = 0.01


def run_job(user, prompt, *, model=MODEL):
    """Create a job as every caller does and run it until nothing is due; return it."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        job = services.job_create(owner=user, prompt_text=prompt, model=model, options=JOB_OPTIONS)
    run_due_jobs(timeout=30)
    job.refresh_from_db()
    return job


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fault", "status", "tallied"),
    [
        ("daily-quota", Status.FAILED, {"quota": 1}),
        ("submit-500", Status.FAILED, {"outcome_unknown": 1}),
        ("permission", Status.FAILED, {"auth": 1}),
        ("billing", Status.FAILED, {"refused": 1}),
        ("poll-503-once", Status.COMPLETED, {"server": 1}),
        ("done-error", Status.FAILED, {"generation_failed": 1}),
        ("expired", Status.FAILED, {"refused": 1}),
        ("truncated", Status.FAILED, {"network": 3}),
        # A safety filter's block is the prompt's doing, not the provider's.
        ("safety", Status.FAILED, {}),
    ],
)
def test_a_pipeline_run_tallies_each_provider_error_in_its_class(
    veo, quick_retries, metrics_token, user, fault, status, tallied
):
    job = run_job(user, f"Metrics drill [fault={fault}]")
    assert job.status == status, job.error
    assert errors_tallied() == tallied
    samples = scrape()
    for error_class in metrics.ERROR_CLASSES:
        exposed = value(samples, "videostudio_provider_errors_total", **{"class": error_class})
        assert exposed == tallied.get(error_class, 0), error_class


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db
def test_an_api_nobody_answers_is_tallied_as_network_errors(veo, quick_retries, settings, user):
    settings.VEO_API_BASE_URL = f"http://127.0.0.1:{closed_port()}"
    job = run_job(user, "Metrics drill: no API")
    assert "Could not connect" in job.error
    assert errors_tallied() == {"network": 4}  # each try, then the studio gave up


PREDICT = f"{GEMINI}/v1beta/models/{MODEL}:predictLongRunning"
OPERATION = f"models/{MODEL}/operations/op-metrics"
POLL = f"{GEMINI}/v1beta/{OPERATION}"
FILE = f"{GEMINI}/v1beta/files/metrics:download?alt=media"
DONE = {
    "name": OPERATION,
    "done": True,
    "response": {"generateVideoResponse": {"generatedSamples": [{"video": {"uri": FILE}}]}},
}
RATE_LIMITED = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Slow down."}}


@responses.activate
@pytest.mark.django_db
def test_errors_of_a_download_and_of_its_later_poll_are_tallied(
    gemini, quick_retries, settings, user, mp4_bytes
):
    settings.TRANSCRIBE_MODEL = ""
    responses.post(PREDICT, json={"name": OPERATION})
    responses.get(POLL, json=DONE)
    # The download fails; the next run asks again (Google is busy), then downloads.
    responses.get(FILE, status=503)
    responses.get(POLL, status=429, json=RATE_LIMITED)
    responses.get(POLL, json=DONE)
    responses.get(FILE, body=mp4_bytes, content_type="video/mp4")
    job = run_job(user, "Metrics drill: a download retried")
    assert job.status == Status.COMPLETED, job.error
    assert errors_tallied() == {"server": 1, "rate_limited": 1}


@responses.activate
@pytest.mark.django_db
def test_a_failed_download_of_a_cancelled_jobs_late_result_is_tallied(gemini, user):
    job = make_job(
        user,
        status=Status.FAILED,
        stage=Stage.GENERATING,
        operation_name=OPERATION,
        submitted_at=timezone.now(),
        cancelled_at=timezone.now(),
    )
    responses.get(POLL, json=DONE)
    responses.get(FILE, status=502)
    pipeline.collect_late_result(job.pk)
    assert errors_tallied() == {"server": 1}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_tallies_from_racing_workers_lose_no_count():
    threads, each = 8, 20
    start = threading.Barrier(threads)

    def worker():
        try:
            start.wait()
            for _ in range(each):
                metrics.record_provider_error("server")
                metrics.record_done_to_downloading(timezone.now() - timedelta(seconds=3))
        finally:
            connection.close()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert errors_tallied() == {"server": threads * each}
    (bucket,) = LatencyTally.objects.all()
    assert (bucket.bucket_le, bucket.count) == ("5.0", threads * each)


@pytest.mark.django_db
def test_a_run_from_generating_to_downloading_records_its_wait(veo, metrics_token, user):
    # predictLongRunning's operations carry no time: the poll that saw it done is the clock.
    job = run_job(user, "Metrics drill: a quick video")
    assert job.status == Status.COMPLETED, job.error
    buckets, count, total = histogram(scrape())
    assert count == 1
    assert 0 <= total < 0.5
    assert buckets == dict.fromkeys(BOUNDS, 1)


@pytest.fixture
def omni_on_the_wire(settings):
    """Run Omni against Google's Interactions wire, faked with `responses`."""
    settings.VEO_CATALOG_FILE = ""
    settings.VEO_MODEL = OMNI
    settings.GEMINI_API_VERSION = "v1"
    settings.VEO_API_BASE_URL = GEMINI
    settings.GEMINI_API_KEY = API_KEY
    settings.VEO_POLL_INTERVAL = 0
    settings.TRANSCRIBE_MODEL = ""


def google_finished(*, updated, mp4):
    """Fake an interaction Google says it finished at `updated`, and its video."""
    interaction, file = "v1_Metrics", f"{GEMINI}/v1/files/metrics"
    responses.post(f"{GEMINI}/v1/interactions", json={"id": interaction, "status": "in_progress"})
    video = {"type": "video", "uri": file, "mime_type": "video/mp4"}
    responses.get(
        f"{GEMINI}/v1/interactions/{interaction}",
        json={
            "id": interaction,
            "status": "completed",
            "updated": updated,
            "steps": [{"type": "model_output", "content": [video]}],
        },
    )
    responses.get(f"{file}?alt=media", body=mp4, content_type="video/mp4")


@responses.activate
@pytest.mark.django_db
def test_the_wait_counts_from_the_time_google_says_it_finished(
    omni_on_the_wire, metrics_token, user, mp4_bytes
):
    finished = timezone.now() - timedelta(seconds=42)
    google_finished(updated=finished.strftime("%Y-%m-%dT%H:%M:%SZ"), mp4=mp4_bytes)
    job = run_job(user, "Metrics drill: Omni", model=OMNI)
    assert job.status == Status.COMPLETED, job.error
    buckets, count, total = histogram(scrape())
    assert count == 1
    assert 42 <= total < 50
    assert buckets == {le: int(le == "+Inf" or float(le) >= 60) for le in BOUNDS}


@responses.activate
@pytest.mark.django_db
@pytest.mark.parametrize("updated", ["yesterday-ish", "2026-07-23T10:21:43", 1785000000])
def test_a_time_google_writes_unreadably_falls_back_to_the_poll(
    omni_on_the_wire, metrics_token, user, mp4_bytes, updated
):
    google_finished(updated=updated, mp4=mp4_bytes)
    job = run_job(user, "Metrics drill: Omni, odd time", model=OMNI)
    assert job.status == Status.COMPLETED, job.error
    buckets, count, total = histogram(scrape())
    assert (count, buckets["0.5"]) == (1, 1)
    assert total < 0.5
