"""The generation pipeline: from a queued job to output.mp4 and its resources.

A run holds the job's lease (a conditional UPDATE on lease_expires_at) and takes the
job through every step that is due now: the claim and submit, one poll, the download
and the finish. It never sleeps: when the next step must wait (the next poll, a retry
after a backoff), it stores when that step is due on the row (next_run_at), releases
the lease and returns, and the cluster's ticker (jobs.ticker) enqueues a run then. So
a worker is held for one HTTP call, not for the minutes a generation takes; a duplicate
delivery finds the lease taken and leaves at once; and a run whose worker died is
picked up, after its lease expires, by the ticker or the recovery sweep, from the stage
and the counts of failed tries stored in the database.
"""

import contextlib
import errno
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from . import catalog, pricing, services, storage, transcripts
from .health import metrics
from .media import NotAVideo, extract_audio, probe, sha256, write_poster
from .models import VideoCreationJob, VideoResource
from .veo.base import (
    FROM_VIDEO,
    GenerationRequest,
    InputImage,
    SourceVideo,
    SubmitOutcomeUnknown,
    Task,
    VeoError,
    redact_inline_video,
)
from .veo.gemini import GeminiProvider
from .veo.interactions import VERTEX_BASE_URL, InteractionsProvider
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
DISK_FULL = (
    "The studio's disk is full, so this video could not be saved; nothing half-written was "
    "kept. Free some space, then retry the job."
)


def failure_sentence(error):
    """Return what a person reads for a failure that is not Veo's: never the error's text."""
    if isinstance(error, NotAVideo):
        return f"The stored video could not be read. {error}"  # media's reasons are sentences
    if isinstance(error, storage.StorageUnavailable):
        return error.message
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DISK_FULL
    if isinstance(error, OSError):
        return DISK_TROUBLE
    return UNEXPECTED


_providers = {}


def get_provider(model=None):
    """Return the provider for model (VEO_MODEL by default) in the configured family.

    The family is VEO_PROVIDER's (the emulator speaks the Gemini API's dialects); the
    catalog says which API serves the model: the Interactions API (Gemini Omni) or
    predictLongRunning (Veo). One per process and configuration: a run is one short
    step, and a new provider each time would fetch a new OAuth token (Vertex) for
    every poll.
    """
    api = catalog.api_of(model or settings.VEO_MODEL)
    key = (
        api,
        settings.VEO_PROVIDER,
        settings.VEO_API_BASE_URL,
        settings.GEMINI_API_KEY,
        settings.GEMINI_API_VERSION,
        tuple(settings.VEO_DOWNLOAD_HOSTS),
        settings.VEO_HTTP_TIMEOUT,
        settings.VERTEX_PROJECT,
        settings.VERTEX_LOCATION,
        settings.GOOGLE_APPLICATION_CREDENTIALS,
        settings.VERTEX_API_BASE_URL,
        settings.VERTEX_STORAGE_BASE_URL,
        settings.VERTEX_STORAGE_URI,
    )
    if key not in _providers:
        # Both APIs of a family may be in use at once; a changed setting drops them all.
        if any(old[1:] != key[1:] for old in _providers):
            _providers.clear()
        _providers[key] = _new_provider(api)
    return _providers[key]


def forget_providers():
    """Drop the providers made so far, and the OAuth tokens they hold; the next get makes new ones."""
    _providers.clear()


def _new_provider(api):
    common = {"download_hosts": settings.VEO_DOWNLOAD_HOSTS, "timeout": settings.VEO_HTTP_TIMEOUT}
    vertex = settings.VEO_PROVIDER == "vertex"
    if api == "interactions" and vertex:
        # Omni on Vertex is served in the global location only.
        return InteractionsProvider(
            project=settings.VERTEX_PROJECT,
            location="global",
            credentials_file=settings.GOOGLE_APPLICATION_CREDENTIALS,
            base_url=settings.VERTEX_API_BASE_URL or VERTEX_BASE_URL,
            storage_base_url=settings.VERTEX_STORAGE_BASE_URL,
            storage_uri=settings.VERTEX_STORAGE_URI,
            **common,
        )
    if api == "interactions":
        return InteractionsProvider(
            api_key=settings.GEMINI_API_KEY,
            base_url=settings.VEO_API_BASE_URL,
            version=settings.GEMINI_API_VERSION,
            **common,
        )
    if vertex:
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
    """Return how long a run may go unheard before another may take the job."""
    return services.lease_seconds()


