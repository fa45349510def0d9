"""The Files API of the Gemini API: resumable uploads, file metadata and downloads.

Start an upload with ``POST /upload/{v1|v1beta}/files`` (key in ``x-goog-api-key``,
``X-Goog-Upload-Protocol: resumable``, ``X-Goog-Upload-Command: start``, JSON body ``{"file":
{display_name, mime_type, size_bytes}}``); the upload URL comes back in ``X-Goog-Upload-URL``.
Send the bytes there (``X-Goog-Upload-Command: upload, finalize``; no key, the URL is the
session) and get ``{"file": {...}}`` in ``PROCESSING``. ``GET /{version}/files/{id}`` answers
``PROCESSING`` once and ``ACTIVE`` from then on (or from 3 seconds after the upload); the bytes are
at ``GET /{version}/files/{id}:download?alt=media`` or ``GET /{version}/files/{id}?alt=media``.
A file that is not ``ACTIVE`` cannot be used in an interaction.
"""

import base64
import hashlib
import io
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av

from .errors import ApiError, invalid
from .operations import new_id

# A file becomes ACTIVE on the first GET after PROCESSING, or this long after its upload.
PROCESSING_SECONDS = 3.0
RETENTION_SECONDS = 48 * 3600
MAX_FILE_BYTES = 2 * 1024 * 1024 * 1024


@dataclass
class StoredFile:
    """One file uploaded through the Files API."""

    file_id: str
    display_name: str
    mime_type: str
    size_bytes: int
    api_version: str
    created_at: float
    received: int = 0
    finalized: bool = False
    seen_processing: bool = False
    sha256: str = ""
    duration_seconds: float | None = None
    width: int | None = None
    height: int | None = None

    @property
    def name(self) -> str:
        return f"files/{self.file_id}"

    def active(self) -> bool:
        """Return whether the file may be used: finalized, and seen PROCESSING or old enough."""
        processed = self.seen_processing or time.time() - self.created_at >= PROCESSING_SECONDS
        return self.finalized and processed

    def resource(self, base_url: str) -> dict:
        """Return the file as the Files API shows it."""
        created = iso_time(self.created_at)
        resource = {
            "name": self.name,
            "displayName": self.display_name,
            "mimeType": self.mime_type,
            "sizeBytes": str(self.size_bytes),
            "createTime": created,
            "updateTime": created,
            "expirationTime": iso_time(self.created_at + RETENTION_SECONDS),
            "sha256Hash": self.sha256,
            "uri": f"{base_url}/{self.api_version}/files/{self.file_id}",
            "downloadUri": f"{base_url}/{self.api_version}/files/{self.file_id}:download?alt=media",
            "state": "ACTIVE" if self.active() else "PROCESSING",
            "source": "UPLOADED",
        }
        if self.duration_seconds is not None and self.active():
            resource["videoMetadata"] = {"videoDuration": f"{self.duration_seconds:g}s"}
        return resource


def iso_time(timestamp: float) -> str:
    """Return a Unix time as Google writes it: ISO 8601 in UTC with a Z."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def probe_video(data: bytes) -> tuple[float, int, int]:
    """Return a video's duration in seconds, width and height, or raise 400 if unreadable."""
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            if container.duration is not None:
                seconds = container.duration / av.time_base
            else:
                seconds = float(stream.duration * stream.time_base)
            return round(seconds, 2), stream.width, stream.height
    except (av.FFmpegError, IndexError, TypeError, ValueError):
        raise invalid("The video could not be read; send an MP4 video.") from None


