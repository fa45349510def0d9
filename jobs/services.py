"""Every write to a job's state goes through here.

Each transition is a conditional UPDATE that names the state it leaves, so a second
delivery of the same task, a cancel racing a worker, or two workers holding the same
job can never both act: only the caller whose UPDATE changed one row goes on.
"""

import logging
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    Max,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.tasks import async_task

from . import catalog, limits, pricing, retention, signals, storage
from . import options as job_options
from .models import Batch, VideoCreationJob, VideoResource, Visibility
from .veo.base import Task
from .webhooks import services as webhooks

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.contrib.auth.models import AbstractBaseUser

    from drafts.models import DraftVersion

    from .frames import Frame

logger = logging.getLogger(__name__)

Status = VideoCreationJob.Status
Stage = VideoCreationJob.Stage

CANCELLED_MESSAGE = "Cancelled by user"
# A due time this far in the past means no ticker is running: the sweep enqueues the job.
TICKER_GRACE_SECONDS = 10
# Any constant works; it only has to be the same in every process.
CLAIM_LOCK_KEY = 7_105_310_471
BUDGET_LOCK_KEY = 7_105_310_472


class JobStateError(Exception):
    """The job is not in a state that allows this action; the message says why."""


def enqueue_run(job_id):
    """Queue the pipeline for a job once the current transaction commits."""
    transaction.on_commit(partial(async_task, "jobs.tasks.run_job", job_id, group="jobs"))


def enqueue_late_result(job_id):
    transaction.on_commit(
        partial(async_task, "jobs.tasks.collect_late_result", job_id, group="jobs")
    )


def enqueue_provider_cancel(job_id):
    """Queue the cancel at Google (then the late result) once the cancel commits."""
    transaction.on_commit(
        partial(async_task, "jobs.tasks.cancel_at_provider", job_id, group="jobs")
    )


def job_create(
    *,
    owner: "AbstractBaseUser",
    prompt_text: str,
    model: str,
    options: dict,
    task: Task | str | None = None,
    parent: VideoCreationJob | None = None,
    image: "Frame | None" = None,
    last_frame: "Frame | None" = None,
    reference_images: "Sequence[Frame]" = (),
    prompt_id: str | None = None,
    retry_of: VideoCreationJob | None = None,
    draft_version: "DraftVersion | None" = None,
    batch: Batch | None = None,
    check_budget: bool = True,
    check_limit: bool = True,
) -> VideoCreationJob:
    """Validate and store a new job with its input images, then queue it for generation.

    Every way of making a job comes here, so each gets the same rules: the prompt's
    length (jobs.options), and what the catalog says the model does with this task, its
    options, its images and its parent (catalog.validate_request), all before anything
    is stored or queued. `task` left out is image to video when frames come, reference
    images to video when references do, else text to video. `parent` is the job whose
    video an extend, edit or upscale starts from; an edit or upscale is as long as it.
    `image`, `last_frame` and `reference_images` are jobs.frames.Frame objects; they are
    written under the job's resources/images/ (first-frame, last-frame, reference-0,
    reference-1, ...) before the row commits, and removed again if it does not. A job
    run from a draft points at the version it ran (`draft_version`) and at its draft.
    """
    reference_images = tuple(reference_images)
    if task is None:
        task = _implied_task(image or last_frame, reference_images)
    job_options.check_prompt_length(prompt_text)
    catalog.validate_request(
        model,
        task=task,
        options=options,
        image_count=int(image is not None) + int(last_frame is not None),
        has_last_frame=last_frame is not None,
        reference_count=len(reference_images),
        parent=parent,
    )
    task = Task(task)
    if task in (Task.EDIT, Task.UPSCALE):
        options = {**options, "duration_seconds": catalog.chain_seconds(parent)}
    job = VideoCreationJob(
        owner=owner,
        prompt_text=prompt_text,
        model=model,
        options=options,
        task=task.value,
        parent=parent,
        estimated_cost_usd=pricing.job_estimate(model, options),
        # Which Google made it: a Gemini API video cannot be extended on Vertex, nor back.
        metadata={"provider": catalog.family()},
        retry_of=retry_of,
        draft_id=draft_version.draft_id if draft_version else None,
        draft_version=draft_version,
        batch=batch,
    )
    if prompt_id:
        job.prompt_id = prompt_id
    job.full_clean(exclude=["owner", "parent"])
    try:
        with transaction.atomic():
            if check_limit:
                limits.check_creation_limit(owner=owner, count=1)
            if check_budget:
                _lock_writers(BUDGET_LOCK_KEY)
                pricing.check_budgets(owner=owner, amount=job.estimated_cost_usd)
            job.save(force_insert=True)
            if check_budget:
                webhooks.budgets_check(owner.pk)
            stems = [(storage.FIRST_FRAME, image), (storage.LAST_FRAME, last_frame)]
            stems += [(storage.reference_stem(i), f) for i, f in enumerate(reference_images)]
            for stem, frame in stems:
                if frame is not None:
                    _store_frame(job, stem, frame)
            enqueue_run(job.pk)
    except BaseException:
        _delete_files(job.pk)  # never hides why the create failed
        raise
    return job


