"""Webhooks from Google: verified over the raw body, recorded once, and a nudge to the pipeline.

Requests are signed with the emulator's own signer (jobs/veo/emulator/hooks.py, written by
hand) and verified by the studio's (the standardwebhooks library), so every test here also
checks that the two agree. Runs go to django-q2's real ORM broker and are counted there.
"""

import base64
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signing import SignedPackage
from standardwebhooks import Webhook

from jobs import pipeline, services, tasks
from jobs.models import VideoCreationJob
from jobs.veo.emulator import hooks
from jobs.webhooks import inbound
from jobs.webhooks.models import InboundEvent
from tests.conftest import run_due_jobs
from tests.factories import Stage, Status, make_job

pytestmark = pytest.mark.django_db

SECRET = "whsec_" + base64.b64encode(b"the studio's webhook secret, 32b").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the secret before the rotation!!").decode()
INTERACTION = "v1_ChdOdXRoYXJHTUxxS3l2ZElQMC1UcnlBcxIXTnV0aGFyR01M"
URL = "/hooks/gemini/"


@pytest.fixture
def hooks_on(settings):
    settings.GEMINI_WEBHOOK_SECRET = SECRET
    return SECRET


@pytest.fixture
def broker(monkeypatch):
    """django-q2's ORM broker, for real: queued runs are rows to count, not run in-process."""
    monkeypatch.setattr(Conf, "SYNC", False)
    queue = get_broker()
    queue.purge_queue()
    yield queue
    queue.purge_queue()


@pytest.fixture
def waiting(user):
    """A job Google is generating, whose next poll is an hour away."""
    return make_job(
        user,
        status=Status.PROCESSING,
        stage=Stage.GENERATING,
        operation_name=INTERACTION,
        submitted_at=timezone.now(),
        next_run_at=timezone.now() + timedelta(hours=1),
    )


def event(event_type="interaction.completed", object_id=INTERACTION, **data):
    return json.dumps(
        {
            "type": event_type,
            "version": "v1",
            "timestamp": "2026-12-02T04:00:00Z",
            "data": {"id": object_id, **data},
        }
    ).encode()


def signed(body, *, secrets=(SECRET,), webhook_id="msg_1", at=None):
    """Return the headers Google would send with body, signed by the emulator's signer."""
    at = int(time.time()) if at is None else at
    return hooks.signed_headers(list(secrets), webhook_id, at, body)


def post(client, body, headers, *, capture):
    with capture(execute=True):
        return client.post(URL, data=body, content_type="application/json", headers=headers)


def queued(queue):
    """Return the (task, args) queued on the broker, taking them off it."""
    found = []
    while batch := queue.dequeue():
        for _ack, payload in batch:
            package = SignedPackage.loads(payload)
            found.append((package["func"], package["args"]))
    return found


def generated(emulator, name):
    """Return whether the emulator would answer a poll of operation name with done."""
    done_at = emulator.stats()["operations"][name]["done_at"]
    return done_at is not None and time.time() >= done_at


def wait_until_generated(emulator, name, timeout=30):
    give_up = time.monotonic() + timeout
    while not generated(emulator, name):
        assert time.monotonic() < give_up, "the emulator never finished the video"
        time.sleep(0.05)


def state():
    return (
        sorted(VideoCreationJob.objects.values_list()),
        sorted(InboundEvent.objects.values_list()),
    )


