"""The JSON API under /api/video-creation/: the seed's IPC channels over HTTP.

Every body is the seed's ApiResponse envelope, errors included:
`{"success": true, "data": ...}` or `{"success": false, "error": "...", "fields": {...}}`,
where `fields` (only on a 400) names each bad field as the request spells it
(`promptText`, `options.durationSeconds`).

A caller is either the browser session, which must send the CSRF token on unsafe
methods, or a script sending `Authorization: Bearer <token>` (see jobs.tokens), for
which CSRF does not apply: a browser never adds that header by itself.

    GET    jobs?limit=&status=&cursor=   {jobs: [VideoCreationJob], nextCursor}
    POST   jobs                          201 {jobId}; Idempotency-Key honoured
    GET    jobs/<id>                     VideoCreationJob
    DELETE jobs/<id>                     null (409 while it runs)
    POST   jobs/<id>/cancel              VideoCreationJob (409 if finished)
    POST   jobs/<id>/retry               201 {jobId} (409 unless failed)
    GET    jobs/<id>/video               the MP4, with Range
    GET    jobs/<id>/resources/<rid>     the resource's file, with Range
    GET    batches/<id>                  {counts, progress, finished, jobIds, ...}

Drafts (save-draft, get-drafts, delete-draft, and runs) are in drafts.api.

A job the caller may not see is a 404, like one that does not exist. `nextCursor` is
null on the last page; pass it back as `cursor` for the next one.
"""

import base64
import binascii
import hashlib
import json
import logging
from datetime import datetime, timedelta
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    RequestDataTooBig,
    SuspiciousOperation,
    ValidationError,
)
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django.views.decorators.common import no_append_slash
from django.views.decorators.debug import sensitive_variables

from . import catalog, frames, limits, options, pricing, services, tokens
from .access import get_batch_for_user, get_job_for_user
from .models import IdempotencyKey, VideoCreationJob, VideoResource
from .serializers import camel, serialize_job
from .serving import serve_file

Status = VideoCreationJob.Status

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
PROMPT_ID_MAX_CHARS = 255
IDEMPOTENCY_KEY_MAX_CHARS = 255
JOB_FIELDS = ("promptId", "promptText", "options", "image", "lastFrame")
FRAME_FIELDS = {"image": "image", "lastFrame": "last_frame"}


# --- Envelope, errors and the endpoint decorator -------------------------------------
# ApiError, ok, invalid, json_body, check_rate_limit and create_once are public: the
# drafts API (drafts.api) answers in the same envelope with them.


class ApiError(Exception):
    """An answer other than success: its status, a message a person understands, bad fields."""

    def __init__(self, status, message, *, fields=None, headers=None):
        super().__init__(message)
        self.status, self.message = status, message
        self.fields, self.headers = fields or {}, headers or {}

    def response(self):
        body = {"success": False, "error": self.message}
        if self.fields:
            body["fields"] = self.fields
        return JsonResponse(body, status=self.status, headers=self.headers)


def ok(data, *, status=200):
    """Return the success envelope around data."""
    return JsonResponse({"success": True, "data": data}, status=status)