class Later(Exception):
    """The job's next step is not due yet: store when it is (and changes) and let go."""

    def __init__(self, seconds, **changes):
        super().__init__(seconds)
        self.seconds, self.changes = seconds, changes


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
    """Advance one job through the steps that are due now; never wait for one.

    1. Claim a queued job (idle -> processing) if fewer than VEO_MAX_IN_FLIGHT are in
       flight, and submit it to Veo exactly once; a refused submit is retried later.
    2. Poll the stored operation once; if Veo is not done, the next poll is due after
       the poll interval (a failed poll: after a backoff), and progress creeps.
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
    later = None
    try:
        job.refresh_from_db()
        provider = get_provider(job.model)
        if job.status == Status.IDLE and not services.job_claim(job.pk):
            return  # The provider is full; finishing jobs queue the next in line.
        job.refresh_from_db()
        samples = None
        if job.stage == Stage.SUBMITTING:
            _submit(job, provider, lease)
        if job.stage == Stage.GENERATING:
            samples = _poll(job, provider)
        if job.stage == Stage.DOWNLOADING:
            _download(job, provider, lease, samples)
        if job.stage == Stage.FINISHING:
            _finish(job, lease)
    except Stopped:
        pass
    except Later as wait:
        later = wait
    except VeoError as exc:
        logger.warning("Job %s failed: %s", job_id, exc.message)
        services.job_fail(job_id, message=exc.message, actual_cost=_failure_cost(job, exc))
    except Exception as exc:
        logger.exception("Job %s failed unexpectedly", job_id)
        services.job_fail(job_id, message=failure_sentence(exc))
    finally:
        if later is None:
            lease.release()
        else:
            services.job_schedule(
                job_id,
                lease.expires,
                at=timezone.now() + timedelta(seconds=later.seconds),
                **later.changes,
            )
        storage.remove_temp_files(job_id)


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
    return billed(job, samples=samples)[0]


def billed(job, *, samples):
    """Return (cost, seconds) Google bills for the job's finished videos.

    The Interactions API counts video tokens in its usage; the cost is those tokens at
    the catalog's rate, and unknown (None, so the estimate counts) when Google did not
    report them. Veo bills per second of video.
    """
    if catalog.api_of(job.model) != "interactions":
        return pricing.billed(job, samples=samples)
    seconds = int(job.options["duration_seconds"]) * samples
    tokens = (job.metadata or {}).get("video_tokens")
    if tokens is None:
        return None, seconds
    return pricing.cost_of_tokens(job.model, tokens), seconds


def _submit(job, provider, lease):
    if job.operation_name:
        # Saved by an earlier run whose stage change did not land: never submit again.
        services.job_transition(job.pk, from_stage=Stage.SUBMITTING, to_stage=Stage.GENERATING)
        job.stage = Stage.GENERATING
        return
    if job.submitted_at is not None:
        # This run holds the lease, so the run that started that submit is gone.
        raise SubmitOutcomeUnknown("an earlier attempt stopped before Veo's answer was saved")
    with _parent_video(job) as parent_video:
        request = _request(job, parent_video)

        def mark_sending():
            # Marked while the request's last byte is held back, so a run killed before the
            # mark sent Google nothing it acts on, and a run that finds the mark and no
            # operation name knows a submit may have gone out and must not send another.
            if not services.job_mark_submit_started(job.pk):
                raise Stopped

        lease.renew(Stage.SUBMITTING)
        try:
            name = provider.submit(request, on_sending=mark_sending)
        except SubmitOutcomeUnknown as exc:
            metrics.record_provider_error(exc)
            raise
        except VeoError as exc:
            metrics.record_provider_error(exc)
            if not exc.retryable:
                raise
            # Google refused it (a 429, or a connection that never left): nothing billed,
            # so a later run may send it. The deadline counts from that real submit.
            services.job_clear_submit_mark(job.pk)
            attempts = job.attempts + 1
            if attempts == SUBMIT_ATTEMPTS:
                raise _gave_up(exc, SUBMIT_ATTEMPTS) from None
            raise Later(_backoff(attempts - 1, exc), attempts=attempts) from None
    if not services.job_record_operation(job.pk, name):
        raise Stopped
    job.refresh_from_db(
        fields=["operation_name", "stage", "submitted_at", "attempts", "poll_failures"]
    )


@contextlib.contextmanager
def _parent_video(job):
    """Yield a local copy of the video an extend, edit or upscale starts from, or None.

    None when the job starts from no video, or when its parent's video is no longer
    stored (the provider may still reach it by its gs:// uri).
    """
    name = job.parent and storage.relative_output(job.parent.pk)
    if Task(job.task or Task.TEXT) not in FROM_VIDEO or not name or not storage.exists(name):
        yield None
        return
    with storage.local_copy(name) as path:
        yield path


def _request(job, parent_video=None):
    """Build the provider request: the job's task, prompt, options, images and source.

    Frames and reference images are the job's image resources (first-frame,
    last-frame, reference-0, reference-1, ...); the source of an extend, edit or
    upscale is the parent job's video: the generation that made it, and a local copy
    (parent_video, from _parent_video).
    """
    frames, references = {}, {}
    for resource in job.resources.filter(type=VideoResource.Type.IMAGE):
        stem = resource.filename.rsplit(".", 1)[0]
        if stem in (storage.FIRST_FRAME, storage.LAST_FRAME):
            frames[stem] = _image(resource)
        elif storage.reference_index(stem) is not None:
            references[storage.reference_index(stem)] = _image(resource)
    options = job.options
    task = Task(job.task or Task.TEXT)
    return GenerationRequest(
        prompt=job.prompt_text,
        model=job.model,
        task=task,
        aspect_ratio=options["aspect_ratio"],
        resolution=options["resolution"],
        duration_seconds=int(options["duration_seconds"]),
        negative_prompt=options.get("negative_prompt", ""),
        sample_count=int(options.get("sample_count", 1)),
        person_generation=options.get("person_generation", ""),
        image=frames.get(storage.FIRST_FRAME),
        last_frame=frames.get(storage.LAST_FRAME),
        reference_images=tuple(references[n] for n in sorted(references)),
        source=_source(job.parent, parent_video) if task in FROM_VIDEO and job.parent else None,
        seed=options.get("seed"),
        generate_audio=options.get("generate_audio"),
        enhance_prompt=options.get("enhance_prompt"),
    )


def _image(resource):
    data = storage.read_bytes(resource.file_path)
    return InputImage(data=data, mime_type=resource.content_type)


def _source(parent, path):
    """Return the parent job's video as a source: its generation, uri and local copy."""
    video = (parent.metadata or {}).get("video") or {}
    return SourceVideo(
        job_id=str(parent.pk),
        reference=parent.operation_name or "",
        api=catalog.api_of(parent.model),
        uri=_kept_uri(parent),
        path=path,
        duration_seconds=float(video.get("duration_seconds") or 0.0),
    )


