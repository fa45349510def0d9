"""What a kill leaves in a finished job's directory, the recovery sweep finishes or cleans.

Each test builds the state a SIGKILL leaves (the rows through the real services, the
files on disk as the killed step left them) and runs the sweep.
"""

import json
import os
import time

import pytest
from django.utils import timezone

from jobs import services, storage
from jobs.media import VideoInfo
from jobs.models import VideoResource
from tests.factories import MODEL, Stage, Status, make_job

pytestmark = pytest.mark.django_db

OPERATION = f"models/{MODEL}/operations/crash1"


def left_behind(path, *, seconds_ago):
    """Write a temporary file as a killed process leaves it: half written, untouched since."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'{"half": ')
    then = time.time() - seconds_ago
    os.utime(path, (then, then))
    return path


def complete(job, data_dir):
    """Take a finishing job through job_complete, as _finish does."""
    output = data_dir / storage.relative_output(job.pk)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(b"video")
    assert services.job_complete(
        job.pk,
        video_path=storage.relative_output(job.pk),
        info=VideoInfo(duration=4.0, width=1280, height=720, has_audio=False),
        sha256="0" * 64,
        size=5,
        resources=[],
    )
    return output.parent


@pytest.fixture
def finishing(user, data_dir):
    return make_job(
        user,
        status=Status.PROCESSING,
        stage=Stage.FINISHING,
        operation_name=OPERATION,
        submitted_at=timezone.now(),
    )


def test_a_kill_after_the_completion_commit_is_finished_by_the_sweep(finishing, data_dir, settings):
    directory = complete(finishing, data_dir)
    # The kill: the row says completed, metadata.json never landed, its temp file did.
    (directory / storage.METADATA_NAME).unlink()
    temp = left_behind(directory / ".tmp-k1ll3d.json", seconds_ago=settings.Q_TASK_TIMEOUT + 5)

    services.jobs_recover()

    on_disk = json.loads((directory / storage.METADATA_NAME).read_text())
    assert on_disk["status"] == "completed"
    assert on_disk["metadata"]["video"]["sha256"] == "0" * 64
    assert not temp.exists()
    assert not list(directory.rglob(".tmp-*"))


def test_a_killed_late_result_download_leaves_nothing_after_the_sweep(user, data_dir, settings):
    cancelled = make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING)
    cancelled.operation_name = OPERATION
    cancelled.save(update_fields=["operation_name"])
    assert services.job_cancel(job=cancelled)
    videos = data_dir / "videos" / cancelled.pk / "resources" / "videos"
    temp = left_behind(videos / ".tmp-l4te.mp4", seconds_ago=settings.Q_TASK_TIMEOUT + 5)

    services.jobs_recover()

    assert not temp.exists()
    on_disk = json.loads((data_dir / "videos" / cancelled.pk / "metadata.json").read_text())
    assert on_disk["error"] == services.CANCELLED_MESSAGE


def test_the_sweep_leaves_a_temp_file_a_live_task_may_still_be_writing(
    finishing, data_dir, settings
):
    directory = complete(finishing, data_dir)
    fresh = left_behind(directory / "resources" / "videos" / ".tmp-live.mp4", seconds_ago=1)
    services.jobs_recover()
    assert fresh.exists()  # younger than a task may live: its writer may be alive
    os.utime(fresh, (time.time() - settings.Q_TASK_TIMEOUT - 5,) * 2)
    services.jobs_recover()  # the next sweep, once no task can still hold it
    assert not fresh.exists()


def test_a_late_result_is_listed_in_metadata_json(user, data_dir):
    cancelled = make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING)
    (data_dir / "videos" / cancelled.pk).mkdir(parents=True)
    assert services.job_cancel(job=cancelled)
    relative = storage.relative_resource(cancelled.pk, "video", storage.LATE_RESULT_NAME)
    services.job_record_late_result(
        cancelled.pk, filename=storage.LATE_RESULT_NAME, file_path=relative
    )
    on_disk = json.loads((data_dir / "videos" / cancelled.pk / "metadata.json").read_text())
    assert [r["filename"] for r in on_disk["resources"]] == [storage.LATE_RESULT_NAME]
    assert VideoResource.objects.filter(job=cancelled).count() == 1


def test_a_stale_metadata_file_from_before_the_last_change_is_rewritten(
    finishing, data_dir, settings
):
    directory = complete(finishing, data_dir)
    metadata = directory / storage.METADATA_NAME
    # The kill came after an earlier write (say, a cancel's) and before this one's.
    metadata.write_text(json.dumps({"status": "processing"}))
    long_ago = time.time() - 3600
    os.utime(metadata, (long_ago, long_ago))
    services.jobs_recover()
    assert json.loads(metadata.read_text())["status"] == "completed"
    finishing.refresh_from_db()
    assert finishing.files_settled_at is not None