def _implied_task(frame, reference_images) -> Task:
    if reference_images:
        return Task.REFERENCES
    return Task.IMAGE if frame is not None else Task.TEXT


def _store_frame(job, stem, frame):
    filename = f"{stem}.{frame.extension}"
    relative = storage.relative_resource(job.pk, "image", filename)
    storage.store_bytes(relative, frame.data)
    resource_add(
        job_id=job.pk, kind=VideoResource.Type.IMAGE, filename=filename, file_path=relative
    )


def job_retry(*, job, owner) -> VideoCreationJob:
    """Create a new job with a failed job's prompt, task, parent, options and images.

    The retry joins the failed job's batch only when it is the batch owner's own: someone
    else's retry (staff seeing everyone's work) is theirs, outside that person's batch.
    """
    if job.status != Status.FAILED:
        raise JobStateError("Only a failed or cancelled job can be retried.")
    frames, references = {}, {}
    for resource in job.resources.filter(type=VideoResource.Type.IMAGE):
        stem, _, extension = resource.filename.rpartition(".")
        if not storage.exists(resource.file_path):
            continue
        if stem in (storage.FIRST_FRAME, storage.LAST_FRAME):
            frames[stem] = _StoredFrame(storage.read_bytes(resource.file_path), extension)
        elif storage.reference_index(stem) is not None:
            data = storage.read_bytes(resource.file_path)
            references[storage.reference_index(stem)] = _StoredFrame(data, extension)
    first = frames.get(storage.FIRST_FRAME) or frames.get(storage.LAST_FRAME)
    # A job made before tasks existed says text to video whatever its frames were.
    task = job.task if job.task != Task.TEXT else _implied_task(first, references)
    return job_create(
        owner=owner,
        prompt_text=job.prompt_text,
        model=job.model,
        options=job.options,
        task=task,
        parent=job.parent,
        image=frames.get(storage.FIRST_FRAME),
        last_frame=frames.get(storage.LAST_FRAME),
        reference_images=[references[i] for i in sorted(references)],
        prompt_id=job.prompt_id,
        retry_of=job,
        draft_version=job.draft_version,
        batch=job.batch if owner.pk == job.owner_id else None,
    )


class _StoredFrame:
    """A frame read back from disk, shaped like jobs.frames.Frame for job_create."""

    def __init__(self, data, extension):
        self.data, self.extension = data, extension


def visibility_set(*, row, visibility):
    """Share a job or a batch with the team, or make it private again; return the row.

    A shared batch shares every job in it (jobs.models.JobQuerySet.shared_q); making it
    private again leaves a job shared on its own as it is.
    """
    if visibility not in Visibility.values:
        raise ValidationError({"visibility": "Choose private or shared."})
    changes = {"visibility": visibility}
    if isinstance(row, VideoCreationJob):
        changes["updated_at"] = timezone.now()  # the list pages' pollers see the change
    type(row).objects.filter(pk=row.pk).update(**changes)
    row.visibility = visibility
    return row


def job_delete(*, job, keep=None) -> None:
    """Remove a finished job's rows (resources cascade) and, after commit, its files.

    `keep` (a Q) refuses the delete if the job matches it when the delete runs, not only
    when the caller read it: the retention sweep passes retention.protected().
    """
    if not job.is_finished:
        raise JobStateError("This job is still running; cancel it before deleting it.")
    with transaction.atomic():
        jobs = VideoCreationJob.objects.filter(
            pk=job.pk, status__in=[Status.COMPLETED, Status.FAILED]
        )
        if keep is not None:
            # Locked first (PostgreSQL): a job being made from this one holds a key-share
            # lock on it until it commits, so the check below sees the new child.
            list(jobs.select_for_update().values_list("pk", flat=True))
            jobs = jobs.exclude(keep)
        deleted, _ = jobs.delete()
        if not deleted:
            raise JobStateError("This job changed while you were deleting it; try again.")
        transaction.on_commit(partial(_delete_files, job.pk))


