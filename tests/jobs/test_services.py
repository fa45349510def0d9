"""Job services: the in-flight cap, recovery, leases, retry, delete and honest cancel."""

import os
import time
from datetime import timedelta

import pytest
import responses
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule
from django_q.scheduler import scheduler
from django_q.signing import SignedPackage

from drafts import services as draft_services
from jobs import pipeline, services, storage
from jobs.models import VideoCreationJob, VideoResource
from jobs.ticker import Ticker
from tests.factories import JOB_OPTIONS, MODEL, Stage, Status, make_job

pytestmark = pytest.mark.django_db

BASE = "https://generativelanguage.googleapis.com/v1beta"
OPERATION = f"models/{MODEL}/operations/late1"
FILE = f"{BASE}/files/late1:download?alt=media"


def queued(callbacks):
    """Return the job ids the captured on_commit callbacks would enqueue runs for."""
    return [cb.args[1] for cb in callbacks if cb.args[0] == "jobs.tasks.run_job"]


# --- The in-flight cap -----------------------------------------------------------------


def test_full_provider_leaves_new_jobs_waiting_with_their_place_shown(
    settings, user, logged_in, django_capture_on_commit_callbacks
):
    settings.VEO_MAX_IN_FLIGHT = 1
    make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING)
    with django_capture_on_commit_callbacks():
        first = services.job_create(owner=user, prompt_text="one", model=MODEL, options=JOB_OPTIONS)
        second = services.job_create(
            owner=user, prompt_text="two", model=MODEL, options=JOB_OPTIONS
        )
    pipeline.run(first.pk)
    first.refresh_from_db()
    assert first.status == Status.IDLE
    assert first.lease_expires_at is None
    page = logged_in.get(reverse("jobs:index")).content.decode()
    assert "number 1 in line" in page
    assert "number 2 in line" in page
    changes = reverse("jobs:list-changes") + f"?id={second.pk}"
    card = logged_in.get(changes, headers={"HX-Request": "true"})
    assert "number 2 in line" in card.content.decode()


def test_a_finished_job_queues_the_oldest_waiting_one(
    settings, user, django_capture_on_commit_callbacks
):
    settings.VEO_MAX_IN_FLIGHT = 1
    running = make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING)
    older = make_job(user, created_at=timezone.now() - timedelta(minutes=2))
    make_job(user)
    with django_capture_on_commit_callbacks() as callbacks:
        services.job_fail(running.pk, message="Boom")
    assert queued(callbacks) == [older.pk]


def test_claims_stop_at_the_cap(settings, user):
    settings.VEO_MAX_IN_FLIGHT = 2
    jobs = [make_job(user) for _ in range(4)]
    claimed = [services.job_claim(job.pk) for job in jobs]
    assert claimed == [True, True, False, False]
    assert VideoCreationJob.objects.in_flight().count() == 2


# --- Leases: one run at a time ------------------------------------------------------------


@responses.activate
def test_a_run_finds_the_job_leased_and_sends_nothing(gemini, user):
    job = make_job(user, lease_expires_at=timezone.now() + timedelta(seconds=60))
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert job.status == Status.IDLE
    assert len(responses.calls) == 0


def test_an_expired_lease_can_be_taken_and_a_held_one_cannot(user):
    job = make_job(user, lease_expires_at=timezone.now() - timedelta(seconds=1))
    held = services.job_lease_acquire(job.pk, seconds=30)
    assert held is not None
    assert services.job_lease_acquire(job.pk, seconds=30) is None
    services.job_lease_release(job.pk, held)
    assert services.job_lease_acquire(job.pk, seconds=30) is not None


# --- The ticker: due steps are enqueued once ---------------------------------------------


