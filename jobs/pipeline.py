"""The generation pipeline: from a queued job to output.mp4 and its resources.

A run holds the job's lease (a conditional UPDATE on lease_expires_at), takes the
job as far as one time slice allows, releases the lease and re-enqueues itself. So
no task holds a worker for the minutes a generation takes, a duplicate delivery finds
the lease taken and leaves at once, and a run whose worker died is picked up, after
its lease expires, by the broker's redelivery or the recovery sweep, from the stage
stored in the database.
"""

import hashlib
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_q.tasks import async_task

from . import pricing, services, storage
from .media import NotAVideo, extract_audio, probe, write_poster
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
RENEW_EVERY_SECONDS = 10
UNEXPECTED = (
    "Something went wrong inside the studio while making this video. "
    "The details are in the worker's log."
)

DISK_TROUBLE = (
    "The studio could not write this video's files to its disk (it may be full or "
    "read-only). The details are in the worker's log."
)


def failure_sentence(error):
    """Return what a person reads for a failure that is not Veo's: never the error's text."""
    if isinstance(error, NotAVideo):
        return f"The stored video could not be read. {error}"  # media's reasons are sentences
    if isinstance(error, OSError):
        return DISK_TROUBLE
    return UNEXPECTED


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


def lease_seconds():
    """Return how long a run may go unheard before another may take the job.

    Longer than a slice plus one HTTP call, so a live submit always holds its lease.
    """
    return (
        settings.VEO_TASK_SLICE_SECONDS
        + 2 * settings.VEO_HTTP_TIMEOUT
        + settings.VEO_LEASE_GRACE_SECONDS
    )


class Reschedule(Exception):
    """The slice is over, or a retry must wait: run the job again later."""


class Stopped(Exception):
    """The job left this stage under us (cancelled, deleted, or taken over): let go."""


class Lease:
    """The lease one run holds on one job, renewed as the run makes progress."""

    def __init__(self, job_id, expires):
        self.job_id, self.expires, self.renewed_at = job_id, expires, time.monotonic()

    def renew(self, stage, **changes):
        """Extend the lease (writing changes, e.g. progress) or raise Stopped."""
        expires = services.job_lease_renew(
            self.job_id, self.expires, seconds=lease_seconds(), stage=stage, **changes
        )
        if expires is None:
            raise Stopped
        self.expires, self.renewed_at = expires, time.monotonic()

    def release(self):
        services.job_lease_release(self.job_id, self.expires)


def run(job_id):
    """Advance one job as far as one slice allows.

    1. Claim a queued job (idle -> processing) if fewer than VEO_MAX_IN_FLIGHT are in
       flight, and submit it to Veo exactly once.
    2. Poll the stored operation, backing off, until Veo is done; progress creeps.
    3. Download each sample to a temporary file, check it is a real video, move it
       into place: videos/<job-id>/output.mp4, extra samples under resources/videos/.
    4. Write the poster and the audio track, then mark the job completed.
    A run that finds an operation name polls it and never submits again; a run that
    finds a submit started but no operation name fails the job as "outcome unknown".
    """
    job = VideoCreationJob.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return
    expires = services.job_lease_acquire(job_id, seconds=lease_seconds())
    if expires is None:
        return  # Another run holds the job.
    lease = Lease(job_id, expires)
    slice_ends = time.monotonic() + settings.VEO_TASK_SLICE_SECONDS
    again = False
    try:
        job.refresh_from_db()
        provider = get_provider()
        if job.status == Status.IDLE and not services.job_claim(job.pk):
            return  # The provider is full; finishing jobs queue the next in line.
        job.refresh_from_db()
        samples = None
        if job.stage == Stage.SUBMITTING:
            _submit(job, provider, lease, slice_ends)
        if job.stage == Stage.GENERATING:
            samples = _wait_for_generation(job, provider, lease, slice_ends)
        if job.stage == Stage.DOWNLOADING:
            _download(job, provider, lease, samples)
        if job.stage == Stage.FINISHING:
            _finish(job, lease)
    except Stopped:
        pass
    except Reschedule:
        again = True
    except VeoError as exc:
        logger.warning("Job %s failed: %s", job_id, exc.message)
        services.job_fail(job_id, message=exc.message, actual_cost=_failure_cost(job, exc))
    except Exception as exc:
        logger.exception("Job %s failed unexpectedly", job_id)
        services.job_fail(job_id, message=failure_sentence(exc))
    finally:
        lease.release()
        storage.remove_temp_files(job_id)
    if again:
        async_task("jobs.tasks.run_job", job_id, group="jobs")


