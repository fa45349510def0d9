"""Retention: the sweep deletes old finished jobs with their files, and keeps what it must.

Also the space figures: each job's stored bytes, measured through the storage API, on the
usage page and in the admin. Jobs are real rows with real files in the test's data dir;
the completed takes come from the emulator through the real pipeline.
"""

import logging
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone

from jobs import retention, services, storage
from jobs.models import VideoCreationJob
from jobs.veo.base import Task
from tests.conftest import run_due_jobs
from tests.factories import JOB_OPTIONS, MODEL, Stage, Status, make_batch, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def policy(settings):
    """The shipped defaults: failed jobs go after 30 days, completed ones are kept."""
    settings.RETENTION_FAILED_DAYS = 30
    settings.RETENTION_UNREVIEWED_DAYS = 0
    settings.VEO_RETRY_BASE_SECONDS = 0.01
    return settings


def days_ago(days):
    return timezone.now() - timedelta(days=days)


def finished(owner, status, *, ended_days_ago, **fields):
    """Save a finished, settled job that ended that many days ago, with files in storage."""
    ended = days_ago(ended_days_ago)
    job = make_job(
        owner,
        status=status,
        stage=Stage.DONE,
        created_at=ended - timedelta(minutes=5),
        completed_at=ended,
        files_settled_at=ended,
        **fields,
    )
    if status == Status.COMPLETED:
        job.video_url = storage.relative_output(job.pk)
        job.save(update_fields=["video_url"])
        storage.store_bytes(job.video_url, b"video bytes")
    else:  # a failed image-to-video job keeps its first frame
        frame = storage.relative_resource(job.pk, "image", "first-frame.png")
        storage.store_bytes(frame, b"png bytes")
        services.resource_add(
            job_id=job.pk, kind="image", filename="first-frame.png", file_path=frame
        )
    services.job_write_metadata_file(job.pk)
    job.refresh_from_db()
    return job


def directory(data_dir, job):
    return data_dir / "videos" / job.pk


def sweep(django_capture_on_commit_callbacks):
    """Run the recovery sweep as the cluster does, the deletes' file removal included."""
    with django_capture_on_commit_callbacks(execute=True):
        return services.jobs_recover()


def take(user, django_capture_on_commit_callbacks, prompt="A heron lands", **fields):
    """Make a completed take through the real pipeline and the emulator (real MP4 files)."""
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(
            owner=user, prompt_text=prompt, model=MODEL, options=JOB_OPTIONS, **fields
        )
    run_due_jobs()
    job.refresh_from_db()
    assert job.status == Status.COMPLETED, job.error
    return job


def age(job, days):
    """Move a job's creation and end that many days into the past."""
    VideoCreationJob.objects.filter(pk=job.pk).update(
        created_at=days_ago(days), completed_at=days_ago(days)
    )


def bytes_on_disk(path):
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# --- What the policy deletes ----------------------------------------------------------


@pytest.mark.parametrize("cancelled", [False, True], ids=["failed", "cancelled"])
def test_an_old_failed_job_is_deleted_with_its_directory_and_logged(
    user, data_dir, django_capture_on_commit_callbacks, caplog, cancelled
):
    old = finished(
        user,
        Status.FAILED,
        ended_days_ago=31,
        error=services.CANCELLED_MESSAGE if cancelled else "Boom",
        cancelled_at=days_ago(31) if cancelled else None,
    )
    assert directory(data_dir, old).is_dir()
    with caplog.at_level(logging.INFO, logger="jobs.services"):
        result = sweep(django_capture_on_commit_callbacks)
    assert result["deleted"] == 1
    assert not VideoCreationJob.objects.filter(pk=old.pk).exists()
    assert not directory(data_dir, old).exists()
    assert f"Retention deleted failed job {old.pk} of ana" in caplog.text
    assert "Retention deleted 1 job(s): 1 failed" in caplog.text