def _delete_files(job_id):
    try:
        storage.delete_job_files(job_id)
    except (OSError, storage.StorageUnavailable):
        # The recovery sweep removes directories that no job owns.
        logger.exception("Could not delete the files of job %s; the sweep will retry", job_id)


def job_cancel(*, job) -> bool:
    """Stop waiting for a job that has not finished; return whether it was cancelled.

    A worker then asks Google to stop a submitted generation (the Interactions API has
    a cancel call; Veo's predictLongRunning has none). Either way it may still be
    billed, so its result, if it arrives, is kept on the cancelled job.
    """
    now = timezone.now()
    with transaction.atomic():
        changed = VideoCreationJob.objects.filter(
            pk=job.pk, status__in=[Status.IDLE, Status.PROCESSING]
        ).update(
            status=Status.FAILED,
            error=CANCELLED_MESSAGE,
            cancelled_at=now,
            completed_at=now,
            updated_at=now,
            lease_expires_at=None,
            actual_cost_usd=_zero_unless_submitted(),
            files_settled_at=None,
        )
        if changed and job.status == Status.PROCESSING:
            enqueue_provider_cancel(job.pk)
    if changed:
        job_write_metadata_file(job.pk)
        _job_ended(job.pk)
    return changed == 1


# --- Leases: one pipeline run at a time per job --------------------------------------


def lease_seconds():
    """Return how long a run may go unheard before another may take the job.

    Longer than a step's longest stretch between renewals (VEO_TASK_SLICE_SECONDS) plus
    two HTTP calls, so a live submit always holds its lease.
    """
    return (
        settings.VEO_TASK_SLICE_SECONDS
        + 2 * settings.VEO_HTTP_TIMEOUT
        + settings.VEO_LEASE_GRACE_SECONDS
    )


def job_lease_acquire(job_id, *, seconds):
    """Take the job's lease if it is free or expired; return its expiry, or None."""
    now = timezone.now()
    expires = now + timedelta(seconds=seconds)
    taken = (
        VideoCreationJob.objects.filter(pk=job_id)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(lease_expires_at=expires)
    )
    return expires if taken else None


def job_lease_renew(job_id, held, *, seconds, stage, **changes):
    """Extend a held lease while the job is still processing in `stage`.

    Return the new expiry, or None when the job was cancelled, moved on or taken over.
    """
    now = timezone.now()
    expires = now + timedelta(seconds=seconds)
    renewed = VideoCreationJob.objects.filter(
        pk=job_id, status=Status.PROCESSING, stage=stage, lease_expires_at=held
    ).update(lease_expires_at=expires, heartbeat_at=now, updated_at=now, **changes)
    return expires if renewed else None


def job_lease_release(job_id, held) -> None:
    VideoCreationJob.objects.filter(pk=job_id, lease_expires_at=held).update(lease_expires_at=None)


def job_schedule(job_id, held, *, at, **changes) -> bool:
    """Release a held lease and store when the job's next step is due (the ticker's cue).

    `changes` are what the step learnt (progress, counts of failed tries). Return whether
    this run still held the job; if not, whoever took it decides its next step.
    """
    return (
        VideoCreationJob.objects.filter(
            pk=job_id, status=Status.PROCESSING, lease_expires_at=held
        ).update(lease_expires_at=None, next_run_at=at, updated_at=timezone.now(), **changes)
        == 1
    )


def jobs_enqueue_due(*, limit=200) -> int:
    """Enqueue a run for each unfinished job whose next step is due; return how many.

    Run by every cluster's ticker about twice a second. Each job is taken by a
    conditional UPDATE on the due time it was read with, which moves the due time a
    lease ahead: of many tickers on many machines one enqueues it, and if its task is
    lost with a worker, the job comes due again once a run would have timed out.
    """
    now = timezone.now()
    due = list(
        VideoCreationJob.objects.active()
        .filter(next_run_at__lte=now)
        .order_by("next_run_at")
        .values_list("pk", "next_run_at")[:limit]
    )
    rearmed = now + timedelta(seconds=lease_seconds())
    queued = 0
    for job_id, at in due:
        taken = VideoCreationJob.objects.filter(pk=job_id, next_run_at=at).update(
            next_run_at=rearmed
        )
        if taken:
            async_task("jobs.tasks.run_job", job_id, group="jobs")
            queued += 1
    return queued


