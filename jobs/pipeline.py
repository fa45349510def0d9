"""The generation pipeline: from a queued job to output.mp4 and its poster.

Each run takes the job as far as it can within one time slice and then re-enqueues
itself, so no task holds a worker for the minutes a generation can take, and a task
that is delivered twice, or again after its worker died, picks up where the job is.
"""

import hashlib
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_q.tasks import async_task

from . import services, storage
from .media import NotAVideo, probe, write_poster
from .models import VideoCreationJob, VideoResource
from .veo.base import (
    GenerationRequest,
    InputImage,
    SubmitOutcomeUnknown,
    VeoError,
    redact_inline_video,
)
from .veo.gemini import GeminiProvider
from .veo.transport import backoff
from .veo.vertex import VertexProvider

logger = logging.getLogger(__name__)

Status = VideoCreationJob.Status
Stage = VideoCreationJob.Stage

SUBMIT_ATTEMPTS = 4
DOWNLOAD_ATTEMPTS = 3
# Progress the seed gives each step: 10 submitted, 50 generated, 80 downloaded, 100 done.
GENERATING_FLOOR, GENERATED, DOWNLOADED = 10, 50, 80
# A generation typically takes about a minute; the bar creeps towards 49 % meanwhile.
TYPICAL_GENERATION_SECONDS = 60


def get_provider():
    """Return the configured provider (the emulator speaks the Gemini dialect)."""
    common = {"download_hosts": settings.VEO_DOWNLOAD_HOSTS, "timeout": settings.VEO_HTTP_TIMEOUT}
    if settings.VEO_PROVIDER == "vertex":
        return VertexProvider(
            project=settings.VERTEX_PROJECT,
            location=settings.VERTEX_LOCATION,
            credentials_file=settings.GOOGLE_APPLICATION_CREDENTIALS,
            base_url=settings.VERTEX_API_BASE_URL,
            storage_base_url=settings.VERTEX_STORAGE_BASE_URL,
            storage_uri=settings.VERTEX_STORAGE_URI,
            **common,
        )
    return GeminiProvider(
        api_key=settings.GEMINI_API_KEY, base_url=settings.VEO_API_BASE_URL, **common
    )


class Reschedule(Exception):
    """The slice is over, or a retry must wait: run the job again later."""


class Stopped(Exception):
    """The job left this stage under us (cancelled, or held by another run): let go."""


def run(job_id):
    """Advance one job as far as one slice allows.

    1. Claim a queued job (idle -> processing) and submit it to Veo exactly once.
    2. Poll the stored operation until Veo is done, updating progress.
    3. Download the sample to a temporary file, check it is a real video, move it
       into place as videos/<job-id>/output.mp4.
    4. Write the poster and metadata.json, then mark the job completed.
    A job that finds its operation name polls it and never submits again.
    """
    job = VideoCreationJob.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return
    slice_ends = time.monotonic() + settings.VEO_TASK_SLICE_SECONDS
    try:
        provider = get_provider()
        if job.status == Status.IDLE:
            if not services.job_claim(job.pk):
                return
            job.refresh_from_db()
        if job.stage == Stage.SUBMITTING:
            _submit(job, provider, slice_ends)
        samples = None
        if job.stage == Stage.GENERATING:
            samples = _wait_for_generation(job, provider, slice_ends)
        if job.stage == Stage.DOWNLOADING:
            _download(job, provider, samples)
        if job.stage == Stage.FINISHING:
            _finish(job)
    except Stopped:
        return
    except Reschedule:
        async_task("jobs.tasks.run_job", job_id, group="jobs")
    except VeoError as exc:
        logger.warning("Job %s failed: %s", job_id, exc.message)
        services.job_fail(job_id, message=exc.message)
    except Exception:
        logger.exception("Job %s failed unexpectedly", job_id)
        services.job_fail(
            job_id,
            message="Something went wrong inside the studio while making this video. "
            "The details are in the worker's log.",
        )
    finally:
        storage.remove_temp_files(job_id)