def invalid(fields):
    """Return a 400 naming each bad field and saying what is wrong with it."""
    summary = "; ".join(f"{name}: {message}" for name, message in fields.items())
    return ApiError(400, f"The request has invalid fields. {summary}", fields=fields)


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, returning the reason for a rejection instead of a page."""

    def _reject(self, request, reason):
        return reason


@sensitive_variables("raw")
def _authenticate(request):
    """Set request.user from the bearer token, or keep the session's; raise 401 or 403."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    # Other schemes are left alone: a proxy's Basic auth in front of the studio sends one
    # with every browser request.
    if scheme.lower() == "bearer":
        token = tokens.token_lookup(raw.strip())
        if token is None:
            raise ApiError(
                401,
                "The API token is missing, malformed, unknown or revoked, or has expired. "
                "Send `Authorization: Bearer <token>` with a token from /settings/tokens/.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if token.is_read_only and request.method not in ("GET", "HEAD", "OPTIONS"):
            raise ApiError(
                403,
                f"This API token is read-only: it may read, but not {request.method}. "
                "Make a read-and-write token at /settings/tokens/ for changes.",
                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
            )
        request.user = token.user
        return
    if not request.user.is_authenticated:
        raise ApiError(
            401,
            "Log in, or send `Authorization: Bearer <token>` with a token from /settings/tokens/.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    check = _CsrfCheck(lambda request: None)
    check.process_request(request)
    reason = check.process_view(request, None, (), {})
    if reason:
        raise ApiError(
            403,
            f"CSRF check failed ({reason}). A browser session must send the X-CSRFToken "
            "header; a script should use an API token instead.",
        )


def api_view(methods):
    """Make a function an API endpoint for these HTTP methods.

    It answers a JSON 405 to any other method and a JSON 401 to a caller who is neither
    logged in nor sending a valid token (never a redirect to the login page), checks
    CSRF for session callers only, and turns an ApiError or Http404 into the envelope.
    """

    def decorator(view):
        @wraps(view)
        def endpoint(request, *args, **kwargs):
            try:
                if methods and request.method not in methods:
                    allowed = ", ".join(methods)
                    raise ApiError(
                        405,
                        f"{request.method} is not allowed here; use {allowed}.",
                        headers={"Allow": allowed},
                    )
                _authenticate(request)
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return exc.response()
            except Http404 as exc:
                return ApiError(404, str(exc) or "Not found.").response()
            except RequestDataTooBig:
                return _body_too_large().response()
            except SuspiciousOperation as exc:
                # Logged where Django logs these, as its own handler would have.
                security = logging.getLogger(f"django.security.{exc.__class__.__name__}")
                security.error(str(exc), extra={"request": request, "status_code": 400})
                return ApiError(400, "This request was refused as unsafe.").response()

        # CSRF is checked in _authenticate, for session callers only.
        endpoint.csrf_exempt = True
        return login_not_required(endpoint)

    return decorator


def _get_job(request, job_id):
    """Return the job if the caller may see it; a 404 otherwise, so ids do not leak."""
    try:
        return get_job_for_user(request.user, job_id)
    except Http404:
        raise ApiError(404, "Job not found.") from None


# --- Jobs --------------------------------------------------------------------------


@api_view(["GET", "POST"])
def job_list(request):
    """List the caller's jobs (GET) or create one (POST)."""
    if request.method == "POST":
        return _create_job(request)
    return _list_jobs(request)


def _list_jobs(request):
    """Return a page of jobs, newest first, with an opaque cursor to the next page."""
    limit = _page_size(request.GET.get("limit"))
    jobs = (
        VideoCreationJob.objects.for_user(request.user)
        .prefetch_related("resources")
        .select_related("draft_version")  # the origin's version number
        .defer("draft_version__prompts")
        .order_by("-created_at", "-pk")
    )
    status = request.GET.get("status")
    if status is not None:
        if status not in Status.values:
            raise invalid({"status": f"Use one of: {', '.join(Status.values)}."})
        jobs = jobs.filter(status=status)
    cursor = request.GET.get("cursor")
    if cursor:
        created_at, pk = _read_cursor(cursor)
        jobs = jobs.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    page = list(jobs[: limit + 1])
    next_cursor = _make_cursor(page[limit - 1]) if len(page) > limit else None
    return ok({"jobs": [serialize_job(job) for job in page[:limit]], "nextCursor": next_cursor})


def _page_size(raw):
    """Return the page size asked for; above the maximum it is clamped, not refused."""
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit < 1:
        raise invalid({"limit": f"Use a whole number from 1 to {MAX_PAGE_SIZE}."})
    return min(limit, MAX_PAGE_SIZE)


def _make_cursor(job):
    position = json.dumps([job.created_at.isoformat(), job.pk])
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def _read_cursor(cursor):
    """Return (created_at, id) from a cursor this API gave out; a 400 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, pk = json.loads(raw)
        created_at = datetime.fromisoformat(created_at)
        if created_at.tzinfo is None or not isinstance(pk, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error):
        raise invalid(
            {"cursor": "This is not a cursor the API gave out; start again without one."}
        ) from None
    return created_at, pk


def _create_job(request):
    body = json_body(request)
    return create_once(request, body, lambda: _job_create_from(request, body))


def _job_create_from(request, body):
    check_rate_limit(request.user)
    fields = _job_input(body)
    try:
        job = services.job_create(owner=request.user, **fields)
    except pricing.BudgetExceeded as exc:
        raise ApiError(403, " ".join(exc.messages)) from None
    except ValidationError as exc:
        raise _validation_error(exc) from None
    return ok({"jobId": job.pk}, status=201)


def json_body(request, *, max_bytes=None):
    """Return the request's JSON object, read up to max_bytes (API_MAX_BODY_BYTES)."""
    limit = max_bytes or settings.API_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise _body_too_large(limit)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise _body_too_large(limit)
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise ApiError(
            400, "The request body is not valid JSON: it is nested too deeply."
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def _body_too_large(limit=None):
    limit = limit or settings.API_MAX_BODY_BYTES
    return ApiError(
        413, f"The request body is larger than this endpoint accepts ({limit:,} bytes)."
    )


def _job_input(body):
    """Return job_create's keyword arguments from a create request; a 400 naming bad fields."""
    errors = {name: "Unknown field." for name in body if name not in JOB_FIELDS}
    prompt_text = body.get("promptText")
    # Its length is job_create's to check, as for every other way in.
    if not isinstance(prompt_text, str) or not prompt_text.strip():
        errors["promptText"] = "Write a prompt: Veo needs a description of the video."
    prompt_id = body.get("promptId")
    if prompt_id is not None and (
        not isinstance(prompt_id, str) or not 0 < len(prompt_id) <= PROMPT_ID_MAX_CHARS
    ):
        errors["promptId"] = f"Use a string of 1 to {PROMPT_ID_MAX_CHARS} characters."
    model, options = _options(body.get("options"), errors)
    images = {stored: _frame(name, body.get(name), errors) for name, stored in FRAME_FIELDS.items()}
    if errors:
        raise invalid(errors)
    return {
        "prompt_text": prompt_text.strip(),
        "prompt_id": prompt_id,
        "model": model,
        "options": options,
        **images,
    }


def _options(raw, errors):
    """Return (model, stored options) with the defaults filled in; add problems to errors."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors["options"] = 'Use an object, e.g. {"resolution": "720p"}.'
        return None, {}
    stored = {}
    for name, value in raw.items():
        if name in options.BY_API_NAME:
            stored[options.BY_API_NAME[name].name] = value
        else:
            errors[f"options.{name}"] = f"Unknown option; use {', '.join(options.BY_API_NAME)}."
    try:
        values = options.clean_values(stored)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors[f"options.{options.OPTIONS[name].api_name}"] = " ".join(messages)
        values = {}
    model = values.pop("model", options.default_model())
    offered = catalog.offered(settings.VEO_PROVIDER)
    if model not in offered:
        errors["options.model"] = (
            f"Unknown or unavailable model {model!r}. Choose one of: {', '.join(offered)}."
        )
    return model, {**options.defaults("negative_prompt"), **values}


def _frame(name, raw, errors):
    """Return a frames.Frame from {"data": base64, "mimeType": ...}; add problems to errors."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), str):
        errors[name] = 'Use {"data": "<base64>", "mimeType": "image/png"}.'
        return None
    try:
        data = base64.b64decode(raw["data"], validate=True)
    except (binascii.Error, ValueError):
        errors[name] = "The image data is not valid base64."
        return None
    try:
        frame = frames.read_frame(ContentFile(data), max_bytes=settings.VEO_IMAGE_MAX_BYTES)
    except ValidationError as exc:
        errors[name] = " ".join(exc.messages)
        return None
    mime_type = raw.get("mimeType")
    if mime_type is not None and mime_type != frame.mime_type:
        errors[name] = f"mimeType says {mime_type}, but the data is a {frame.mime_type} image."
        return None
    return frame


def _validation_error(exc):
    """Return a 400 for a ValidationError from job_create, its fields named as sent."""
    if not hasattr(exc, "error_dict"):
        return ApiError(400, " ".join(exc.messages))
    fields = {}
    for name, messages in exc.message_dict.items():
        if name in options.OPTIONS:
            field = f"options.{options.OPTIONS[name].api_name}"
        elif name == NON_FIELD_ERRORS:
            field = "request"
        else:
            field = camel(name)
        fields[field] = " ".join(messages)
    return invalid(fields)


def check_rate_limit(user, *, count=1):
    """Raise a 429 if creating count jobs takes user past the creation limit (jobs.limits)."""
    try:
        limits.check_creation_limit(owner=user, count=count)
    except limits.CreationLimitExceeded as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        raise ApiError(429, exc.messages[0], headers=headers) from None


# --- Idempotency ---------------------------------------------------------------------


def create_once(request, body, create):
    """Run create() in one transaction, at most once per Idempotency-Key and user.

    A repeat with the same key and the same body gets the first answer again (same
    status and body, marked `Idempotent-Replayed: true`) without creating anything; the
    same key with another body is a 409. The key is reserved by inserting its row before
    the work, so a concurrent repeat blocks on the unique constraint until the first
    commits, then finds its answer. Only a success is kept: an error rolls the
    reservation back with everything else, so the key may be sent again. A key older
    than API_IDEMPOTENCY_KEY_HOURS is forgotten and may be reused.
    """
    key = request.headers.get("Idempotency-Key")
    if key is None:
        with transaction.atomic():
            return create()
    if not 0 < len(key) <= IDEMPOTENCY_KEY_MAX_CHARS or not key.isprintable():
        raise ApiError(
            400,
            f"The Idempotency-Key header must be 1 to {IDEMPOTENCY_KEY_MAX_CHARS} printable "
            "characters, e.g. a UUID.",
        )
    request_hash = _request_hash(request, body)
    expired = timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_KEY_HOURS)
    with transaction.atomic():
        IdempotencyKey.objects.filter(user=request.user, created_at__lt=expired).delete()
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user=request.user, key=key, request_hash=request_hash
                )
        except IntegrityError:
            return _replay(IdempotencyKey.objects.get(user=request.user, key=key), request_hash)
        response = create()
        record.status_code = response.status_code
        record.response_body = json.loads(response.content)
        record.save(update_fields=["status_code", "response_body"])
    return response


def _request_hash(request, body):
    """Return a SHA-256 of the method, the path and the canonical JSON of the body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def _replay(record, request_hash):
    if record.request_hash != request_hash:
        raise ApiError(
            409,
            "This Idempotency-Key was already used with a different request. "
            "Use a new key for a new request.",
        )
    if record.status_code is None:
        raise ApiError(409, "A request with this Idempotency-Key is still being processed.")
    response = JsonResponse(record.response_body, status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


# --- One job -------------------------------------------------------------------------


@api_view(["GET", "DELETE"])
def job_detail(request, job_id):
    """Return the job with its resources (GET), or delete a finished one (DELETE)."""
    job = _get_job(request, job_id)
    if request.method == "DELETE":
        try:
            services.job_delete(job=job)
        except services.JobStateError as exc:
            raise ApiError(409, str(exc)) from None
        return ok(None)
    return ok(serialize_job(job))


@api_view(["POST"])
def job_cancel(request, job_id):
    job = _get_job(request, job_id)
    if not services.job_cancel(job=job):
        raise ApiError(409, "This job had already finished, so there was nothing to cancel.")
    job.refresh_from_db()
    return ok(serialize_job(job))


@api_view(["POST"])
def job_retry(request, job_id):
    """Create a new job with a failed job's prompt, options and frames."""
    job = _get_job(request, job_id)
    with transaction.atomic():
        check_rate_limit(request.user)
        try:
            retry = services.job_retry(job=job, owner=request.user)
        except services.JobStateError as exc:
            raise ApiError(409, str(exc)) from None
        except pricing.BudgetExceeded as exc:
            raise ApiError(403, " ".join(exc.messages)) from None
        except ValidationError as exc:
            # The catalog no longer accepts what the old job asked for.
            message = " ".join(exc.messages)
            raise ApiError(409, f"This job cannot be retried as it was: {message}") from None
    return ok({"jobId": retry.pk}, status=201)


# --- Files ---------------------------------------------------------------------------


@api_view(["GET"])
def job_video(request, job_id):
    job = _get_job(request, job_id)
    if not job.video_url:
        raise ApiError(404, "This job has no video yet.")
    return _serve(request, job.video_url, content_type="video/mp4")


@api_view(["GET"])
def resource_file(request, job_id, resource_id):
    job = _get_job(request, job_id)
    resource = VideoResource.objects.filter(job=job, pk=resource_id).first()
    if resource is None:
        raise ApiError(404, "Resource not found.")
    if not resource.file_path:
        raise ApiError(404, "This resource has no local file.")
    return _serve(request, resource.file_path, content_type=resource.content_type)


def _serve(request, relative_path, *, content_type):
    """Send the file as the studio's pages do (Range, or a front proxy); a 416 in JSON."""
    response = serve_file(request, relative_path, content_type=content_type)
    if response.status_code == 416:
        raise ApiError(
            416,
            "The requested range is outside the file.",
            headers={"Content-Range": response["Content-Range"]},
        )
    return response


# --- Batches ---------------------------------------------------------------------------


@api_view(["GET"])
def batch_detail(request, batch_id):
    """Return a batch's live summary and its jobs' ids (poll it until `finished`)."""
    try:
        batch = get_batch_for_user(request.user, batch_id)
    except Http404:
        raise ApiError(404, "Batch not found.") from None
    summary = services.batch_summary(batch, viewer=request.user)
    return ok(
        {
            "id": batch.pk,
            "label": batch.label,
            "createdAt": batch.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "draftVersionId": batch.draft_version_id,
            "counts": {
                k: summary[k] for k in ("total", "idle", "processing", "completed", "failed")
            },
            "progress": summary["progress"],
            "finished": summary["finished"],
            "jobIds": list(
                batch.jobs.for_user(request.user)
                .order_by("created_at")
                .values_list("pk", flat=True)
            ),
        }
    )


@no_append_slash
@api_view(None)
def not_found(request, path=""):
    """Answer any other path under the API with a JSON 404."""
    hint = " The API's paths have no trailing slash." if request.path.endswith("/") else ""
    raise ApiError(404, f"No such endpoint: {request.path}.{hint}")