def job_wake(job_id) -> bool:
    """Make an unfinished job's next step due now and queue a run; return whether it was.

    Called when Google says the job's generation has ended (jobs/webhooks/inbound.py). The
    run polls Google as usual and handles what it answers, so a wake decides nothing;
    if the queued task is lost, the ticker finds the step due. A run already holding the
    job keeps it, and the one queued here leaves at once.
    """
    woke = VideoCreationJob.objects.active().filter(pk=job_id).update(next_run_at=timezone.now())
    if woke:
        enqueue_run(job_id)
    return woke == 1


# --- Pipeline transitions ------------------------------------------------------------


def job_claim(job_id) -> bool:
    """Take a queued job for submission if the provider has room: idle -> processing.

    The count of jobs in flight and the claim happen in one transaction under a lock
    (SQLite's IMMEDIATE transaction; a PostgreSQL advisory lock), so concurrent
    workers never exceed VEO_MAX_IN_FLIGHT.
    """
    now = timezone.now()
    with transaction.atomic():
        _lock_writers(CLAIM_LOCK_KEY)
        if VideoCreationJob.objects.in_flight().count() >= settings.VEO_MAX_IN_FLIGHT:
            return False
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


def _lock_writers(key):
    """Serialise a read-then-write across processes for the rest of the transaction.

    SQLite's IMMEDIATE transactions already hold the database's write lock; PostgreSQL
    takes a transaction-level advisory lock on `key`.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def job_mark_submit_started(job_id) -> bool:
    """Record, before the paid call, that a submit is going out; False if one already did."""
    now = timezone.now()
    return (
        VideoCreationJob.objects.filter(
            pk=job_id, status=Status.PROCESSING, stage=Stage.SUBMITTING, submitted_at=None
        ).update(submitted_at=now, heartbeat_at=now, updated_at=now)
        == 1
    )


def job_clear_submit_mark(job_id) -> None:
    """Forget a submit that Google certainly refused (a 429), so a later run may send it."""
    VideoCreationJob.objects.filter(
        pk=job_id, stage=Stage.SUBMITTING, operation_name__isnull=True
    ).update(submitted_at=None)


def job_record_operation(job_id, name) -> bool:
    """Save Google's operation name the moment it answers, whatever else happened meanwhile.

    A job cancelled during the submit still records it, so its result can be kept.
    Return whether the job is still processing and now generating.
    """
    now = timezone.now()
    VideoCreationJob.objects.filter(pk=job_id, operation_name__isnull=True).update(
        operation_name=name, updated_at=now
    )
    return job_transition(
        job_id, from_stage=Stage.SUBMITTING, to_stage=Stage.GENERATING, attempts=0, poll_failures=0
    )


def job_transition(job_id, *, from_stage, to_stage, **changes) -> bool:
    """Move a processing job from one stage to the next; return whether this caller did."""
    now = timezone.now()
    return (
        VideoCreationJob.objects.filter(
            pk=job_id, status=Status.PROCESSING, stage=from_stage
        ).update(stage=to_stage, heartbeat_at=now, updated_at=now, **changes)
        == 1
    )


UNKNOWN_COST = object()


def _zero_unless_submitted():
    """Return an expression: nothing billed if never submitted, else unknown (NULL)."""
    return Case(
        When(submitted_at__isnull=True, then=Value(pricing.ZERO)),
        default=Value(None),
        output_field=DecimalField(max_digits=10, decimal_places=4),
    )


def job_fail(job_id, *, message, stage=None, actual_cost=UNKNOWN_COST) -> bool:
    """End an unfinished job as failed with a message a person can act on.

    `actual_cost` is what Google bills for it: 0 when nothing was billed, None when
    unknown (a submit that may have gone through). Left out, it is 0 for a job never
    submitted and unknown otherwise.
    """
    now = timezone.now()
    jobs = VideoCreationJob.objects.filter(pk=job_id, status__in=[Status.IDLE, Status.PROCESSING])
    if stage is not None:
        jobs = jobs.filter(stage=stage)
    if actual_cost is UNKNOWN_COST:
        actual_cost = _zero_unless_submitted()
    changed = jobs.update(
        status=Status.FAILED,
        error=message,
        completed_at=now,
        updated_at=now,
        lease_expires_at=None,
        actual_cost_usd=actual_cost,
        files_settled_at=None,
    )
    if changed:
        storage.remove_temp_files(job_id)
        job_write_metadata_file(job_id)
        _job_ended(job_id)
    return changed == 1


def job_complete(
    job_id, *, video_path, info, sha256, size, resources, samples=1, billed=None
) -> bool:
    """Record the finished video and its resources, then mark the job completed at 100 %.

    `resources` are (type, filename, relative path) of the files the pipeline made:
    the poster, the audio track, extra samples. `billed` is (cost, seconds) when the
    pipeline knows them from Google's usage; else they come from the catalog's price.
    """
    now = timezone.now()
    with transaction.atomic():
        job = VideoCreationJob.objects.get(pk=job_id)
        if job.status != Status.PROCESSING or job.stage != Stage.FINISHING:
            return False
        made = [
            _resource(job_id, kind, filename, relative) for kind, filename, relative in resources
        ]
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
        # On the row, so that a list of jobs shows thumbnails without reading resources.
        for resource in made:
            if resource.filename == storage.POSTER_NAME:
                metadata["poster_url"] = resource.url
        cost, seconds = billed or pricing.billed(job, samples=samples)
        changed = VideoCreationJob.objects.filter(
            pk=job_id, status=Status.PROCESSING, stage=Stage.FINISHING
        ).update(
            actual_cost_usd=cost,
            billed_seconds=seconds,
            status=Status.COMPLETED,
            stage=Stage.DONE,
            progress=100,
            video_url=video_path,
            completed_at=now,
            updated_at=now,
            metadata=metadata,
            lease_expires_at=None,
            files_settled_at=None,
        )
        if not changed:
            return False
        for resource in made:
            VideoResource.objects.filter(job_id=job_id, filename=resource.filename).delete()
            resource.save(force_insert=True)
    job_write_metadata_file(job_id)
    _job_ended(job_id)
    return True


def job_record_late_result(job_id, *, filename, file_path) -> None:
    """Keep a cancelled job's video that arrived anyway, and record that Google billed it."""
    with transaction.atomic():
        job = VideoCreationJob.objects.get(pk=job_id)
        cost, seconds = pricing.billed(job, samples=1)
        VideoCreationJob.objects.filter(pk=job_id).update(
            actual_cost_usd=cost,
            billed_seconds=seconds,
            updated_at=timezone.now(),
            files_settled_at=None,
        )
        resource_add(
            job_id=job_id, kind=VideoResource.Type.VIDEO, filename=filename, file_path=file_path
        )
    job_write_metadata_file(job_id)


