"""The jobs router: the seed's createVideo, getJob, getAllJobs and cancelJob, and more.

    GET    jobs?limit=&status=&cursor=   [VideoCreationJob], nextCursor (and a Link header)
    POST   jobs                          201 {jobId}; Idempotency-Key honoured
    GET    jobs/<id>                     VideoCreationJob
    DELETE jobs/<id>                     null (409 while it runs)
    POST   jobs/<id>/cancel              VideoCreationJob (409 if finished)
    POST   jobs/<id>/retry               201 {jobId} (409 unless failed)
    PATCH  jobs/<id>                     VideoCreationJob: {visibility} shares it, or not

A job the caller may not see is a 404, like one that does not exist; a teammate's shared
job is theirs to read and to build on (parentId), its owner's to change (else 403).
"""

import base64
import binascii

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404
from ninja import Query, Router

from jobs import catalog, frames, options, pricing, services
from jobs.access import get_job_for_user
from jobs.forms import child_options
from jobs.models import VideoCreationJob
from videostudio.envelope import (
    ApiError,
    Envelope,
    ListEnvelope,
    error_responses,
    invalid,
    links,
    ok,
    ok_list,
    read_body,
    request_body,
)

from . import idempotency, pagination
from .creation import budget_refused, check_rate_limit, refused
from .schemas import (
    JobCreatedOut,
    JobFilters,
    JobIn,
    JobOut,
    VisibilityIn,
    stored_options,
)

router = Router(tags=["jobs"], by_alias=True)  # camelCase in the document too
FRAMES = {"image": "image", "last_frame": "lastFrame"}
# The knobs a body may set beside its options, by stored name and name on the wire.
KNOBS = {"seed": "seed", "generate_audio": "generateAudio", "enhance_prompt": "enhancePrompt"}
# What a job's answer reads of its children: their ids.
CHILD_IDS = Prefetch(
    "children", queryset=VideoCreationJob.objects.only("pk", "parent_id").order_by("created_at")
)
# The operations that take a job's id, for the links from the answers that give one.
JOB_OPERATIONS = ("getJob", "updateJob", "cancelJob", "retryJob", "deleteJob", "getJobVideo")


def get_job(request, job_id, *, act=False):
    """Return the job if the caller may see it (a 404 otherwise, so ids do not leak) and,
    with act, change it (jobs.access's PermissionDenied is the API's 403: videostudio.api)."""
    try:
        return get_job_for_user(request.user, job_id, act=act)
    except Http404:
        raise ApiError(404, "Job not found.") from None


@router.get(
    "jobs",
    url_name="jobs",
    operation_id="listJobs",
    response={200: ListEnvelope[JobOut], **error_responses()},
    summary="List your jobs, newest first",
)
def list_jobs(request, filters: Query[JobFilters]):
    """One page of jobs; pass `nextCursor` back as `cursor` for the next (null on the last)."""
    jobs = (
        VideoCreationJob.objects.for_user(request.user)
        .prefetch_related("resources", CHILD_IDS)
        .select_related("draft_version", "owner")  # the origin's version number, whose
        .defer("draft_version__prompts")
        .order_by("-created_at", "-pk")
    )
    if filters.status is not None:
        jobs = jobs.filter(status=filters.status)
    page, next_cursor = pagination.page_of(jobs, limit=filters.limit, cursor=filters.cursor)
    return ok_list(
        [JobOut.of(job) for job in page],
        next_cursor=next_cursor,
        next_url=pagination.next_page_url(request, next_cursor),
    )


@router.post(
    "jobs",
    url_name="jobs",
    operation_id="createJob",
    response={201: Envelope[JobCreatedOut], **error_responses(404, 409, 413, 429)},
    summary="Create a job (the seed's createVideo)",
    openapi_extra={
        **request_body(JobIn),
        **links(201, "job_id", "$response.body#/data/jobId", *JOB_OPERATIONS),
    },
)
def create_job(request, idempotency_key: str | None = idempotency.key_header()):
    """Queue a job; it runs in the background: poll `GET jobs/{id}` until it finishes."""
    body, raw = read_body(request, JobIn, max_bytes=settings.API_MAX_BODY_BYTES)
    return idempotency.create_once(request, idempotency_key, raw, lambda: _create(request, body))


def _create(request, body):
    check_rate_limit(request.user)
    errors = {}
    parent = _parent(request, body)
    model, options = _options(body, errors, parent=parent)
    images = {name: _frame(body, name, sent, errors) for name, sent in FRAMES.items()}
    references = _references(body, errors)
    if errors:
        raise invalid(errors)
    try:
        job = services.job_create(
            owner=request.user,
            prompt_text=body.prompt_text,
            prompt_id=body.prompt_id,
            model=model,
            options=options,
            task=body.task,  # left out: implied by the images sent (job_create)
            parent=parent,
            reference_images=references,
            **images,
        )
    except pricing.BudgetExceeded as exc:
        raise budget_refused(exc) from None
    except ValidationError as exc:
        # The knobs sent beside the options are named as sent, and so is the parent.
        renames = {name: sent for name, sent in KNOBS.items() if getattr(body, name) is not None}
        raise refused(exc, options_prefix=True, renames={**renames, "parent": "parentId"}) from None
    return ok(JobCreatedOut(job_id=job.pk), status=201)