# Serialized like the process tests that follow it: a plain flush would re-create the
# content types those tests restore, and their restore would then collide.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_tickers_enqueue_each_due_job_once(monkeypatch, settings, user):
    """Two clusters' tickers race over the same due jobs; each job gets one run queued."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # to the real broker, to be counted there
    broker = get_broker()
    broker.purge_queue()
    now = timezone.now()
    due = [
        make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING, next_run_at=now)
        for _ in range(12)
    ]
    later = make_job(
        user,
        status=Status.PROCESSING,
        stage=Stage.GENERATING,
        next_run_at=now + timedelta(minutes=5),
    )
    tickers = [Ticker(every=0.01) for _ in range(2)]  # the qcluster's, twice
    for ticker in tickers:
        ticker.start()
    time.sleep(1)
    for ticker in tickers:
        ticker.stop()
    try:
        assert broker.queue_size() == len(due)
        queued_ids = sorted(
            SignedPackage.loads(payload)["args"][0] for _, payload in _drain(broker)
        )
        assert queued_ids == sorted(job.pk for job in due)
        assert later.pk not in queued_ids
    finally:
        broker.purge_queue()


def _drain(broker):
    tasks = []
    while batch := broker.dequeue():
        tasks.extend(batch)
    return tasks


# --- The recovery sweep -------------------------------------------------------------------


def test_sweep_fails_jobs_past_the_deadline(settings, user):
    settings.VEO_JOB_DEADLINE_MINUTES = 30
    old = make_job(
        user,
        status=Status.PROCESSING,
        stage=Stage.DOWNLOADING,
        submitted_at=timezone.now() - timedelta(minutes=31),
    )
    fresh = make_job(
        user, status=Status.PROCESSING, stage=Stage.GENERATING, submitted_at=timezone.now()
    )
    result = services.jobs_recover()
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert result["timed_out"] == 1
    assert (old.status, old.error[:10]) == (Status.FAILED, "Timed out:")
    assert fresh.status == Status.PROCESSING


def test_sweep_never_times_out_a_job_that_was_never_sent(settings, user):
    """Queued behind the cap for longer than the deadline, or sent back after a 429."""
    settings.VEO_JOB_DEADLINE_MINUTES = 30
    job = make_job(user, created_at=timezone.now() - timedelta(minutes=31))
    assert services.job_claim(job.pk)
    result = services.jobs_recover()
    job.refresh_from_db()
    assert result["timed_out"] == 0
    assert (job.status, job.stage) == (Status.PROCESSING, Stage.SUBMITTING)
    assert not job.error


def test_sweep_resumes_a_job_whose_run_died_but_not_a_live_one(
    settings, user, django_capture_on_commit_callbacks
):
    settings.VEO_TASK_SLICE_SECONDS = 60
    long_ago = timezone.now() - timedelta(minutes=5)
    dead = make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING, operation_name="op")
    live = make_job(
        user,
        status=Status.PROCESSING,
        stage=Stage.GENERATING,
        operation_name="op2",
        lease_expires_at=timezone.now() + timedelta(seconds=90),
    )
    busy = make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING, operation_name="op3")
    VideoCreationJob.objects.filter(pk__in=[dead.pk, live.pk]).update(updated_at=long_ago)
    with django_capture_on_commit_callbacks() as callbacks:
        result = services.jobs_recover()
    assert queued(callbacks) == [dead.pk]
    assert result["resumed"] == 1
    assert live.pk not in queued(callbacks)
    assert busy.pk not in queued(callbacks)  # it made progress within two slices


def test_sweep_queues_waiting_jobs_whose_enqueue_was_lost(
    settings, user, django_capture_on_commit_callbacks
):
    settings.VEO_MAX_IN_FLIGHT = 2
    make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING)
    waiting = [make_job(user, created_at=timezone.now() - timedelta(minutes=n)) for n in (3, 2, 1)]
    with django_capture_on_commit_callbacks() as callbacks:
        services.jobs_recover()
    assert queued(callbacks) == [waiting[0].pk]


def test_sweep_removes_directories_no_job_owns(user, data_dir):
    job = make_job(user)
    owned, orphan, young = (data_dir / "videos" / name for name in (job.pk, "gone-job", "new-job"))
    for directory in (owned, orphan, young):
        directory.mkdir(parents=True)
        (directory / "output.mp4").write_bytes(b"x")
    hour_ago = time.time() - 3700
    for directory in (owned, orphan):
        os.utime(directory, (hour_ago, hour_ago))
    assert services.jobs_recover()["orphans"] == 1
    assert owned.exists() and young.exists() and not orphan.exists()


def test_recovery_runs_inside_the_cluster_every_minute():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="jobs.tasks.recover_jobs")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 1, -1)


# --- Retry, delete ------------------------------------------------------------------------


def test_retry_makes_a_linked_job_with_the_same_prompt_options_and_frames(
    user, data_dir, django_capture_on_commit_callbacks
):
    failed = make_job(user, status=Status.FAILED, error="Boom", prompt_id="p-7")
    frame = storage.relative_resource(failed.pk, "image", "first-frame.png")
    storage.store_bytes(frame, b"\x89PNG frame")
    services.resource_add(
        job_id=failed.pk, kind="image", filename="first-frame.png", file_path=frame
    )
    with django_capture_on_commit_callbacks() as callbacks:
        retry = services.job_retry(job=failed, owner=user)
    assert retry.pk != failed.pk
    assert retry.retry_of == failed
    assert (retry.prompt_text, retry.prompt_id, retry.model, retry.options) == (
        failed.prompt_text,
        "p-7",
        failed.model,
        failed.options,
    )
    copied = VideoResource.objects.get(job=retry)
    assert (data_dir / copied.file_path).read_bytes() == b"\x89PNG frame"
    assert queued(callbacks) == [retry.pk]


def test_a_cancel_is_its_own_state_and_its_retry_starts_uncancelled(user):
    failed = make_job(user, status=Status.FAILED, error="Boom")
    running = make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING)
    assert services.job_cancel(job=running)
    running.refresh_from_db()
    assert (running.status, running.error) == (Status.FAILED, "Cancelled by user")
    assert running.cancelled_at == running.completed_at and running.is_cancelled
    assert failed.cancelled_at is None and not failed.is_cancelled
    retry = services.job_retry(job=running, owner=user)
    retry.refresh_from_db()
    assert (retry.status, retry.cancelled_at, retry.is_cancelled) == (Status.IDLE, None, False)
    running.refresh_from_db()
    assert running.is_cancelled  # the cancelled job stays cancelled


def test_retry_of_a_draft_runs_job_keeps_its_draft_version_and_batch(user):
    draft = draft_services.draft_save(author=user, name="Fox", prompts=["A fox"])
    version = draft.versions.get()
    plan = draft_services.plan_batch(
        version=version,
        prompt_ids=[version.prompts[0]["id"]],
        options={"model": MODEL, **JOB_OPTIONS},
    )
    batch = draft_services.draft_run(user=user, draft=draft, version=version, plan=plan)
    job = batch.jobs.get()
    assert (job.draft, job.draft_version) == (draft, version)
    assert services.job_cancel(job=job)
    job.refresh_from_db()
    retry = services.job_retry(job=job, owner=user)
    assert (retry.draft, retry.draft_version, retry.batch) == (draft, version, batch)


@pytest.mark.parametrize("status", [Status.IDLE, Status.PROCESSING, Status.COMPLETED])
def test_retry_of_a_job_that_did_not_fail_is_refused(user, status):
    job = make_job(user, status=status)
    with pytest.raises(services.JobStateError, match="Only a failed or cancelled job"):
        services.job_retry(job=job, owner=user)
    assert VideoCreationJob.objects.count() == 1


def test_delete_removes_rows_then_files(user, data_dir, django_capture_on_commit_callbacks):
    job = make_job(user, status=Status.COMPLETED)
    services.resource_add(job_id=job.pk, kind="image", filename="poster.jpg", file_path="x")
    directory = data_dir / "videos" / job.pk
    directory.mkdir(parents=True)
    (directory / "output.mp4").write_bytes(b"x")
    with django_capture_on_commit_callbacks(execute=True):
        services.job_delete(job=job)
    assert not VideoCreationJob.objects.filter(pk=job.pk).exists()
    assert not VideoResource.objects.exists()  # the database cascaded
    assert not directory.exists()


def test_a_delete_that_fails_is_logged_and_the_job_is_gone(
    user, data_dir, django_capture_on_commit_callbacks, caplog
):
    job = make_job(user, status=Status.COMPLETED)
    # A file where the job's directory should be: removing it fails for real, even as root.
    (data_dir / "videos").mkdir()
    (data_dir / "videos" / job.pk).write_bytes(b"not a directory")
    with django_capture_on_commit_callbacks(execute=True):
        services.job_delete(job=job)
    assert not VideoCreationJob.objects.filter(pk=job.pk).exists()
    assert f"Could not delete the files of job {job.pk}" in caplog.text


def test_deleting_a_job_whose_files_are_already_gone_logs_nothing(
    user, data_dir, django_capture_on_commit_callbacks, caplog
):
    job = make_job(user, status=Status.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        services.job_delete(job=job)
    assert "Could not delete" not in caplog.text


def test_delete_during_a_download_is_refused_and_changes_nothing(user, data_dir, logged_in):
    job = make_job(user, status=Status.PROCESSING, stage=Stage.DOWNLOADING)
    response = logged_in.post(reverse("jobs:delete", args=[job.pk]), follow=True)
    assert "cancel it before deleting it" in response.content.decode()
    job.refresh_from_db()
    assert (job.status, job.stage) == (Status.PROCESSING, Stage.DOWNLOADING)


def test_retry_and_delete_through_the_pages(logged_in, user, django_capture_on_commit_callbacks):
    failed = make_job(user, status=Status.FAILED, error="Boom")
    with django_capture_on_commit_callbacks():
        response = logged_in.post(reverse("jobs:retry", args=[failed.pk]))
    retry = VideoCreationJob.objects.get(retry_of=failed)
    assert response["Location"] == retry.get_absolute_url()
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(reverse("jobs:delete", args=[failed.pk]))
    assert response["Location"] == reverse("jobs:index")
    assert not VideoCreationJob.objects.filter(pk=failed.pk).exists()
    retry.refresh_from_db()
    assert retry.retry_of is None  # the database set it null


# --- Cancel, honestly -----------------------------------------------------------------------


@responses.activate
def test_a_late_result_of_a_cancelled_job_is_kept(
    gemini, user, mp4_bytes, data_dir, django_capture_on_commit_callbacks
):
    job = make_job(
        user,
        status=Status.PROCESSING,
        stage=Stage.GENERATING,
        operation_name=OPERATION,
        submitted_at=timezone.now(),
    )
    responses.get(f"{BASE}/{OPERATION}", json={"name": OPERATION})
    responses.get(
        f"{BASE}/{OPERATION}",
        json={
            "name": OPERATION,
            "done": True,
            "response": {"generateVideoResponse": {"generatedSamples": [{"video": {"uri": FILE}}]}},
        },
    )
    responses.get(FILE, body=mp4_bytes, content_type="video/mp4")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.job_cancel(job=job)
    job.refresh_from_db()
    assert (job.status, job.error) == (Status.FAILED, "Cancelled by user")
    # Veo was not done at the first poll: the next is a one-off schedule, not a sleep.
    assert not VideoResource.objects.filter(job=job).exists()
    next_poll = Schedule.objects.get(func="jobs.tasks.collect_late_result")
    Schedule.objects.filter(pk=next_poll.pk).update(next_run=timezone.now())
    scheduler()  # django-q2's own, as the cluster runs it; sync mode runs the task here
    late = VideoResource.objects.get(job=job, filename="late-result.mp4")
    assert late.type == "video"
    assert (data_dir / late.file_path).read_bytes() == mp4_bytes


@responses.activate
def test_cancelling_a_job_never_submitted_sends_nothing_later(
    gemini, user, django_capture_on_commit_callbacks
):
    job = make_job(user)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.job_cancel(job=job)
    pipeline.collect_late_result(job.pk)
    assert len(responses.calls) == 0
    assert not VideoResource.objects.filter(job=job).exists()


def test_a_jobs_prompt_is_kept_folded_for_search_however_it_is_saved(user):
    job = services.job_create(
        owner=user, prompt_text="Crème brûlée in KYŌTO, 京都", model=MODEL, options=JOB_OPTIONS
    )
    assert VideoCreationJob.objects.get(pk=job.pk).search_text == "creme brulee in kyoto, 京都"
    job.prompt_text = "Épée"
    job.save(update_fields=["prompt_text"])
    assert VideoCreationJob.objects.get(pk=job.pk).search_text == "epee"
    # A partial save that does not write the prompt leaves it alone, and reads nothing.
    loaded = VideoCreationJob.objects.only("pk", "progress").get(pk=job.pk)
    loaded.progress = 5
    loaded.save(update_fields=["progress"])
    assert "prompt_text" in loaded.get_deferred_fields()