def test_a_young_failed_job_is_kept(user, data_dir, django_capture_on_commit_callbacks):
    young = finished(user, Status.FAILED, ended_days_ago=29)
    assert sweep(django_capture_on_commit_callbacks)["deleted"] == 0
    assert VideoCreationJob.objects.filter(pk=young.pk).exists()
    assert directory(data_dir, young).is_dir()


def test_failed_days_of_zero_keeps_failed_jobs_forever(
    policy, user, data_dir, django_capture_on_commit_callbacks
):
    policy.RETENTION_FAILED_DAYS = 0
    ancient = finished(user, Status.FAILED, ended_days_ago=3650)
    assert sweep(django_capture_on_commit_callbacks)["deleted"] == 0
    assert directory(data_dir, ancient).is_dir()


def test_a_failed_job_that_never_ended_counts_from_its_creation(user):
    old = make_job(
        user, status=Status.FAILED, created_at=days_ago(31), files_settled_at=days_ago(1)
    )
    young = make_job(
        user, status=Status.FAILED, created_at=days_ago(29), files_settled_at=days_ago(1)
    )
    assert list(retention.expired()) == [old]
    assert young not in retention.expired()


@pytest.mark.parametrize(("unreviewed_days", "deleted"), [(0, False), (30, True)])
def test_an_old_completed_take_goes_only_when_the_unreviewed_option_is_on(
    policy, veo, user, data_dir, django_capture_on_commit_callbacks, unreviewed_days, deleted
):
    policy.RETENTION_UNREVIEWED_DAYS = unreviewed_days
    done = take(user, django_capture_on_commit_callbacks)
    sweep(django_capture_on_commit_callbacks)  # settles it
    age(done, 31)
    assert bytes_on_disk(directory(data_dir, done)) > 10_000  # a real MP4, poster, audio
    result = sweep(django_capture_on_commit_callbacks)
    assert result["deleted"] == int(deleted)
    assert VideoCreationJob.objects.filter(pk=done.pk).exists() is not deleted
    assert directory(data_dir, done).exists() is not deleted


def test_a_sweep_deletes_a_bounded_chunk_oldest_first(user, data_dir):
    jobs = [finished(user, Status.FAILED, ended_days_ago=days) for days in (40, 60, 50)]
    assert services.jobs_delete_expired(limit=2) == 2
    assert list(VideoCreationJob.objects.values_list("pk", flat=True)) == [jobs[0].pk]


# --- What it never deletes ---------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.IDLE, Status.PROCESSING])
def test_a_running_job_is_protected_and_never_deleted(
    policy, user, data_dir, django_capture_on_commit_callbacks, status
):
    policy.RETENTION_FAILED_DAYS = policy.RETENTION_UNREVIEWED_DAYS = 1
    running = make_job(
        user,
        status=status,
        stage=Stage.GENERATING if status == Status.PROCESSING else Stage.QUEUED,
        created_at=days_ago(90),
        # Marked settled too (no code writes this on a running job): its status alone keeps it.
        files_settled_at=days_ago(90),
        lease_expires_at=timezone.now() + timedelta(minutes=5),
        next_run_at=timezone.now() + timedelta(minutes=5),
    )
    storage.store_bytes(storage.relative_resource(running.pk, "image", "first-frame.png"), b"png")
    assert VideoCreationJob.objects.filter(retention.protected(), pk=running.pk).exists()
    assert sweep(django_capture_on_commit_callbacks)["deleted"] == 0
    running.refresh_from_db()
    assert running.status == status
    assert directory(data_dir, running).is_dir()


def test_the_source_of_a_chain_is_kept_while_it_has_children(
    policy, veo, user, data_dir, django_capture_on_commit_callbacks
):
    policy.RETENTION_UNREVIEWED_DAYS = 30
    source = take(user, django_capture_on_commit_callbacks, prompt="A boat leaves port")
    extension = finished(user, Status.COMPLETED, ended_days_ago=1, task=Task.EXTEND, parent=source)
    sweep(django_capture_on_commit_callbacks)  # settles the source
    age(source, 60)
    assert sweep(django_capture_on_commit_callbacks)["deleted"] == 0
    assert (directory(data_dir, source) / "output.mp4").is_file()
    # Once its extension is gone too, nothing needs the source's video.
    age(extension, 45)
    assert sweep(django_capture_on_commit_callbacks)["deleted"] == 1  # the extension
    assert sweep(django_capture_on_commit_callbacks)["deleted"] == 1  # then the source
    assert not directory(data_dir, source).exists()