def _kept_uri(parent):
    """Return the gs:// object Vertex wrote the parent's video to, or "" (none, or not known)."""
    answer = (parent.metadata or {}).get("provider_response") or {}
    uris = [v.get("gcsUri") for v in (answer.get("response") or {}).get("videos") or []]
    uris += [
        part.get("uri")
        for step in answer.get("steps") or []
        if isinstance(step, dict)
        for part in step.get("content") or []
        if isinstance(part, dict) and part.get("type") == "video"
    ]
    return next((uri for uri in uris if isinstance(uri, str) and uri.startswith("gs://")), "")


def _gave_up(error, attempts):
    return VeoError(f"{error.message} The studio tried {attempts} times; retry the job later.")


def _backoff(attempt, error):
    return backoff(attempt, hint=error.retry_after, base=settings.VEO_RETRY_BASE_SECONDS)


def _poll(job, provider):
    """Poll once; return the samples when Veo is done, raise Later while it is not."""
    operation = poll_once(job, provider)
    seen_at = timezone.now()
    if operation.error is not None:
        metrics.record_provider_error("generation_failed")
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
    if operation.video_tokens is not None:
        metadata["video_tokens"] = operation.video_tokens
    if not services.job_transition(
        job.pk,
        from_stage=Stage.GENERATING,
        to_stage=Stage.DOWNLOADING,
        progress=GENERATED,
        metadata=metadata,
        poll_failures=0,
        attempts=0,
    ):
        raise Stopped
    metrics.record_done_to_downloading(operation.done_at or seen_at)
    job.metadata, job.stage = metadata, Stage.DOWNLOADING
    job.attempts = job.poll_failures = 0
    return operation.samples


