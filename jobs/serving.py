"""Send a media file the caller was just allowed to see: with Range, via a proxy, or a bucket.

Callers check access first (jobs.access); this module only sends. From local disk with
MEDIA_OFFLOAD set, the response carries no body but a header the front proxy acts on:
nginx's X-Accel-Redirect (to MEDIA_ACCEL_PREFIX + the path) or Apache's X-Sendfile.
From a bucket, the answer is a redirect to a presigned URL that lives S3_URL_SECONDS (the
bucket honours Range itself), or with S3_PROXY the studio streams the object. Otherwise
Django sends the file itself (gunicorn with sendfile), honouring a single `Range: bytes=...`
so players can seek.
"""

import re
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseRedirect,
)

from . import storage

# Eighteen digits reach past any file; longer numbers are refused before int() reads
# them (Python's int() refuses more than 4,300 digits with a ValueError).
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
MAX_DIGITS = 18


def serve_file(request, relative_path, *, content_type, filename=None):
    """Return the response sending this stored file; raise Http404 if it is missing.

    Text (a transcript's .vtt and .txt) is sent as UTF-8. A range outside the file is a
    416 with `Content-Range: bytes */<size>`.
    """
    if not storage.exists(relative_path):
        raise Http404("The file is missing from the media storage.")
    if content_type.startswith("text/") and "charset" not in content_type:
        # Transcripts (text/vtt, text/plain) are UTF-8; WebVTT allows no other encoding.
        content_type += "; charset=utf-8"
    if storage.is_bucket() and not settings.S3_PROXY:
        return _presigned_redirect(relative_path, content_type, filename)
    if settings.MEDIA_OFFLOAD and not storage.is_bucket():
        response = HttpResponse(content_type=content_type)
        if settings.MEDIA_OFFLOAD == "nginx":
            response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_PREFIX + quote(relative_path)
        else:
            response["X-Sendfile"] = str(default_storage.local_file(relative_path))
    else:
        response = ranged_response(request, relative_path, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _presigned_redirect(name, content_type, filename):
    """Redirect to a short-lived URL of the object, naming the file a browser saves."""
    filename = filename or name.rsplit("/", 1)[-1]
    url = default_storage.url(
        name,
        parameters={
            "ResponseContentType": content_type,
            "ResponseContentDisposition": f"inline; filename*=UTF-8''{quote(filename)}",
            "ResponseCacheControl": "private, max-age=60",
        },
        expire=settings.S3_URL_SECONDS,
    )
    response = HttpResponseRedirect(url)
    # The URL is a credential for S3_URL_SECONDS: no cache keeps it past that.
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def ranged_response(request, name, *, content_type):
    """Return the whole file, or the single byte range the request asks for."""
    size = storage.size(name)
    match = RANGE.match(request.headers.get("Range", "").strip())
    if not match or not any(match.groups()):
        response = FileResponse(storage.open_stream(name), content_type=content_type)
        response["Content-Length"] = str(size)
        response["Accept-Ranges"] = "bytes"
        return response
    first, last = match.groups()
    if len(first) > MAX_DIGITS or len(last) > MAX_DIGITS:
        return _not_satisfiable(size)
    if first:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    else:
        start, end = max(size - int(last), 0), size - 1
    if start >= size or start > end:
        return _not_satisfiable(size)
    span = storage.open_range(name, start, end - start + 1)
    response = FileResponse(span, status=206, content_type=content_type)
    response["Content-Length"] = str(end - start + 1)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response


def _not_satisfiable(size):
    response = HttpResponse(status=416)
    response["Content-Range"] = f"bytes */{size}"
    return response
