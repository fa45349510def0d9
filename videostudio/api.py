"""The JSON API: one django-ninja instance, its error handlers, and its URLs.

    /api/video-creation/...   the operations (jobs.api's routers, drafts.api's, drafts.
                              storyboards.api's, jobs.webhooks.api's)
    /api/openapi.json         the OpenAPI 3.1 document, generated from the same schemas
                              that validate requests
    /api/docs                 Swagger UI, from the studio's own static files

Every answer is the seed's envelope (videostudio.envelope), errors included: pydantic's
validation errors become a 400 naming each field as the request spells it, an unknown
path under /api/video-creation/ a 404, a method the path does not take a 405 with Allow.
"""

import logging

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpResponseNotAllowed
from django.urls import include, path, reverse
from django.views.decorators.common import no_append_slash
from django.views.decorators.http import require_GET
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, HttpError, ValidationError

from drafts.api import router as drafts_router
from drafts.storyboards.api import router as storyboards_router
from jobs.api import batches_router, files_router, jobs_router
from jobs.api.auth import StudioAuth
from jobs.webhooks.api import router as webhooks_router

from .envelope import BODY_SCHEMAS, ApiError, ErrorOut, body_too_large, fields_of, invalid

PREFIX = "video-creation/"
# The drafts' routes keep their own URL namespace, `drafts_api:`.
DRAFT_ROUTES = {"drafts", "draft", "run"}
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class StudioApi(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in BODY_SCHEMAS:
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[model.__name__] = body
        return schema

    def get_root_path(self, path_params):
        """The operations' paths start at /api/ (ninja's own root view is not mounted)."""
        return reverse("api:openapi-json", kwargs=path_params).removesuffix("openapi.json")


def _docs(view):
    """The document and its page: GET only, and readable without logging in."""
    return login_not_required(require_GET(view))


api = StudioApi(
    title="Video Studio API",
    version="16",
    description=(
        "The seed's video-creation channels over HTTP. Every answer is the envelope "
        "`{success, data}` or `{success: false, error, fields?}`; a list's `data` is the "
        "array, with `nextCursor` beside it and in a `Link` header."
    ),
    auth=StudioAuth(),
    urls_namespace="api",
    openapi_url="openapi.json",
    docs_url="docs",
    docs_decorator=_docs,
)
api.add_router(PREFIX, jobs_router)
api.add_router(PREFIX, batches_router)
api.add_router(PREFIX, files_router)
api.add_router(PREFIX, drafts_router)
api.add_router(PREFIX, storyboards_router)
api.add_router(PREFIX, webhooks_router)
# The fallback below must stay last.

fallback = Router()


@fallback.api_operation(
    METHODS,
    "{path:rest}",
    url_name="not-found",
    include_in_schema=False,
    response={404: ErrorOut},
)
def not_found(request, rest: str):
    """Answer any other path under the API with a JSON 404."""
    hint = " The API's paths have no trailing slash." if request.path.endswith("/") else ""
    raise ApiError(404, f"No such endpoint: {request.path}.{hint}")


api.add_router(PREFIX, fallback)


# --- Errors ----------------------------------------------------------------------------


@api.exception_handler(ApiError)
def _api_error(request, exc):
    return exc.response()


@api.exception_handler(ValidationError)
def _invalid_request(request, exc):
    """pydantic's errors as a 400 naming each field: `options.durationSeconds`."""
    return invalid(fields_of(exc.errors)).response()


@api.exception_handler(Http404)
def _not_found(request, exc):
    return ApiError(404, str(exc) or "Not found.").response()


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return ApiError(403, str(exc) or "You may not do this.").response()


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return ApiError(
        401, "Log in, or send a bearer token.", headers={"WWW-Authenticate": "Bearer"}
    ).response()


@api.exception_handler(HttpError)
def _http_error(request, exc):
    if isinstance(exc.__cause__, ApiError):
        return exc.__cause__.response()
    return ApiError(exc.status_code, str(exc)).response()


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return body_too_large().response()


@api.exception_handler(SuspiciousOperation)
def _unsafe(request, exc):
    # Logged where Django logs these, as its own handler would have.
    security = logging.getLogger(f"django.security.{exc.__class__.__name__}")
    security.error(str(exc), extra={"request": request, "status_code": 400})
    return ApiError(400, "This request was refused as unsafe.").response()


# --- URLs ------------------------------------------------------------------------------


def _enveloped(view):
    """The view, open to LoginRequiredMiddleware (the API answers 401 itself), with its 405
    in the envelope."""

    def endpoint(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = ", ".join(m for m in METHODS if m in response["Allow"].split(", "))
            return ApiError(
                405,
                f"{request.method} is not allowed here; use {allowed}.",
                headers={"Allow": allowed},
            ).response()
        return response

    endpoint.csrf_exempt = True  # session callers' CSRF is checked in jobs.api.auth
    return no_append_slash(login_not_required(endpoint))


def urls():
    """Return the URL patterns: `api:` for the jobs' routes and the document, and
    `drafts_api:` for the drafts'."""
    patterns, _app, _namespace = api.urls
    mine = []
    for pattern in patterns:
        if pattern.name == "api-root":
            continue
        pattern.callback = _enveloped(pattern.callback)
        mine.append(pattern)
    drafts = [p for p in mine if p.name in DRAFT_ROUTES]
    others = [p for p in mine if p.name not in DRAFT_ROUTES]
    return [
        path("api/", include((drafts, "drafts_api"))),
        path("api/", include((others, "api"))),
    ]
