"""The fake Cloud Storage: where Vertex writes videos when a submit names a storageUri.

Objects are read with ``GET /storage/v1/b/{bucket}/o/{object}`` (metadata) or with
``?alt=media`` (the bytes), with a bearer token from the emulator's ``POST /token``.
"""

import re
from urllib.parse import quote

from .errors import invalid

STORAGE_URI = re.compile(r"gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:/(?P<path>.*))?")


def parse_storage_uri(uri) -> str | None:
    """Return storageUri as ``gs://bucket/prefix/`` (prefix may be empty), or None if absent."""
    if uri is None:
        return None
    if not isinstance(uri, str) or not (match := STORAGE_URI.fullmatch(uri)):
        raise invalid(f"storageUri {uri!r} is not a Cloud Storage URI such as gs://bucket/prefix/.")
    prefix = match["path"] or ""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return f"gs://{match['bucket']}/{prefix}"


def object_names(storage_uri: str | None, operation_name: str, sample_count: int):
    """Return the (bucket, object) of each sample an operation writes under storage_uri."""
    if storage_uri is None:
        return []
    bucket, _, prefix = storage_uri.removeprefix("gs://").partition("/")
    operation_id = operation_name.rpartition("/")[2]
    return [(bucket, f"{prefix}{operation_id}/sample_{n}.mp4") for n in range(sample_count)]


def object_resource(bucket: str, name: str, size: int, base_url: str) -> dict:
    """Return an object's metadata as the JSON API shows it."""
    encoded = quote(name, safe="")
    return {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/1",
        "name": name,
        "bucket": bucket,
        "generation": "1",
        "contentType": "video/mp4",
        "size": str(size),
        "mediaLink": f"{base_url}/download/storage/v1/b/{bucket}/o/{encoded}"
        "?generation=1&alt=media",
    }
