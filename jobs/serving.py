"""Send a media file the caller was just allowed to see: with Range, or via a front proxy.

Callers check access first (jobs.access); this module only sends. With MEDIA_OFFLOAD
set, the response carries no body but a header the front proxy acts on: nginx's
X-Accel-Redirect (to MEDIA_ACCEL_PREFIX + the path) or Apache's X-Sendfile. Otherwise
Django streams the file itself, honouring a single `Range: bytes=...` so players can seek.
"""

import re
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse

from . import storage

# Eighteen digits reach past any file; longer numbers are refused before int() reads
# them (Python's int() refuses more than 4,300 digits with a ValueError).
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
MAX_DIGITS = 18
CHUNK_SIZE = 256 * 1024


def serve_file(request, relative_path, *, content_type):
    """Return the response sending this file of the data dir; raise Http404 if it is missing.

    Text (a transcript's .vtt and .txt) is sent as UTF-8. A range outside the file is a
    416 with `Content-Range: bytes */<size>`.
    """
    path = storage.absolute(relative_path)
    if not path.is_file():
        raise Http404("The file is missing from the data directory.")
    if content_type.startswith("text/") and "charset" not in content_type:
        # Transcripts (text/vtt, text/plain) are UTF-8; WebVTT allows no other encoding.
        content_type += "; charset=utf-8"
    if settings.MEDIA_OFFLOAD:
        response = HttpResponse(content_type=content_type)
        if settings.MEDIA_OFFLOAD == "nginx":
            response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_PREFIX + quote(relative_path)
        else:
            response["X-Sendfile"] = str(path)
    else:
        response = ranged_file_response(request, path, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def ranged_file_response(request, path, *, content_type):
    """Return the whole file, or the single byte range the request asks for."""
    size = path.stat().st_size
    match = RANGE.match(request.headers.get("Range", "").strip())
    if not match or not any(match.groups()):
        response = FileResponse(open(path, "rb"), content_type=content_type)  # noqa: SIM115
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
    response = StreamingHttpResponse(
        _read(path, start, end - start + 1), status=206, content_type=content_type
    )
    response["Content-Length"] = str(end - start + 1)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response


def _not_satisfiable(size):
    response = HttpResponse(status=416)
    response["Content-Range"] = f"bytes */{size}"
    return response


def _read(path, start, length):
    with open(path, "rb") as handle:
        handle.seek(start)
        while length > 0:
            chunk = handle.read(min(CHUNK_SIZE, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
