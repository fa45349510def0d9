"""Every write to a job's state goes through here.

Each transition is a conditional UPDATE that names the state it leaves, so a second
delivery of the same task, a cancel racing a worker, or two workers holding the same
job can never both act: only the caller whose UPDATE changed one row goes on.
"""

from functools import partial

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from . import catalog, storage
from .models import VideoCreationJob, VideoResource

Status = VideoCreationJob.Status
Stage = VideoCreationJob.Stage

CANCELLED_MESSAGE = "Cancelled by user"


def enqueue_run(job_id):
    """Queue the pipeline for a job once the current transaction commits."""
    transaction.on_commit(partial(async_task, "jobs.tasks.run_job", job_id, group="jobs"))


def job_create(
    *, owner, prompt_text, model, options, image=None, last_frame=None, prompt_id=None
) -> VideoCreationJob:
    """Validate and store a new job with its input frames, then queue it for generation.

    `image` and `last_frame` are jobs.frames.Frame objects; they are written under the
    job's resources/images/ before the row commits, and removed again if it does not.
    """
    catalog.validate_options(
        model, options, has_image=image is not None, has_last_frame=last_frame is not None
    )
    estimate = catalog.estimate_cost(
        model,
        resolution=options["resolution"],
        duration_seconds=options["duration_seconds"],
        samples=options.get("sample_count", 1),
    )
    job = VideoCreationJob(
        owner=owner,
        prompt_text=prompt_text,
        model=model,
        options=options,
        metadata={"estimated_cost_usd": str(estimate)},
    )
    if prompt_id:
        job.prompt_id = prompt_id
    job.full_clean(exclude=["owner"])
    try:
        with transaction.atomic():
            job.save(force_insert=True)
            for stem, frame in ((storage.FIRST_FRAME, image), (storage.LAST_FRAME, last_frame)):
                if frame is not None:
                    _store_frame(job, stem, frame)
            enqueue_run(job.pk)
    except BaseException:
        storage.delete_job_files(job.pk)
        raise
    return job


def _store_frame(job, stem, frame):
    filename = f"{stem}.{frame.extension}"
    relative = storage.relative_resource(job.pk, "image", filename)
    storage.write_bytes(storage.absolute(relative), frame.data)
    resource = VideoResource(job=job, type=VideoResource.Type.IMAGE, filename=filename)
    resource.file_path = relative
    resource.url = resource.get_absolute_url()
    resource.save(force_insert=True)


def job_cancel(*, job) -> bool:
    """Stop waiting for a job that has not finished; return whether it was cancelled.

    Veo has no cancel call: a generation already submitted may still be billed.
    """
    now = timezone.now()
    changed = VideoCreationJob.objects.filter(
        pk=job.pk, status__in=[Status.IDLE, Status.PROCESSING]
    ).update(
        status=Status.FAILED,
        error=CANCELLED_MESSAGE,
        completed_at=now,
        updated_at=now,
    )
    return changed == 1


def job_transition(job_id, *, from_stage, to_stage, **changes) -> bool:
    """Move a processing job from one stage to the next; return whether this caller did."""
    now = timezone.now()
    return (
        VideoCreationJob.objects.filter(
            pk=job_id, status=Status.PROCESSING, stage=from_stage
        ).update(stage=to_stage, heartbeat_at=now, updated_at=now, **changes)
        == 1
    )


def job_claim(job_id) -> bool:
    """Take a queued job for submission: idle -> processing/submitting at 10 %."""
    now = timezone.now()
    return (
        VideoCreationJob.objects.filter(pk=job_id, status=Status.IDLE).update(
            status=Status.PROCESSING,
            stage=Stage.SUBMITTING,
            progress=10,
            heartbeat_at=now,
            updated_at=now,
        )
        == 1
    )


def job_heartbeat(job_id, *, stage, progress=None) -> bool:
    """Record that a worker still holds the job; return False if it was taken away."""
    changes = {"heartbeat_at": timezone.now(), "updated_at": timezone.now()}
    if progress is not None:
        changes["progress"] = progress
    return (
        VideoCreationJob.objects.filter(pk=job_id, status=Status.PROCESSING, stage=stage).update(
            **changes
        )
        == 1
    )


def job_fail(job_id, *, message, stage=None) -> bool:
    """End an unfinished job as failed with a message a person can act on."""
    now = timezone.now()
    jobs = VideoCreationJob.objects.filter(pk=job_id, status__in=[Status.IDLE, Status.PROCESSING])
    if stage is not None:
        jobs = jobs.filter(stage=stage)
    changed = jobs.update(status=Status.FAILED, error=message, completed_at=now, updated_at=now)
    if changed:
        job_write_metadata_file(job_id)
    return changed == 1


def job_complete(job_id, *, video_path, info, poster_path, sha256, size) -> bool:
    """Record the finished video and its poster, then mark the job completed at 100 %."""
    now = timezone.now()
    with transaction.atomic():
        job = VideoCreationJob.objects.get(pk=job_id)
        if job.status != Status.PROCESSING or job.stage != Stage.FINISHING:
            return False
        metadata = {
            **(job.metadata or {}),
            "video": {
                "path": video_path,
                "bytes": size,
                "sha256": sha256,
                "duration_seconds": round(info.duration, 3),
                "width": info.width,
                "height": info.height,
                "has_audio": info.has_audio,
            },
        }
        changed = VideoCreationJob.objects.filter(
            pk=job_id, status=Status.PROCESSING, stage=Stage.FINISHING
        ).update(
            status=Status.COMPLETED,
            stage=Stage.DONE,
            progress=100,
            video_url=video_path,
            completed_at=now,
            updated_at=now,
            metadata=metadata,
        )
        if not changed:
            return False
        VideoResource.objects.filter(job_id=job_id, filename=storage.POSTER_NAME).delete()
        poster = VideoResource(
            job_id=job_id, type=VideoResource.Type.IMAGE, filename=storage.POSTER_NAME
        )
        poster.file_path = poster_path
        poster.url = poster.get_absolute_url()
        poster.save(force_insert=True)
    job_write_metadata_file(job_id)
    return True


def job_write_metadata_file(job_id) -> None:
    """Write the job's metadata.json (no secrets: options, state and provider answer)."""
    job = VideoCreationJob.objects.filter(pk=job_id).first()
    directory = storage.job_dir(job_id)
    if job is None or not directory.is_dir():
        return
    resources = [
        {"id": r.pk, "type": r.type, "filename": r.filename, "filePath": r.file_path}
        for r in job.resources.all()
    ]
    storage.write_json(
        directory / "metadata.json",
        {
            "id": job.pk,
            "promptId": job.prompt_id,
            "promptText": job.prompt_text,
            "model": job.model,
            "options": job.options,
            "status": job.status,
            "error": job.error,
            "videoUrl": job.video_url,
            "operationName": job.operation_name,
            "createdAt": job.created_at,
            "submittedAt": job.submitted_at,
            "completedAt": job.completed_at,
            "owner": job.owner.get_username(),
            "metadata": job.metadata,
            "resources": resources,
        },
    )


def ensure_first_user(*, username, email, password):
    """Create the first superuser if the studio has no users; return (user, created)."""
    users = get_user_model()
    if users.objects.exists():
        return None, False
    user = users.objects.create_superuser(username=username, email=email, password=password)
    return user, True