def poll_once(job, provider):
    """Poll the job's operation once and return it when done; else raise Later.

    The next poll is due after the poll interval, which starts at VEO_POLL_INTERVAL and
    grows by half each poll up to VEO_POLL_INTERVAL_MAX; a failed poll is retried after
    an exponential backoff that honours Google's wait. Past the deadline (counted from
    the submit), the job has timed out.
    """
    if _past_deadline(job):
        raise VeoError(
            f"Timed out: Veo did not finish within {settings.VEO_JOB_DEADLINE_MINUTES} "
            "minutes of the submit."
        )
    try:
        operation = provider.poll(job.operation_name)
    except VeoError as exc:
        metrics.record_provider_error(exc)
        if not exc.retryable:
            raise
        failures = job.poll_failures + 1
        raise Later(_backoff(failures, exc), poll_failures=failures, progress=_creep(job)) from None
    if not operation.done:
        raise Later(poll_interval(job), poll_failures=0, progress=_creep(job))
    return operation


def poll_interval(job):
    """Return the wait before the next poll: VEO_POLL_INTERVAL, growing by half each poll.

    Computed from the time since the submit (after polls at base, 1.5 base, 2.25 base...
    the next interval is base plus half the time gone), so no count needs storing.
    """
    base = settings.VEO_POLL_INTERVAL
    elapsed = (timezone.now() - job.submitted_at).total_seconds() if job.submitted_at else 0
    return min(base + max(0.0, elapsed) / 2, max(settings.VEO_POLL_INTERVAL_MAX, base))


def _past_deadline(job):
    """Return whether the job's deadline has passed; it counts from a real submit only."""
    if job.submitted_at is None:
        return False
    return timezone.now() > job.submitted_at + timedelta(minutes=settings.VEO_JOB_DEADLINE_MINUTES)


def _creep(job):
    """Return a progress figure between 10 and 49 that grows with time spent generating."""
    elapsed = (timezone.now() - (job.submitted_at or job.created_at)).total_seconds()
    share = elapsed / (elapsed + TYPICAL_GENERATION_SECONDS)
    return GENERATING_FLOOR + int(share * (GENERATED - 1 - GENERATING_FLOOR))


def _download(job, provider, lease, samples=None):
    if samples is None:
        # A later run: ask again (polls are free) rather than keep inline videos around,
        # retrying a failed poll as the generation's polls are.
        try:
            samples = provider.poll(job.operation_name).samples
        except VeoError as exc:
            metrics.record_provider_error(exc)
            if not exc.retryable:
                raise
            failures = job.poll_failures + 1
            raise Later(_backoff(failures, exc), poll_failures=failures) from None
    if not samples:
        raise VeoError("Veo's answer no longer holds the video. Retry the job.")
    targets = [storage.relative_output(job.pk)] + [
        storage.relative_resource(job.pk, "video", f"sample-{n}.mp4")
        for n in range(2, len(samples) + 1)
    ]
    for sample, target in zip(samples, targets, strict=True):
        try:
            fetch_video(
                provider,
                sample,
                target,
                job_id=job.pk,
                renew=lambda: lease.renew(Stage.DOWNLOADING),
            )
        except VeoError as error:
            metrics.record_provider_error(error)
            if not error.retryable:
                raise
            attempts = job.attempts + 1
            if attempts == DOWNLOAD_ATTEMPTS:
                raise _gave_up(error, DOWNLOAD_ATTEMPTS) from None
            raise Later(_backoff(attempts - 1, error), attempts=attempts) from None
    if not services.job_transition(
        job.pk,
        from_stage=Stage.DOWNLOADING,
        to_stage=Stage.FINISHING,
        progress=DOWNLOADED,
        attempts=0,
        poll_failures=0,
    ):
        raise Stopped
    job.stage = Stage.FINISHING


def fetch_video(provider, sample, target, *, job_id, renew):
    """Download one sample to storage as target, through a checked local file.

    One try: a retryable VeoError is retried by a later run, after a backoff.
    """
    renew()
    temp = storage.staged_file(target)
    try:
        provider.download(sample, temp, max_bytes=settings.VEO_DOWNLOAD_MAX_BYTES)
        probe(temp)
        storage.store(target, temp)
    except NotAVideo as exc:
        raise VeoError(f"Veo's download was not a playable video. {exc}", retryable=True) from None
    except storage.StorageUnavailable as exc:
        # Retried like a broken download (polls and downloads are free), then given up.
        raise VeoError(exc.message, retryable=True) from None
    finally:
        temp.unlink(missing_ok=True)