def _failure_cost(job, error):
    """Return what Google bills for a job failing with error at its stage (None: unknown)."""
    if isinstance(error, SubmitOutcomeUnknown):
        return None
    if job.stage in (Stage.QUEUED, Stage.SUBMITTING):
        return pricing.ZERO  # refused, or never sent
    if job.stage == Stage.GENERATING:
        return pricing.ZERO if error.billed is False else None
    # Veo finished the video(s): Google bills them even if the download fails.
    samples = int((job.metadata or {}).get("samples_returned", 1))
    return pricing.billed(job, samples=samples)[0]


def _submit(job, provider, lease, slice_ends):
    if job.operation_name:
        # Saved by an earlier run whose stage change did not land: never submit again.
        services.job_transition(job.pk, from_stage=Stage.SUBMITTING, to_stage=Stage.GENERATING)
        job.stage = Stage.GENERATING
        return
    if job.submitted_at is not None:
        # This run holds the lease, so the run that started that submit is gone.
        raise SubmitOutcomeUnknown("an earlier attempt stopped before Veo's answer was saved")
    request = _request(job)

    def mark_sending():
        # Marked while the request's last byte is held back, so a run killed before the
        # mark sent Google nothing it acts on, and a run that finds the mark and no
        # operation name knows a submit may have gone out and must not send another.
        if not services.job_mark_submit_started(job.pk):
            raise Stopped

    for attempt in range(SUBMIT_ATTEMPTS):
        lease.renew(Stage.SUBMITTING)
        try:
            name = provider.submit(request, on_sending=mark_sending)
            break
        except SubmitOutcomeUnknown:
            raise
        except VeoError as exc:
            if not exc.retryable:
                raise
            services.job_clear_submit_mark(job.pk)  # Google refused it: nothing billed.
            if attempt == SUBMIT_ATTEMPTS - 1:
                raise _gave_up(exc, SUBMIT_ATTEMPTS) from None
            wait = _backoff(attempt, exc)
            if time.monotonic() + wait > slice_ends:
                raise Reschedule from None
            time.sleep(wait)
    if not services.job_record_operation(job.pk, name):
        raise Stopped
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


def _wait_for_generation(job, provider, lease, slice_ends):
    """Poll until Veo is done; return the samples, or raise with Veo's reason."""
    operation = poll_until_done(
        job,
        provider,
        slice_ends,
        renew=lambda progress: lease.renew(Stage.GENERATING, progress=progress),
    )
    if operation.error is not None:
        raise operation.error
    if not operation.samples:
        reasons = " ".join(operation.filtered_reasons)
        raise VeoError(
            f"Veo's safety filters blocked this video, so it was not billed. {reasons}",
            billed=False,
        )
    metadata = {
        **(job.metadata or {}),
        "provider_response": redact_inline_video(operation.raw),
        "samples_returned": len(operation.samples),
    }
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


def poll_until_done(job, provider, slice_ends, *, renew):
    """Poll the job's operation until done, within the slice and the job's deadline.

    The interval starts at VEO_POLL_INTERVAL and grows by half each poll up to
    VEO_POLL_INTERVAL_MAX; failed polls back off exponentially, honouring Google's wait.
    """
    deadline = (job.submitted_at or job.created_at) + timedelta(
        minutes=settings.VEO_JOB_DEADLINE_MINUTES
    )
    interval, failures = settings.VEO_POLL_INTERVAL, 0
    while True:
        if timezone.now() > deadline:
            raise VeoError(
                f"Timed out: Veo did not finish within {settings.VEO_JOB_DEADLINE_MINUTES} "
                "minutes of the submit."
            )
        try:
            operation = provider.poll(job.operation_name)
        except VeoError as exc:
            if not exc.retryable:
                raise
            failures += 1
            operation, wait = None, _backoff(failures, exc)
        if operation is not None:
            if operation.done:
                return operation
            wait = interval
            interval = min(interval * 1.5, max(settings.VEO_POLL_INTERVAL_MAX, interval))
        renew(_creep(job))
        if time.monotonic() + wait > slice_ends:
            raise Reschedule
        time.sleep(wait)


def _creep(job):
    """Return a progress figure between 10 and 49 that grows with time spent generating."""
    elapsed = (timezone.now() - (job.submitted_at or job.created_at)).total_seconds()
    share = elapsed / (elapsed + TYPICAL_GENERATION_SECONDS)
    return GENERATING_FLOOR + int(share * (GENERATED - 1 - GENERATING_FLOOR))