# --- Told, and woken -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("interaction.completed", {}),
        ("interaction.failed", {"error_code": "INTERNAL", "error_message": "It broke."}),
        ("interaction.cancelled", {}),
        ("video.generated", {"output_file_uri": "https://example.com/v.mp4"}),
    ],
)
def test_a_signed_event_wakes_its_job_at_once(
    client, hooks_on, broker, waiting, django_capture_on_commit_callbacks, event_type, data
):
    before = timezone.now()
    body = event(event_type, **data)
    response = post(client, body, signed(body), capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert response.json() == {"success": True, "outcome": "woke"}
    job = VideoCreationJob.objects.get(pk=waiting.pk)
    assert before <= job.next_run_at <= timezone.now()
    # The webhook decides nothing: the run it queued polls Google and handles the answer.
    assert (job.status, job.stage, job.error) == (Status.PROCESSING, Stage.GENERATING, None)
    assert queued(broker) == [("jobs.tasks.run_job", (waiting.pk,))]
    row = InboundEvent.objects.get()
    assert (row.webhook_id, row.event_type, row.object_id, row.job_id, row.outcome) == (
        "msg_1",
        event_type,
        INTERACTION,
        waiting.pk,
        InboundEvent.Outcome.WOKE,
    )


def test_video_generated_may_name_the_operation_by_its_last_part(
    client, hooks_on, broker, user, django_capture_on_commit_callbacks
):
    job = make_job(
        user,
        status=Status.PROCESSING,
        stage=Stage.GENERATING,
        operation_name="models/veo-3.1-generate-preview/operations/abc123",
        next_run_at=timezone.now() + timedelta(hours=1),
    )
    make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING, operation_name="xabc123")
    body = event("video.generated", "abc123")
    response = post(client, body, signed(body), capture=django_capture_on_commit_callbacks)
    assert response.json()["outcome"] == "woke"
    assert queued(broker) == [("jobs.tasks.run_job", (job.pk,))]


def test_a_rotations_double_signature_is_accepted_with_either_secret(
    client, settings, broker, waiting, django_capture_on_commit_callbacks
):
    for n, studio_secret in enumerate([SECRET, OLD_SECRET]):
        settings.GEMINI_WEBHOOK_SECRET = studio_secret
        body = event()
        headers = signed(body, secrets=(OLD_SECRET, SECRET), webhook_id=f"msg_{n}")
        assert " " in headers["webhook-signature"]
        response = post(client, body, headers, capture=django_capture_on_commit_callbacks)
        assert response.status_code == 200
        assert response.json()["outcome"] == "woke"
    assert len(queued(broker)) == 2


def test_a_duplicate_webhook_id_is_answered_and_not_acted_on_twice(
    client, hooks_on, broker, waiting, django_capture_on_commit_callbacks
):
    body = event()
    first = post(client, body, signed(body), capture=django_capture_on_commit_callbacks)
    assert first.json()["outcome"] == "woke"
    assert len(queued(broker)) == 1
    later = timezone.now() + timedelta(hours=1)
    VideoCreationJob.objects.filter(pk=waiting.pk).update(next_run_at=later)
    before = state()
    # Google's retry: the same webhook-id, signed again a moment later.
    again = post(
        client,
        body,
        signed(body, at=int(time.time()) + 1),
        capture=django_capture_on_commit_callbacks,
    )
    assert again.status_code == 200
    assert again.json() == {"success": True, "outcome": "duplicate"}
    assert state() == before
    assert queued(broker) == []


def test_an_id_no_unfinished_job_has_is_answered_200_and_ignored(
    client, hooks_on, broker, waiting, user, django_capture_on_commit_callbacks
):
    finished = make_job(user, status=Status.COMPLETED, stage=Stage.DONE, operation_name="v1_done")
    jobs_before = state()[0]
    for n, object_id in enumerate(["v1_nobody", finished.operation_name]):
        body = event(object_id=object_id)
        response = post(
            client,
            body,
            signed(body, webhook_id=f"msg_{n}"),
            capture=django_capture_on_commit_callbacks,
        )
        assert response.status_code == 200
        assert response.json()["outcome"] == "no_job"
    assert state()[0] == jobs_before
    assert queued(broker) == []
    assert set(InboundEvent.objects.values_list("outcome", flat=True)) == {"no_job"}


def test_an_event_the_studio_does_not_act_on_is_answered_200_and_ignored(
    client, hooks_on, broker, waiting, django_capture_on_commit_callbacks
):
    jobs_before = state()[0]
    bodies = [
        event("batch.succeeded"),  # names the waiting job's id, all the same
        b'{"type": "interaction.requires_action"}',  # and needs no data
    ]
    for n, body in enumerate(bodies):
        headers = signed(body, webhook_id=f"msg_{n}")
        response = post(client, body, headers, capture=django_capture_on_commit_callbacks)
        assert response.status_code == 200
        assert response.json()["outcome"] == "ignored"
    assert state()[0] == jobs_before
    assert queued(broker) == []


# --- Refused, with nothing changed -------------------------------------------------------------


def _tampered(body):
    return signed(body.replace(b"completed", b"failed\\u0020"))