def _parent(request, body):
    """Return the job `parentId` names; someone else's is a 404, as one that does not exist."""
    if body.parent_id is None:
        return None
    try:
        return get_job_for_user(request.user, body.parent_id)
    except Http404:
        message = f"No job {body.parent_id} of yours or shared with you to start from."
        raise ApiError(404, message, fields={"parentId": message}) from None


def _references(body, errors):
    """Return the reference images as frames; add problems to errors as referenceImages[n]."""
    images = []
    for n, image in enumerate(body.reference_images or ()):
        frame = read_image(image, f"referenceImages[{n}]", errors)
        if frame is not None:
            images.append(frame)
    return images


def _options(body, errors, *, parent=None):
    """Return (model, stored options) with the defaults filled in; add problems to errors.

    A job made from another job's video takes that job's model and options unless the
    body sets them.
    """
    values = stored_options(body.options)
    base = child_options(parent, body.task) if parent is not None else {}
    model = values.pop("model", parent.model if parent is not None else options.default_model())
    offered = catalog.offered(settings.VEO_PROVIDER)
    spec = catalog.models().get(model)
    if spec is not None and spec.retired_on():
        errors["options.model"] = (
            f"{spec.label} was retired by Google on {spec.retired_on()}. Choose one of: "
            f"{', '.join(offered)}."
        )
    elif model not in offered:
        errors["options.model"] = (
            f"Unknown or unavailable model {model!r}. Choose one of: {', '.join(offered)}."
        )
    for name, sent in KNOBS.items():
        value = getattr(body, name)
        if value is None:
            continue
        if name in values and values[name] != value:
            errors[sent] = f"{sent} and options.{sent} differ; send one."
        values[name] = value
    return model, {**options.defaults("negative_prompt"), **base, **values}


def _frame(body, name, sent, errors):
    """Return a frames.Frame from the request's {"data", "mimeType"}; add problems to errors."""
    frame_in = getattr(body, name)
    if frame_in is None:
        return None
    return read_image(frame_in, sent, errors)


def read_image(frame_in, sent, errors):
    """Return a frames.Frame from a FrameIn; add a problem to errors[sent] instead."""
    try:
        data = base64.b64decode(frame_in.data, validate=True)
    except (binascii.Error, ValueError):
        errors[sent] = "The image data is not valid base64."
        return None
    try:
        frame = frames.read_frame(ContentFile(data), max_bytes=settings.VEO_IMAGE_MAX_BYTES)
    except ValidationError as exc:
        errors[sent] = " ".join(exc.messages)
        return None
    if frame_in.mime_type is not None and frame_in.mime_type != frame.mime_type:
        errors[sent] = (
            f"mimeType says {frame_in.mime_type}, but the data is a {frame.mime_type} image."
        )
        return None
    return frame


@router.get(
    "jobs/{job_id}",
    url_name="job",
    operation_id="getJob",
    response={200: Envelope[JobOut], **error_responses()},
    summary="Get a job with its resources (the seed's getJob)",
)
def get_one(request, job_id: str):
    return ok(JobOut.of(get_job(request, job_id)))


@router.patch(
    "jobs/{job_id}",
    url_name="job",
    operation_id="updateJob",
    response={200: Envelope[JobOut], **error_responses(413)},
    summary="Share a job with the team, or make it private again (its owner)",
    openapi_extra=request_body(VisibilityIn),
)
def update_job(request, job_id: str):
    job = get_job(request, job_id, act=True)
    body, _raw = read_body(request, VisibilityIn)
    services.visibility_set(row=job, visibility=body.visibility)
    return ok(JobOut.of(job))


@router.delete(
    "jobs/{job_id}",
    url_name="job",
    operation_id="deleteJob",
    response={200: Envelope[None], **error_responses(409)},
    summary="Delete a finished job and its files",
)
def delete_job(request, job_id: str):
    job = get_job(request, job_id, act=True)
    try:
        services.job_delete(job=job)
    except services.JobStateError as exc:
        raise ApiError(409, str(exc)) from None
    return ok(None)


@router.post(
    "jobs/{job_id}/cancel",
    url_name="cancel",
    operation_id="cancelJob",
    response={200: Envelope[JobOut], **error_responses(409)},
    summary="Cancel a job that has not finished (the seed's cancelJob)",
)
def cancel_job(request, job_id: str):
    job = get_job(request, job_id, act=True)
    if not services.job_cancel(job=job):
        raise ApiError(409, "This job had already finished, so there was nothing to cancel.")
    job.refresh_from_db()
    return ok(JobOut.of(job))


@router.post(
    "jobs/{job_id}/retry",
    url_name="retry",
    operation_id="retryJob",
    response={201: Envelope[JobCreatedOut], **error_responses(409, 429)},
    summary="Retry a failed job as a new one, with the same prompt, options and frames",
    openapi_extra=links(201, "job_id", "$response.body#/data/jobId", *JOB_OPERATIONS),
)
def retry_job(request, job_id: str):
    job = get_job(request, job_id, act=True)
    with transaction.atomic():
        check_rate_limit(request.user)
        try:
            retry = services.job_retry(job=job, owner=request.user)
        except services.JobStateError as exc:
            raise ApiError(409, str(exc)) from None
        except pricing.BudgetExceeded as exc:
            raise budget_refused(exc) from None
        except ValidationError as exc:
            # The catalog no longer accepts what the old job asked for.
            message = " ".join(exc.messages)
            raise ApiError(409, f"This job cannot be retried as it was: {message}") from None
    return ok(JobCreatedOut(job_id=retry.pk), status=201)