def test_a_failed_job_whose_retry_exists_is_kept(
    user, data_dir, django_capture_on_commit_callbacks
):
    original = finished(user, Status.FAILED, ended_days_ago=40)
    finished(user, Status.COMPLETED, ended_days_ago=39, retry_of=original)
    assert sweep(django_capture_on_commit_callbacks)["deleted"] == 0
    assert directory(data_dir, original).is_dir()


def test_jobs_of_a_batch_still_running_are_kept_until_it_ends(
    user, data_dir, django_capture_on_commit_callbacks
):
    batch = make_batch(user)
    old = finished(user, Status.FAILED, ended_days_ago=40, batch=batch)
    running = make_job(user, batch=batch, status=Status.PROCESSING, stage=Stage.GENERATING)
    unrelated = finished(user, Status.FAILED, ended_days_ago=40)
    assert sweep(django_capture_on_commit_callbacks)["deleted"] == 1
    assert set(VideoCreationJob.objects.filter(batch=batch)) == {old, running}
    assert not VideoCreationJob.objects.filter(pk=unrelated.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.job_fail(running.pk, message="Boom")
    assert sweep(django_capture_on_commit_callbacks)["deleted"] == 1
    assert not VideoCreationJob.objects.filter(pk=old.pk).exists()


def test_a_job_whose_files_a_task_is_still_writing_is_kept(
    user, data_dir, django_capture_on_commit_callbacks
):
    cancelled = finished(user, Status.FAILED, ended_days_ago=40, error=services.CANCELLED_MESSAGE)
    services.job_files_unsettle(cancelled.pk)  # a late result's download has begun
    part = directory(data_dir, cancelled) / "resources" / "videos" / ".tmp-late.mp4"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"half a video")  # written just now: the sweep leaves it be
    assert sweep(django_capture_on_commit_callbacks)["deleted"] == 0
    assert part.is_file()


def test_the_delete_checks_protection_again_when_it_runs(user, data_dir):
    """A take read as expired, then extended before its delete: the delete refuses."""
    source = finished(user, Status.COMPLETED, ended_days_ago=40)
    make_job(user, task=Task.EXTEND, parent=source)
    with pytest.raises(services.JobStateError):
        services.job_delete(job=source, keep=retention.protected())
    assert VideoCreationJob.objects.filter(pk=source.pk).exists()


# --- Space ------------------------------------------------------------------------------


def test_a_finished_take_knows_the_bytes_of_its_files(
    veo, user, data_dir, django_capture_on_commit_callbacks
):
    done = take(user, django_capture_on_commit_callbacks)
    on_disk = bytes_on_disk(directory(data_dir, done))
    assert done.stored_bytes == on_disk > 10_000
    assert sweep(django_capture_on_commit_callbacks)["settled"] == 1
    done.refresh_from_db()
    assert done.stored_bytes == bytes_on_disk(directory(data_dir, done))


def test_files_a_killed_task_left_unrecorded_are_measured_when_the_sweep_settles(
    user, data_dir, django_capture_on_commit_callbacks
):
    job = finished(user, Status.COMPLETED, ended_days_ago=1)
    before = job.stored_bytes
    # A transcript stored and its row added, then a kill before metadata.json was written.
    services.job_files_unsettle(job.pk)
    vtt = storage.relative_resource(job.pk, "transcript", "transcript.vtt")
    storage.store_bytes(vtt, b"WEBVTT\n\n" + b"x" * 500)
    services.resource_add(
        job_id=job.pk, kind="transcript", filename="transcript.vtt", file_path=vtt
    )
    assert sweep(django_capture_on_commit_callbacks)["settled"] == 1
    job.refresh_from_db()
    assert job.stored_bytes == before + 508 == bytes_on_disk(directory(data_dir, job))