def _wrong_secret(body):
    return signed(body, secrets=(OLD_SECRET,))


def _garbled(body):
    return {**signed(body), "webhook-signature": "not-a-signature"}


def _no_signature(body):
    headers = signed(body)
    del headers["webhook-signature"]
    return headers


def _stale(body):
    return signed(body, at=int(time.time()) - 6 * 60)


def _future(body):
    return signed(body, at=int(time.time()) + 6 * 60)


def _not_a_time(body):
    return {**signed(body), "webhook-timestamp": "yesterday"}


@pytest.mark.parametrize(
    ("headers_for", "words"),
    [
        (_tampered, "No webhook-signature matches"),
        (_wrong_secret, "No webhook-signature matches"),
        (_garbled, "No webhook-signature matches"),
        (_no_signature, "lacks the webhook-signature header"),
        (_stale, "seconds ago"),
        (_future, "in the future"),
        (_not_a_time, "not a Unix time"),
    ],
    ids=["tampered body", "wrong secret", "garbled", "unsigned", "stale", "future", "no time"],
)
def test_a_bad_signature_or_timestamp_is_refused_401_with_nothing_changed(
    client, hooks_on, broker, waiting, django_capture_on_commit_callbacks, headers_for, words
):
    before = state()
    body = event()
    response = post(client, body, headers_for(body), capture=django_capture_on_commit_callbacks)
    assert response.status_code == 401
    assert response.json()["success"] is False
    assert words in response.json()["error"]
    assert state() == before
    assert queued(broker) == []


def test_the_endpoint_is_off_while_the_secret_is_unset(
    client, settings, broker, waiting, django_capture_on_commit_callbacks
):
    settings.GEMINI_WEBHOOK_SECRET = ""
    before = state()
    body = event()
    response = post(client, body, signed(body), capture=django_capture_on_commit_callbacks)
    assert response.status_code == 404
    assert state() == before
    assert queued(broker) == []