def job_files_unsettle(job_id) -> None:
    """Note that a task is about to write into a finished job's directory (a late result).

    If it is killed there, the sweep finds the job unsettled and cleans up after it.
    """
    VideoCreationJob.objects.filter(pk=job_id).update(files_settled_at=None)


def resource_add(*, job_id, kind, filename, file_path) -> VideoResource:
    resource = _resource(job_id, kind, filename, file_path)
    resource.save(force_insert=True)
    return resource


def _resource(job_id, kind, filename, file_path) -> VideoResource:
    """Return an unsaved resource with its URL, which its id (made here) determines."""
    resource = VideoResource(job_id=job_id, type=kind, filename=filename, file_path=file_path)
    resource.url = resource.get_absolute_url()
    return resource


def job_write_metadata_file(job_id) -> None:
    """Write the job's metadata.json (no secrets: options, state and provider answer).

    With the storage unreachable it is left to the recovery sweep, which writes it once
    the job's row is newer than its file (files_settled_at stays empty until then).
    """
    try:
        _write_metadata_file(job_id)
    except storage.StorageUnavailable:
        logger.warning("metadata.json of job %s is left to the sweep", job_id)


def _write_metadata_file(job_id):
    job = VideoCreationJob.objects.filter(pk=job_id).first()
    if job is None or not storage.job_has_files(job_id):
        return
    resources = [
        {"id": r.pk, "type": r.type, "filename": r.filename, "filePath": r.file_path}
        for r in job.resources.all()
    ]
    storage.store_json(
        f"{storage.relative_job_dir(job_id)}/{storage.METADATA_NAME}",
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
            "owner": job.owner.get_username() if job.owner else None,
            "metadata": job.metadata,
            "resources": resources,
        },
    )
    try:
        _measure(job, [r["filePath"] for r in resources])
    except Exception:  # the storage's own errors too (a bucket's): the sweep measures again
        logger.warning("Could not measure the files of job %s", job_id, exc_info=True)


def job_measure_files(job_id) -> int | None:
    """Store how many bytes the job's files take in storage, and return it (None: no job).

    Its stored names (the output video, each resource, metadata.json) are asked of the
    storage API, never of the local disk, so the figure holds for a bucket too.
    """
    job = VideoCreationJob.objects.filter(pk=job_id).first()
    if job is None:
        return None
    return _measure(job, job.resources.values_list("file_path", flat=True))