def test_the_sweep_measures_jobs_finished_before_the_column(
    user, data_dir, django_capture_on_commit_callbacks
):
    job = finished(user, Status.COMPLETED, ended_days_ago=2)
    VideoCreationJob.objects.filter(pk=job.pk).update(stored_bytes=None)
    assert sweep(django_capture_on_commit_callbacks)["measured"] == 1
    job.refresh_from_db()
    assert job.stored_bytes == bytes_on_disk(directory(data_dir, job))


def test_measuring_asks_the_storage_api_not_the_local_disk(settings, user):
    """A storage with no local paths at all (as a bucket has none) is measured the same."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    job = make_job(user, status=Status.COMPLETED)
    job.video_url = storage.relative_output(job.pk)
    job.save()
    default_storage.save(job.video_url, ContentFile(b"x" * 1000))
    poster = storage.relative_resource(job.pk, "image", "poster.jpg")
    default_storage.save(poster, ContentFile(b"y" * 24))
    services.resource_add(job_id=job.pk, kind="image", filename="poster.jpg", file_path=poster)
    # A resource whose file is gone counts nothing; so does the missing metadata.json.
    services.resource_add(
        job_id=job.pk,
        kind="audio",
        filename="audio.m4a",
        file_path=storage.relative_resource(job.pk, "audio", "audio.m4a"),
    )
    assert services.job_measure_files(job.pk) == 1024
    job.refresh_from_db()
    assert job.stored_bytes == 1024


@pytest.fixture
def stored(user, other_user):
    """Two people's finished jobs with files: ana 2 jobs, bo 1, all measured."""
    jobs = {
        "ana": [
            finished(user, Status.COMPLETED, ended_days_ago=1),
            finished(user, Status.FAILED, ended_days_ago=400),  # long before any period
        ],
        "bo": [finished(other_user, Status.COMPLETED, ended_days_ago=1)],
    }
    storage.store_bytes(storage.relative_output(jobs["bo"][0].pk), b"z" * 3 * 1024 * 1024)
    services.job_measure_files(jobs["bo"][0].pk)
    make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING)  # not measured yet
    return {
        name: sum(VideoCreationJob.objects.get(pk=j.pk).stored_bytes for j in owned)
        for name, owned in jobs.items()
    }


def test_usage_page_shows_my_space_humanized(logged_in, stored):
    response = logged_in.get(reverse("jobs:usage"))
    space = response.context["space"]
    assert (space["bytes"], space["jobs"], space["unmeasured"]) == (stored["ana"], 2, 1)
    assert [row["owner__username"] for row in space["people"]] == ["ana"]
    page = response.content.decode()
    assert f"<dd>{filesizeformat(stored['ana'])}</dd>" in page
    assert "1 job still running or not yet measured is left out" in page


def test_team_usage_shows_space_by_person_largest_first(client, manager, stored):
    client.force_login(manager)
    response = client.get(reverse("jobs:usage"), {"scope": "team"})
    space = response.context["space"]
    assert space["bytes"] == stored["ana"] + stored["bo"]
    assert [(r["owner__username"], r["bytes"]) for r in space["people"]] == [
        ("bo", stored["bo"]),
        ("ana", stored["ana"]),
    ]
    page = response.content.decode()
    assert "<td>bo</td><td>1</td><td>3.0\xa0MB</td>" in page
    assert f"<dd>{filesizeformat(stored['ana'] + stored['bo'])}</dd>" in page


def test_admin_job_list_shows_each_jobs_space_and_the_listed_total(admin_client, stored):
    page = admin_client.get(reverse("admin:jobs_videocreationjob_changelist")).content.decode()
    assert '<td class="field-stored">3.0\xa0MB</td>' in page
    summary = page[page.index('<section class="module space-summary">') :]
    assert f"<dd>{filesizeformat(stored['ana'] + stored['bo'])}</dd>" in summary
    assert "<td>bo</td><td>1</td><td>3.0\xa0MB</td>" in summary
