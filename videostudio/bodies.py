"""Refuse a request body larger than its endpoint takes, before anything reads it.

Only job creation (the create form with its frames, and `POST jobs` in the API, with
base64 frames) may send up to API_MAX_BODY_BYTES; every other endpoint, drafts, runs,
imports and the admin included, takes at most MAX_BODY_BYTES. Uploaded files count
too: Django's DATA_UPLOAD_MAX_MEMORY_SIZE leaves them out and streams them to disk.
"""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

# URL names that create jobs and so may carry frames.
JOB_CREATION = {"jobs:index", "api:jobs"}
API_NAMESPACES = {"api", "drafts_api"}


class BodySizeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_BODY_BYTES:
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
            name = match.view_name if match else ""
            limit = settings.API_MAX_BODY_BYTES if name in JOB_CREATION else settings.MAX_BODY_BYTES
            if length > limit:
                return _too_large(limit, api=bool(match and match.namespace in API_NAMESPACES))
        return self.get_response(request)


def _too_large(limit, *, api):
    message = f"The request body is larger than this endpoint accepts ({limit:,} bytes)."
    if api:
        return JsonResponse({"success": False, "error": message}, status=413)
    return HttpResponse(
        f"{message} Go back, shorten it, and send it again.",
        status=413,
        content_type="text/plain; charset=utf-8",
    )
