"""Serve a file with HTTP Range support, so video players can seek."""

import re

from django.http import FileResponse, HttpResponse, StreamingHttpResponse

# Eighteen digits reach past any file; longer numbers are refused before int() reads
# them (Python's int() refuses more than 4,300 digits with a ValueError).
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
MAX_DIGITS = 18
CHUNK_SIZE = 256 * 1024


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