def _measure(job, paths) -> int:
    own = f"{storage.relative_job_dir(job.pk)}/"
    names = {job.video_url, *paths, own + storage.METADATA_NAME}
    # Only names in the job's own directory: a seed row's video_url may be a URL.
    total = sum(_stored_size(name) for name in names if name and name.startswith(own))
    VideoCreationJob.objects.filter(pk=job.pk).update(stored_bytes=total)
    return total


def _stored_size(name) -> int:
    """Return the bytes stored under name, 0 when nothing is."""
    try:
        return default_storage.size(name)
    except Exception:
        # Backends differ in what a missing name raises; only then is it asked again.
        if not default_storage.exists(name):
            return 0
        raise


# --- Batches ------------------------------------------------------------------------------


def batch_create(*, owner, label, jobs, options=None, draft_version=None, notify_by_email=False):
    """Create a batch and all its jobs, or nothing: one bad job rolls the whole batch back.

    `jobs` is a list of keyword dicts for job_create (prompt_text, model, options, ...).
    """
    total = sum(pricing.job_estimate(spec["model"], spec["options"]) for spec in jobs)
    with transaction.atomic():
        limits.check_creation_limit(owner=owner, count=len(jobs))
        _lock_writers(BUDGET_LOCK_KEY)
        pricing.check_budgets(owner=owner, amount=total)
        batch = Batch.objects.create(
            owner=owner,
            label=label,
            draft_version=draft_version,
            options=options or {},
            notify_by_email=notify_by_email,
        )
        for spec in jobs:
            job_create(owner=owner, batch=batch, check_budget=False, check_limit=False, **spec)
        webhooks.budgets_check(owner.pk)
    return batch


def _batch_jobs(batch, viewer):
    """Return the batch's jobs that viewer may see (all of them without a viewer)."""
    jobs = batch.jobs.all()
    return jobs if viewer is None else jobs.visible_to(viewer)


def _not_retried_in_batch(jobs):
    """Leave out the jobs superseded by a retry in their own batch."""
    retried_here = VideoCreationJob.objects.filter(
        retry_of=OuterRef("pk"), batch_id=OuterRef("batch_id")
    )
    return jobs.exclude(Exists(retried_here))


def batch_summary(batch, *, viewer=None) -> dict:
    """Return the batch's counts by status, its combined progress and its jobs' newest
    updated_at, in one query.

    With a viewer, only the jobs they may see count. A failed job that was retried in the
    batch counts through its retry, not twice.
    """
    counts = _not_retried_in_batch(_batch_jobs(batch, viewer)).aggregate(
        total=Count("pk"),
        updated_at=Max("updated_at"),
        idle=Count("pk", filter=Q(status=Status.IDLE)),
        processing=Count("pk", filter=Q(status=Status.PROCESSING)),
        completed=Count("pk", filter=Q(status=Status.COMPLETED)),
        failed=Count("pk", filter=Q(status=Status.FAILED)),
        progress=Sum(
            Case(
                When(status__in=[Status.COMPLETED, Status.FAILED], then=Value(100)),
                default=Coalesce("progress", Value(0)),
            )
        ),
    )
    total = counts["total"]
    counts["progress"] = round((counts["progress"] or 0) / total) if total else 100
    counts["finished"] = counts["idle"] + counts["processing"] == 0
    return counts


def batch_cancel_rest(*, batch, viewer=None) -> int:
    """Cancel every job of the batch (that viewer may see) not yet finished; return how many."""
    return sum(job_cancel(job=job) for job in _batch_jobs(batch, viewer).active())


def batch_retry_failed(*, batch, owner) -> int:
    """Retry every failed job of the batch that owner may see; see job_retry for where."""
    failed = list(_not_retried_in_batch(_batch_jobs(batch, owner)).filter(status=Status.FAILED))
    with transaction.atomic():
        limits.check_creation_limit(owner=owner, count=len(failed))
        for job in failed:
            job_retry(job=job, owner=owner)
    return len(failed)


def batch_notify_if_finished(batch_id) -> bool:
    """Email the batch's owner once, if they asked, when its last job has ended."""
    batch = Batch.objects.select_related("owner").filter(pk=batch_id).first()
    if batch is None or not batch.notify_by_email or batch.notified_at is not None:
        return False
    if batch.jobs.active().exists():
        return False
    claimed = Batch.objects.filter(pk=batch_id, notified_at=None).update(notified_at=timezone.now())
    if not claimed or not (batch.owner and batch.owner.email):
        return False
    summary = batch_summary(batch, viewer=batch.owner)
    try:
        send_mail(
            subject=f"Batch finished: {batch.label}",
            message=(
                f'Your batch "{batch.label}" has finished: {summary["completed"]} completed, '
                f"{summary['failed']} failed, of {summary['total']} jobs.\n\n"
                f"{settings.STUDIO_URL}{batch.get_absolute_url()}\n"
            ),
            from_email=None,
            recipient_list=[batch.owner.email],
        )
    except OSError:  # SMTP errors included: a lost email must not fail the job's worker.
        logger.exception("Could not email %s about batch %s", batch.owner.email, batch.pk)
        return False
    return True