def _finish(job, lease):
    """Make the poster and audio track from a local copy of the video, then complete.

    A storage outage is retried after a backoff, like a broken download, then given up.
    """
    lease.renew(Stage.FINISHING)
    try:
        with storage.local_copy(storage.relative_output(job.pk)) as video:
            made, info, digest, size = _make_resources(job, video)
    except storage.StorageUnavailable as exc:
        attempts = job.attempts + 1
        error = VeoError(exc.message, retryable=True)
        if attempts == DOWNLOAD_ATTEMPTS:
            raise _gave_up(error, DOWNLOAD_ATTEMPTS) from None
        raise Later(_backoff(attempts - 1, error), attempts=attempts) from None
    samples = int((job.metadata or {}).get("samples_returned", 1))
    services.job_complete(
        job.pk,
        samples=samples,
        billed=billed(job, samples=samples),
        video_path=storage.relative_output(job.pk),
        info=info,
        sha256=digest,
        size=size,
        resources=made,
    )
    transcripts.enqueue(job.pk)  # a task of its own: it never holds up or fails the job


def _make_resources(job, video):
    """Store the poster and audio track made from the local video; return what they are."""
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
    return made, info, sha256(video), video.stat().st_size


def cancel_at_provider(job_id):
    """Send a cancelled job's cancel to Google once, then collect its late result.

    Best effort, in the worker: a submit still in flight records its operation name
    even after the cancel, so the cancel waits for it (as the late result does); the
    cancel may fail or come too late, and Google may bill the generation anyway.
    """
    job = VideoCreationJob.objects.filter(pk=job_id, cancelled_at__isnull=False).first()
    if job is None:
        return
    if not job.operation_name:
        in_flight = job.submitted_at and timezone.now() - job.submitted_at < timedelta(
            seconds=lease_seconds()
        )
        if in_flight:
            schedule(
                "jobs.tasks.cancel_at_provider",
                job_id,
                name=f"provider-cancel-{job_id}-{time.time_ns()}",
                schedule_type=Schedule.ONCE,
                repeats=-1,
                next_run=timezone.now() + timedelta(seconds=5),
            )
        return
    try:
        get_provider(job.model).cancel(job.operation_name)
    except VeoError as exc:
        logger.info("Could not ask Google to stop job %s: %s", job_id, exc.message)
    collect_late_result(job_id)


def collect_late_result(job_id):
    """Keep the video of a job cancelled after its submit, if Veo delivers it anyway.

    Veo cannot be told to stop, and Google may bill the generation; the result is
    stored on the cancelled job as resources/videos/late-result.mp4. One poll (or one
    download) per run, like the pipeline's; the next is a one-off django-q2 schedule
    (its scheduler ticks every 30 s, soon enough for a video nobody waits for), until
    the job's deadline.
    """
    job = VideoCreationJob.objects.filter(pk=job_id, cancelled_at__isnull=False).first()
    if job is None or job.resources.filter(filename=storage.LATE_RESULT_NAME).exists():
        return
    if not job.operation_name:
        # A submit still in flight records its operation name even after the cancel.
        in_flight = job.submitted_at and timezone.now() - job.submitted_at < timedelta(
            seconds=lease_seconds()
        )
        if in_flight:
            _collect_later(job_id, seconds=5)
        return
    provider = get_provider(job.model)
    try:
        operation = poll_once(job, provider)
        if operation.error is not None or not operation.samples:
            return
        relative = storage.relative_resource(job.pk, "video", storage.LATE_RESULT_NAME)
        services.job_files_unsettle(job.pk)  # a kill from here on leaves a temp file
        try:
            fetch_video(provider, operation.samples[0], relative, job_id=job.pk, renew=lambda: None)
        except VeoError as error:
            metrics.record_provider_error(error)
            if not error.retryable:
                raise
            raise Later(_backoff(1, error)) from None
        services.job_record_late_result(
            job.pk, filename=storage.LATE_RESULT_NAME, file_path=relative
        )
    except Later as later:
        _collect_later(job_id, seconds=later.seconds)
    except VeoError as exc:
        logger.info("No late result for cancelled job %s: %s", job_id, exc.message)
    finally:
        storage.remove_temp_files(job_id)


def _collect_later(job_id, *, seconds):
    if seconds <= 0:
        async_task("jobs.tasks.collect_late_result", job_id, group="jobs")
        return
    schedule(
        "jobs.tasks.collect_late_result",
        job_id,
        name=f"late-result-{job_id}-{time.time_ns()}",
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=timezone.now() + timedelta(seconds=seconds),
    )