def test_an_oversized_body_is_refused_413_unread(
    client, hooks_on, broker, waiting, django_capture_on_commit_callbacks
):
    before = state()
    body = event(padding="x" * inbound.MAX_BODY_BYTES)
    response = post(client, body, signed(body), capture=django_capture_on_commit_callbacks)
    assert response.status_code == 413
    assert "larger than a webhook may be" in response.json()["error"]
    assert state() == before
    assert queued(broker) == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"type": "interaction.completed", "data": ', "not JSON"),
        (b"\xff\xfe not even text", "not UTF-8"),
        (b'["interaction.completed"]', '"type" string'),
        (b'{"type": "interaction.completed", "data": {}}', '"data.id"'),
        (b'{"type": "interaction.completed", "data": "v1_x"}', '"data.id"'),
        (b'{"type": "interaction.failed", "data": {"id": ""}}', '"data.id"'),
        (b'{"type": "video.generated", "data": {"id": 42}}', '"data.id"'),
    ],
    ids=["cut short", "not utf-8", "an array", "no id", "data not an object", "empty", "number"],
)
def test_a_malformed_body_with_a_valid_signature_is_refused_400(
    client, hooks_on, broker, waiting, django_capture_on_commit_callbacks, body, words
):
    before = state()
    response = post(client, body, signed(body), capture=django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert state() == before
    assert queued(broker) == []


def test_a_wake_leaves_a_finished_job_alone(broker, user, django_capture_on_commit_callbacks):
    job = make_job(user, status=Status.COMPLETED, stage=Stage.DONE, operation_name=INTERACTION)
    before = state()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.job_wake(job.pk) is False
    assert state() == before
    assert queued(broker) == []


def test_deleting_a_woken_job_keeps_its_events_record(
    client, hooks_on, broker, waiting, django_capture_on_commit_callbacks
):
    body = event()
    post(client, body, signed(body), capture=django_capture_on_commit_callbacks)
    VideoCreationJob.objects.filter(pk=waiting.pk).update(status=Status.FAILED)
    services.job_delete(job=VideoCreationJob.objects.get(pk=waiting.pk))
    row = InboundEvent.objects.get()
    assert (row.outcome, row.job_id) == (InboundEvent.Outcome.WOKE, None)


def test_only_post_is_answered(client, hooks_on):
    assert client.get(URL).status_code == 405
    assert reverse("gemini-webhook") == URL


def test_the_emulators_signer_agrees_with_the_standard_webhooks_library():
    body = event()
    at = 1_764_650_000
    expected = Webhook(SECRET).sign("msg_x", datetime.fromtimestamp(at, tz=UTC), body.decode())
    assert hooks.signature(SECRET, "msg_x", at, body) == expected


# --- Polling stays the fallback; a webhook only brings the poll forward ------------------------


def test_a_job_with_no_webhook_still_finishes_by_polling(hooks_on, veo, user):
    job = make_job(user, prompt_text="A fox [latency=0.3]")
    pipeline.run(job.pk)
    assert VideoCreationJob.objects.get(pk=job.pk).stage == Stage.GENERATING
    run_due_jobs()
    assert VideoCreationJob.objects.get(pk=job.pk).status == Status.COMPLETED
    assert InboundEvent.objects.count() == 0


def test_a_webhook_finishes_a_job_without_waiting_for_its_next_poll(
    client, settings, hooks_on, veo, user, monkeypatch, django_capture_on_commit_callbacks
):
    settings.VEO_POLL_INTERVAL = settings.VEO_POLL_INTERVAL_MAX = 3600
    job = make_job(user, prompt_text="A fox [latency=0.3]")
    pipeline.run(job.pk)  # submits, polls once: not done, next poll in an hour
    job.refresh_from_db()
    assert job.next_run_at > timezone.now() + timedelta(minutes=59)
    wait_until_generated(veo, job.operation_name)  # Google finishes, and says nothing yet
    monkeypatch.setattr(Conf, "SYNC", False)
    queue = get_broker()
    queue.purge_queue()
    body = event("video.generated", job.operation_name)
    response = post(client, body, signed(body), capture=django_capture_on_commit_callbacks)
    assert response.json()["outcome"] == "woke"
    assert VideoCreationJob.objects.get(pk=job.pk).next_run_at <= timezone.now()
    runs = queued(queue)
    assert runs == [("jobs.tasks.run_job", (job.pk,))]
    for _func, args in runs:  # what a worker does with the queued task
        tasks.run_job(*args)
    job.refresh_from_db()
    assert job.status == Status.COMPLETED


# Serialized, as the other tests with a real server: a plain flush would re-create the
# content types that later serialized tests restore, and their restore would collide.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_whole_loop_emulator_to_signed_webhook_to_a_finished_job(
    live_server, settings, veo, user, monkeypatch
):
    """The emulator tells the running studio over HTTP; the woken run polls and finishes."""
    settings.GEMINI_WEBHOOK_SECRET = SECRET
    settings.VEO_POLL_INTERVAL = settings.VEO_POLL_INTERVAL_MAX = 3600
    monkeypatch.setenv(hooks.URL_VARIABLE, live_server.url + URL)
    monkeypatch.setenv(hooks.SECRET_VARIABLE, f"{OLD_SECRET} {SECRET}")
    job = make_job(user, prompt_text="A fox [latency=0.3]")
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert job.stage == Stage.GENERATING
    # Told as it submits, the emulator sends the event once the video is ready.
    sender = hooks.notify(
        "interaction.completed",
        {"id": job.operation_name},
        until=lambda: generated(veo, job.operation_name),
    )
    sender.join(timeout=30)
    job.refresh_from_db()
    assert job.status == Status.COMPLETED  # in sync mode the woken run ran in the request
    assert InboundEvent.objects.get().outcome == InboundEvent.Outcome.WOKE


def test_notify_sends_nothing_without_a_url(monkeypatch):
    monkeypatch.delenv(hooks.URL_VARIABLE, raising=False)
    assert hooks.notify("interaction.completed", {"id": INTERACTION}) is None


@pytest.mark.parametrize(
    ("secret", "refused"),
    [("whsec_not base64!", True), ("no-prefix-nor-base64", True), (SECRET, False)],
)
def test_a_malformed_secret_stops_start_up_naming_the_setting(tmp_path, secret, refused):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEBUG")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env={**env, "VIDEOSTUDIO_DATA_DIR": str(tmp_path), "GEMINI_WEBHOOK_SECRET": secret},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode != 0) is refused, result.stderr
    assert ("GEMINI_WEBHOOK_SECRET must be the whsec_" in result.stderr) is refused