class Files:
    """Keep the uploaded files (their bytes under data_dir/files) for one emulator run."""

    def __init__(self, data_dir: Path):
        self.directory = data_dir / "files"
        self._files: dict[str, StoredFile] = {}
        self._uploads: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self, raw_body: bytes, headers, api_version: str) -> str:
        """Open a resumable upload and return its upload id."""
        if (headers.get("X-Goog-Upload-Protocol") or "").lower() != "resumable":
            raise invalid("X-Goog-Upload-Protocol must be resumable.")
        if (headers.get("X-Goog-Upload-Command") or "").lower() != "start":
            raise invalid("X-Goog-Upload-Command must be start to open an upload.")
        try:
            payload = json.loads(raw_body or b"{}")
        except ValueError:
            raise invalid("Invalid JSON payload received. Unexpected token.") from None
        described = payload.get("file", {}) if isinstance(payload, dict) else None
        if not isinstance(described, dict):
            raise invalid("file must be an object.")
        size = headers.get("X-Goog-Upload-Header-Content-Length") or described.get("size_bytes")
        mime_type = (
            headers.get("X-Goog-Upload-Header-Content-Type")
            or described.get("mime_type")
            or described.get("mimeType")
        )
        try:
            size = int(size)
        except (TypeError, ValueError):
            raise invalid("X-Goog-Upload-Header-Content-Length is required.") from None
        if not 0 < size <= MAX_FILE_BYTES:
            raise invalid(f"The file is {size} bytes; files must hold 1 byte to 2 GB.")
        if not mime_type:
            raise invalid("X-Goog-Upload-Header-Content-Type is required.")
        display_name = described.get("display_name") or described.get("displayName") or ""
        stored = StoredFile(
            file_id=new_id(),
            display_name=str(display_name),
            mime_type=mime_type,
            size_bytes=size,
            api_version=api_version,
            created_at=time.time(),
        )
        upload_id = secrets.token_urlsafe(24)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path(stored).write_bytes(b"")
        with self._lock:
            self._files[stored.file_id] = stored
            self._uploads[upload_id] = stored.file_id
        return upload_id

    def upload(self, upload_id: str, chunk: bytes, headers) -> StoredFile | None:
        """Append a chunk; return the file once finalized, None while the upload goes on."""
        with self._lock:
            file_id = self._uploads.get(upload_id)
            stored = self._files.get(file_id) if file_id else None
        if stored is None or stored.finalized:
            raise ApiError(404, "NOT_FOUND", "No upload session with this id.")
        command = {
            part.strip().lower() for part in (headers.get("X-Goog-Upload-Command") or "").split(",")
        }
        if "upload" not in command:
            raise invalid("X-Goog-Upload-Command must be upload or upload, finalize.")
        offset = headers.get("X-Goog-Upload-Offset")
        if offset is not None and offset != str(stored.received):
            raise invalid(f"X-Goog-Upload-Offset {offset} does not match {stored.received}.")
        if stored.received + len(chunk) > stored.size_bytes:
            raise invalid("The upload is larger than the announced size.")
        with self.path(stored).open("ab") as out:
            out.write(chunk)
        stored.received += len(chunk)
        if "finalize" not in command:
            return None
        if stored.received != stored.size_bytes:
            raise invalid(
                f"The upload holds {stored.received} bytes, not the announced {stored.size_bytes}."
            )
        data = self.path(stored).read_bytes()
        stored.sha256 = base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()
        if stored.mime_type.startswith("video/"):
            try:
                stored.duration_seconds, stored.width, stored.height = probe_video(data)
            except ApiError:
                stored.duration_seconds = None
        with self._lock:
            stored.finalized = True
            self._uploads.pop(upload_id, None)
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        """Return an uploaded, finalized file, or None if there is none."""
        with self._lock:
            stored = self._files.get(file_id)
        return stored if stored is not None and stored.finalized else None

    def read(self, stored: StoredFile, base_url: str) -> dict:
        """Return a file's metadata for a GET, which answers PROCESSING once, then ACTIVE."""
        resource = stored.resource(base_url)
        stored.seen_processing = True
        return resource

    def delete(self, file_id: str) -> bool:
        """Forget an uploaded file; return whether there was one."""
        with self._lock:
            stored = self._files.pop(file_id, None)
        if stored is not None:
            self.path(stored).unlink(missing_ok=True)
        return stored is not None

    def path(self, stored: StoredFile) -> Path:
        """Return where an uploaded file's bytes are."""
        return self.directory / stored.file_id