def _submit(job, provider, slice_ends):
    if job.operation_name:
        # Saved by an earlier run whose stage change did not land: never submit again.
        services.job_transition(job.pk, from_stage=Stage.SUBMITTING, to_stage=Stage.GENERATING)
        job.stage = Stage.GENERATING
        return
    if job.submitted_at is not None:
        if _submit_may_be_in_flight(job):
            raise Stopped
        raise SubmitOutcomeUnknown("an earlier attempt stopped before Veo's answer was saved")
    request = _request(job)
    # Mark the attempt before the paid call: a run that finds this mark and no
    # operation name knows a submit may have gone out and must not send another.
    now = timezone.now()
    marked = VideoCreationJob.objects.filter(
        pk=job.pk, status=Status.PROCESSING, stage=Stage.SUBMITTING, submitted_at=None
    ).update(submitted_at=now, heartbeat_at=now, updated_at=now)
    if not marked:
        raise Stopped
    for attempt in range(SUBMIT_ATTEMPTS):
        services.job_heartbeat(job.pk, stage=Stage.SUBMITTING)
        try:
            name = provider.submit(request)
            break
        except SubmitOutcomeUnknown:
            raise
        except VeoError as exc:
            if not exc.retryable:
                raise
            if attempt == SUBMIT_ATTEMPTS - 1:
                raise _gave_up(exc, SUBMIT_ATTEMPTS) from None
            wait = _backoff(attempt, exc)
            if time.monotonic() + wait > slice_ends:
                # Nothing was accepted: clear the mark so the next run may submit.
                VideoCreationJob.objects.filter(pk=job.pk, stage=Stage.SUBMITTING).update(
                    submitted_at=None
                )
                raise Reschedule from None
            time.sleep(wait)
    services.job_transition(
        job.pk, from_stage=Stage.SUBMITTING, to_stage=Stage.GENERATING, operation_name=name
    )
    job.operation_name, job.stage = name, Stage.GENERATING


def _request(job):
    """Build the provider request from the job's prompt, options and input frames."""
    frames = {}
    for resource in job.resources.filter(type=VideoResource.Type.IMAGE):
        stem = resource.filename.rsplit(".", 1)[0]
        if stem in (storage.FIRST_FRAME, storage.LAST_FRAME):
            data = storage.absolute(resource.file_path).read_bytes()
            frames[stem] = InputImage(data=data, mime_type=resource.content_type)
    options = job.options
    return GenerationRequest(
        prompt=job.prompt_text,
        model=job.model,
        aspect_ratio=options["aspect_ratio"],
        resolution=options["resolution"],
        duration_seconds=int(options["duration_seconds"]),
        negative_prompt=options.get("negative_prompt", ""),
        sample_count=int(options.get("sample_count", 1)),
        person_generation=options.get("person_generation", ""),
        image=frames.get(storage.FIRST_FRAME),
        last_frame=frames.get(storage.LAST_FRAME),
    )


def _gave_up(error, attempts):
    return VeoError(f"{error.message} The studio tried {attempts} times; retry the job later.")


def _backoff(attempt, error):
    return backoff(attempt, hint=error.retry_after, base=settings.VEO_RETRY_BASE_SECONDS)


def _submit_may_be_in_flight(job):
    """Return whether another run's submit could still be waiting for Veo's answer."""
    in_flight = timedelta(seconds=settings.VEO_HTTP_TIMEOUT + 90)
    return timezone.now() - (job.heartbeat_at or job.submitted_at) < in_flight