def _download(job, provider, lease, samples=None):
    if samples is None:
        # A later run: ask again (polls are free) rather than keep inline videos around.
        samples = provider.poll(job.operation_name).samples
    if not samples:
        raise VeoError("Veo's answer no longer holds the video. Retry the job.")
    targets = [storage.relative_output(job.pk)] + [
        storage.relative_resource(job.pk, "video", f"sample-{n}.mp4")
        for n in range(2, len(samples) + 1)
    ]
    for sample, target in zip(samples, targets, strict=True):
        fetch_video(
            provider, sample, target, job_id=job.pk, renew=lambda: lease.renew(Stage.DOWNLOADING)
        )
    if not services.job_transition(
        job.pk, from_stage=Stage.DOWNLOADING, to_stage=Stage.FINISHING, progress=DOWNLOADED
    ):
        raise Stopped
    job.stage = Stage.FINISHING


def fetch_video(provider, sample, target, *, job_id, renew):
    """Download one sample to storage as target, through a checked local file, with retries."""
    for attempt in range(DOWNLOAD_ATTEMPTS):
        renew()
        temp = storage.temp_file(storage.absolute(target).parent, suffix=".mp4")
        try:
            provider.download(sample, temp, max_bytes=settings.VEO_DOWNLOAD_MAX_BYTES)
            probe(temp)
            storage.store(target, temp)
            return
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


def _finish(job, lease):
    lease.renew(Stage.FINISHING)
    video = storage.absolute(storage.relative_output(job.pk))
    info = probe(video)
    made = []
    poster = storage.relative_resource(job.pk, "image", storage.POSTER_NAME)
    storage.store_made(poster, lambda temp: write_poster(video, temp))
    made.append((VideoResource.Type.IMAGE, storage.POSTER_NAME, poster))
    if info.has_audio:
        audio = storage.relative_resource(job.pk, "audio", storage.AUDIO_NAME)
        storage.store_made(audio, lambda temp: extract_audio(video, temp))
        made.append((VideoResource.Type.AUDIO, storage.AUDIO_NAME, audio))
    for n in range(2, int((job.metadata or {}).get("samples_returned", 1)) + 1):
        name = f"sample-{n}.mp4"
        made.append(
            (VideoResource.Type.VIDEO, name, storage.relative_resource(job.pk, "video", name))
        )
    services.job_complete(
        job.pk,
        samples=int((job.metadata or {}).get("samples_returned", 1)),
        video_path=storage.relative_output(job.pk),
        info=info,
        sha256=_sha256(video),
        size=video.stat().st_size,
        resources=made,
    )


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def collect_late_result(job_id):
    """Keep the video of a job cancelled after its submit, if Veo delivers it anyway.

    Veo cannot be told to stop, and Google may bill the generation; the result is
    stored on the cancelled job as resources/videos/late-result.mp4.
    """
    job = VideoCreationJob.objects.filter(pk=job_id, error=services.CANCELLED_MESSAGE).first()
    if job is None or job.resources.filter(filename=storage.LATE_RESULT_NAME).exists():
        return
    if not job.operation_name:
        # A submit still in flight records its operation name even after the cancel.
        in_flight = job.submitted_at and timezone.now() - job.submitted_at < timedelta(
            seconds=lease_seconds()
        )
        if in_flight:
            time.sleep(min(5, settings.VEO_POLL_INTERVAL_MAX))
            async_task("jobs.tasks.collect_late_result", job_id, group="jobs")
        return
    slice_ends = time.monotonic() + settings.VEO_TASK_SLICE_SECONDS
    try:
        operation = poll_until_done(job, get_provider(), slice_ends, renew=lambda _progress: None)
        if operation.error is not None or not operation.samples:
            return
        relative = storage.relative_resource(job.pk, "video", storage.LATE_RESULT_NAME)
        services.job_files_unsettle(job.pk)  # a kill from here on leaves a temp file
        fetch_video(
            get_provider(),
            operation.samples[0],
            relative,
            job_id=job.pk,
            renew=lambda: None,
        )
        services.job_record_late_result(
            job.pk, filename=storage.LATE_RESULT_NAME, file_path=relative
        )
    except Reschedule:
        async_task("jobs.tasks.collect_late_result", job_id, group="jobs")
    except VeoError as exc:
        logger.info("No late result for cancelled job %s: %s", job_id, exc.message)
    finally:
        storage.remove_temp_files(job_id)