def _job_ended(job_id):
    """Queue the next waiting job, notify the job's batch, fire the webhooks and the signal."""
    enqueue_waiting()
    webhooks.job_ended(job_id)
    transaction.on_commit(partial(_send_job_ended, job_id))
    batch_id = VideoCreationJob.objects.filter(pk=job_id).values_list("batch_id", flat=True).first()
    if batch_id:
        transaction.on_commit(partial(batch_notify_if_finished, batch_id))


def _send_job_ended(job_id):
    """Tell listeners a job ended; a listener's failure is logged, never the job's."""
    for receiver, error in signals.job_ended.send_robust(VideoCreationJob, job_id=job_id):
        if error is not None:
            logger.error(
                "A listener of job_ended (%s) failed for job %s",
                receiver,
                job_id,
                exc_info=(type(error), error, error.__traceback__),
            )


# --- Recovery ---------------------------------------------------------------------------


def enqueue_waiting() -> int:
    """Queue runs for the oldest waiting jobs that fit under the in-flight cap."""
    room = settings.VEO_MAX_IN_FLIGHT - VideoCreationJob.objects.in_flight().count()
    if room <= 0:
        return 0
    now = timezone.now()
    waiting = list(
        VideoCreationJob.objects.waiting()
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .values_list("pk", flat=True)[:room]
    )
    for job_id in waiting:
        enqueue_run(job_id)
    return len(waiting)


def jobs_unattended_exist() -> bool:
    """Return whether some unfinished job is held by no run and waits for no due time.

    A job between two polls holds no lease, but the ticker will bring it: attended.
    """
    now = timezone.now()
    return (
        VideoCreationJob.objects.active()
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .exclude(next_run_at__gt=now)
        .exists()
    )