def _wait_for_generation(job, provider, slice_ends):
    deadline = (job.submitted_at or job.created_at) + timedelta(
        minutes=settings.VEO_JOB_DEADLINE_MINUTES
    )
    failures = 0
    while True:
        if timezone.now() > deadline:
            raise VeoError(
                f"Timed out: Veo did not finish within {settings.VEO_JOB_DEADLINE_MINUTES} minutes."
            )
        try:
            operation = provider.poll(job.operation_name)
        except VeoError as exc:
            if not exc.retryable:
                raise
            failures += 1
            operation, wait = None, _backoff(failures, exc)
        if operation is not None and operation.done:
            break
        if operation is not None:
            wait = settings.VEO_POLL_INTERVAL
        if not services.job_heartbeat(job.pk, stage=Stage.GENERATING, progress=_creep(job)):
            raise Stopped
        if time.monotonic() + wait > slice_ends:
            raise Reschedule
        time.sleep(wait)
    if operation.error is not None:
        raise operation.error
    if not operation.samples:
        reasons = " ".join(operation.filtered_reasons)
        raise VeoError(f"Veo's safety filters blocked this video, so it was not billed. {reasons}")
    metadata = {**(job.metadata or {}), "provider_response": redact_inline_video(operation.raw)}
    if not services.job_transition(
        job.pk,
        from_stage=Stage.GENERATING,
        to_stage=Stage.DOWNLOADING,
        progress=GENERATED,
        metadata=metadata,
    ):
        raise Stopped
    job.metadata, job.stage = metadata, Stage.DOWNLOADING
    return operation.samples


def _creep(job):
    """Return a progress figure between 10 and 49 that grows with time spent generating."""
    elapsed = (timezone.now() - (job.submitted_at or job.created_at)).total_seconds()
    share = elapsed / (elapsed + TYPICAL_GENERATION_SECONDS)
    return GENERATING_FLOOR + int(share * (GENERATED - 1 - GENERATING_FLOOR))


def _download(job, provider, samples=None):
    if samples is None:
        # A later run: ask again (polls are free) rather than keep inline videos around.
        samples = provider.poll(job.operation_name).samples
    if not samples:
        raise VeoError("Veo's answer no longer holds the video. Retry the job.")
    directory = storage.job_dir(job.pk)
    for attempt in range(DOWNLOAD_ATTEMPTS):
        services.job_heartbeat(job.pk, stage=Stage.DOWNLOADING)
        temp = storage.temp_file(directory, suffix=".mp4")
        try:
            provider.download(samples[0], temp, max_bytes=settings.VEO_DOWNLOAD_MAX_BYTES)
            probe(temp)
            storage.move_into_place(temp, directory / storage.OUTPUT_NAME)
            break
        except NotAVideo as exc:
            error = VeoError(f"Veo's download was not a playable video. {exc}", retryable=True)
        except VeoError as exc:
            error = exc
        finally:
            temp.unlink(missing_ok=True)
        if not error.retryable:
            raise error
        if attempt == DOWNLOAD_ATTEMPTS - 1:
            raise _gave_up(error, DOWNLOAD_ATTEMPTS)
        time.sleep(_backoff(attempt, error))
    if not services.job_transition(
        job.pk, from_stage=Stage.DOWNLOADING, to_stage=Stage.FINISHING, progress=DOWNLOADED
    ):
        raise Stopped
    job.stage = Stage.FINISHING


def _finish(job):
    video = storage.job_dir(job.pk) / storage.OUTPUT_NAME
    info = probe(video)
    poster_rel = storage.relative_resource(job.pk, "image", storage.POSTER_NAME)
    poster = storage.absolute(poster_rel)
    temp = storage.temp_file(poster.parent, suffix=".jpg")
    try:
        write_poster(video, temp)
        storage.move_into_place(temp, poster)
    finally:
        temp.unlink(missing_ok=True)
    digest = hashlib.sha256()
    with open(video, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    services.job_complete(
        job.pk,
        video_path=storage.relative_output(job.pk),
        info=info,
        poster_path=poster_rel,
        sha256=digest.hexdigest(),
        size=video.stat().st_size,
    )