def jobs_recover() -> dict:
    """Bring every stalled job back to life or to an end; run by the cluster each minute.

    1. Fail jobs past the deadline (VEO_JOB_DEADLINE_MINUTES after submit) as timed out.
       A job never sent (claimed but not yet submitted, or sent back after a 429) has
       no deadline yet, however long it waited.
    2. Re-enqueue processing jobs whose run died or whose next step no ticker took:
       lease free or expired, and either a due time long past or, with none, no
       progress for two task slices. The pipeline resumes from the stored stage and
       never resubmits a job whose submit may have gone out.
    3. Queue waiting jobs that fit under the in-flight cap (covers lost enqueues).
    4. Delete job directories that no job owns (a failed delete, a crash mid-create).
    5. Settle finished jobs' directories (jobs_settle_files) and measure them, and
       measure settled jobs never measured (jobs_measure_files).
    6. Delete the finished jobs the retention policy lets go (jobs_delete_expired), a
       chunk a sweep.
    7. Enqueue webhook attempts that are due, should no ticker be running to do it.
    """
    now = timezone.now()
    deadline = now - timedelta(minutes=settings.VEO_JOB_DEADLINE_MINUTES)
    expired = list(
        VideoCreationJob.objects.in_flight()
        .filter(submitted_at__lt=deadline)
        .values_list("pk", flat=True)
    )
    timed_out = sum(
        job_fail(
            job_id,
            message=f"Timed out: Veo did not finish within {settings.VEO_JOB_DEADLINE_MINUTES} "
            "minutes of the submit.",
        )
        for job_id in expired
    )
    quiet_since = now - timedelta(seconds=2 * settings.VEO_TASK_SLICE_SECONDS)
    stalled = list(
        VideoCreationJob.objects.in_flight()
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .filter(
            Q(next_run_at__lt=now - timedelta(seconds=TICKER_GRACE_SECONDS))
            | Q(next_run_at__isnull=True, updated_at__lt=quiet_since)
        )
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        for job_id in stalled:
            enqueue_run(job_id)
        queued = enqueue_waiting()
    try:
        orphans = storage.delete_orphan_dirs(
            known=set(VideoCreationJob.objects.values_list("pk", flat=True)),
            older_than=timedelta(hours=1),
        )
        settled = jobs_settle_files()
        measured = jobs_measure_files()
        deleted = jobs_delete_expired()
    except storage.StorageUnavailable:  # logged; the next sweep tries again
        orphans = settled = measured = deleted = 0
    # This machine's files on their way to a bucket, left by a killed process.
    storage.remove_old_scratch(older_than=timedelta(seconds=settings.Q_TASK_TIMEOUT))
    webhooks_due = webhooks.deliveries_enqueue_due()
    return {
        "timed_out": timed_out,
        "resumed": len(stalled),
        "queued": queued,
        "orphans": orphans,
        "settled": settled,
        "measured": measured,
        "deleted": deleted,
        "webhooks": webhooks_due,
    }


SETTLE_PER_SWEEP = 200


def jobs_settle_files(*, older_than=None) -> int:
    """Finish or clean what a kill left in finished jobs' directories; return how many settled.

    A kill between a terminal commit and the metadata.json write leaves the file missing
    or stale, and any killed write leaves a temporary file. For each finished job not yet
    settled: write metadata.json again from the row, delete temporary files older than
    any task may live (`older_than`, Q_TASK_TIMEOUT by default; a younger one may belong
    to a live late-result download), and mark the job settled once none is left.
    """
    if older_than is None:
        older_than = timedelta(seconds=settings.Q_TASK_TIMEOUT)
    unsettled = VideoCreationJob.objects.filter(
        status__in=[Status.COMPLETED, Status.FAILED], files_settled_at__isnull=True
    ).values_list("pk", "updated_at")[:SETTLE_PER_SWEEP]
    settled = 0
    for job_id, updated_at in list(unsettled):
        written = storage.modified_at(f"{storage.relative_job_dir(job_id)}/{storage.METADATA_NAME}")
        if written is None or written < updated_at.timestamp():
            job_write_metadata_file(job_id)  # missing, or older than the row's last change
        if storage.remove_temp_files(job_id, older_than=older_than) == 0:
            # Measured again here: a kill may have left files that no metadata write saw.
            try:
                job_measure_files(job_id)
            except Exception:
                logger.exception(
                    "Could not measure the files of job %s; the next sweep will", job_id
                )
                continue
            settled += VideoCreationJob.objects.filter(
                pk=job_id, files_settled_at__isnull=True
            ).update(files_settled_at=timezone.now())
    return settled


MEASURE_PER_SWEEP = 200


def jobs_measure_files(*, limit=MEASURE_PER_SWEEP) -> int:
    """Measure settled jobs that have no stored_bytes yet (finished before the column).

    Return how many were measured; a failure is logged and tried again next sweep.
    """
    unmeasured = VideoCreationJob.objects.filter(
        status__in=[Status.COMPLETED, Status.FAILED],
        stored_bytes__isnull=True,
        files_settled_at__isnull=False,
    ).values_list("pk", flat=True)[:limit]
    measured = 0
    for job_id in list(unmeasured):
        try:
            measured += job_measure_files(job_id) is not None
        except Exception:
            logger.exception("Could not measure the files of job %s; the next sweep will", job_id)
    return measured


RETENTION_PER_SWEEP = 100


def jobs_delete_expired(*, limit=RETENTION_PER_SWEEP) -> int:
    """Delete up to limit jobs, oldest first, that the retention policy lets go.

    See jobs.retention: which jobs are due, and which are always kept (checked again as
    each is deleted). Each goes through job_delete, files and all, and is logged.
    """
    deleted = {Status.FAILED: 0, Status.COMPLETED: 0}
    for job in retention.expired().select_related("owner")[:limit]:
        try:
            job_delete(job=job, keep=retention.protected())
        except JobStateError:
            continue  # changed since it was read (a new extension of it): kept for now
        deleted[job.status] += 1
        logger.info(
            "Retention deleted %s job %s of %s, created %s, finished %s",
            job.status,
            job.pk,
            job.owner.get_username() if job.owner else "a removed user",
            job.created_at.isoformat(),
            job.completed_at.isoformat() if job.completed_at else "never",
        )
    total = sum(deleted.values())
    if total:
        logger.info(
            "Retention deleted %d job(s): %d failed (RETENTION_FAILED_DAYS=%s), "
            "%d completed (RETENTION_UNREVIEWED_DAYS=%s)",
            total,
            deleted[Status.FAILED],
            settings.RETENTION_FAILED_DAYS,
            deleted[Status.COMPLETED],
            settings.RETENTION_UNREVIEWED_DAYS,
        )
    return total


def ensure_first_user(*, username, email, password):
    """Create the first superuser if the studio has no users; return (user, created)."""
    users = get_user_model()
    if users.objects.exists():
        return None, False
    user = users.objects.create_superuser(username=username, email=email, password=password)
    return user, True
