"""Where a job's files live, in the seed's layout, on local disk or in a bucket.

    videos/<job-id>/output.mp4
    videos/<job-id>/resources/images|audio|transcripts/...
    videos/<job-id>/metadata.json

MEDIA_STORAGE picks the default storage: VideoStorage, the data dir (the embedded
default), or BucketStorage, an S3-compatible bucket (AWS, R2, MinIO, GCS's S3 interface)
for hosts that share no disk. Product code goes through this module and never asks for
a file's path: PyAV reads and writes local files, so a file is made in a local
temporary file and stored under its final name (`store`, `store_made`), and a stored
file is read through `local_copy` (the file itself on disk; a downloaded temporary copy
from a bucket) or as a stream (`open_stream`, `open_range`). Names are built from our
own ids and names only, never from a remote filename. On disk every file lands by an
atomic rename, in a bucket by one PUT (multipart for large files): a reader never sees
half of one.
"""

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage

logger = logging.getLogger(__name__)

OUTPUT_NAME = "output.mp4"
METADATA_NAME = "metadata.json"
POSTER_NAME = "poster.jpg"
AUDIO_NAME = "audio.m4a"
# The video of a job cancelled after its submit, kept if Veo delivers it anyway.
LATE_RESULT_NAME = "late-result.mp4"
# Uploaded frames for image-to-video: first-frame.<ext>, last-frame.<ext>.
FIRST_FRAME, LAST_FRAME = "first-frame", "last-frame"
# Reference images for reference-to-video, in their order: reference-0.<ext>, reference-1...
REFERENCE = "reference"
TEMP_PREFIX = ".tmp-"

STORAGE_TROUBLE = (
    "The studio could not reach its media storage (the bucket did not answer or refused "
    "the request). The details are in the worker's log."
)


class StorageUnavailable(Exception):
    """The media storage did not answer or refused: a sentence for a person, not its text."""

    def __init__(self, message=STORAGE_TROUBLE):
        super().__init__(message)
        self.message = message


def reference_stem(index) -> str:
    """Return the file stem of the job's `index`th reference image (from 0)."""
    return f"{REFERENCE}-{index}"


def reference_index(stem) -> int | None:
    """Return the position of a reference image's stem ("reference-2" -> 2), else None."""
    prefix, _, number = stem.partition("-")
    return int(number) if prefix == REFERENCE and number.isdigit() else None


RESOURCE_DIRS = {
    "image": "images",
    "audio": "audio",
    "transcript": "transcripts",
    "video": "videos",
}


class VideoStorage(FileSystemStorage):
    """The data dir as Django's default storage.

    A file lands whole by an atomic rename and replaces any earlier file of its name:
    the names are ours (output.mp4, poster.jpg), so they are never altered to be unique.
    Files are made beside their target, so the rename never crosses filesystems.
    """

    is_bucket = False

    def get_available_name(self, name, max_length=None):
        return name

    def _save(self, name, content):
        target = Path(self.path(name))
        staged = getattr(content, "temporary_file_path", None)
        if staged is not None:
            move_into_place(Path(staged()), target)  # already written beside its target
            return name
        temp = temp_file(target.parent, suffix=target.suffix)
        try:
            with open(temp, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk)
            move_into_place(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return name

    def staging_dir(self, name) -> Path:
        return Path(self.path(name)).parent

    @contextlib.contextmanager
    def local_copy(self, name):
        path = Path(self.path(name))
        if not path.is_file():
            raise FileNotFoundError(name)
        yield path

    def local_file(self, name) -> Path:
        """The file's path, for a front proxy's X-Sendfile (local disk only)."""
        return Path(self.path(name))

    def delete_prefix(self, prefix) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.path(prefix))

    def has_prefix(self, prefix) -> bool:
        return Path(self.path(prefix)).is_dir()

    def prefix_ages(self, prefix) -> dict:
        """Return {child: last change (epoch seconds)} for the directories under prefix."""
        root = Path(self.path(prefix))
        if not root.is_dir():
            return {}
        ages = {}
        for directory in root.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if directory.is_dir():
                    ages[directory.name] = directory.stat().st_mtime
        return ages

    def remove_temp_files(self, prefix, cutoff) -> int:
        directory = Path(self.path(prefix))
        if not directory.is_dir():
            return 0
        left = 0
        for path in directory.rglob(f"{TEMP_PREFIX}*"):
            try:
                if cutoff is None or path.stat().st_mtime < cutoff:
                    path.unlink()
                else:
                    left += 1
            except FileNotFoundError:
                pass  # its writer renamed it into place meanwhile
        return left


def _bucket_storage_class():
    """Define BucketStorage on first use: boto3 is imported only where a bucket is used."""
    from botocore.exceptions import BotoCoreError, ClientError
    from storages.backends.s3 import S3Storage
    from storages.utils import clean_name

    class BucketStorage(S3Storage):
        """An S3-compatible bucket (under S3_PREFIX) as Django's default storage.

        Uploads go through boto3's transfer manager (multipart above its threshold), so a
        key appears whole or not at all; files are made in the data dir's scratch folder,
        which is this process's own and holds nothing another process needs.
        """

        is_bucket = True
        unavailable = (BotoCoreError, ClientError)

        def __init__(self, **options):
            super().__init__(**{**bucket_options(), **options})

        def get_available_name(self, name, max_length=None):
            return name

        def _save(self, name, content):
            staged = getattr(content, "temporary_file_path", None)
            if staged is None:
                return super()._save(name, content)
            with open(staged(), "rb") as handle:
                return super()._save(name, File(handle, name=name))

        def key(self, name) -> str:
            return self._normalize_name(clean_name(name))

        def staging_dir(self, name) -> Path:
            return scratch_dir()

        @contextlib.contextmanager
        def local_copy(self, name):
            temp = temp_file(scratch_dir(), suffix=Path(name).suffix)
            try:
                try:
                    self.bucket.Object(self.key(name)).download_file(str(temp))
                except ClientError as exc:
                    if _status(exc) in (403, 404) and not self.exists(name):
                        raise FileNotFoundError(name) from None
                    raise
                yield temp
            finally:
                temp.unlink(missing_ok=True)

        def open_range(self, name, start, length):
            answer = self.connection.meta.client.get_object(
                Bucket=self.bucket_name,
                Key=self.key(name),
                Range=f"bytes={start}-{start + length - 1}",
            )
            return answer["Body"]  # read() ends at the range's end

        def delete_prefix(self, prefix) -> None:
            key = self.key(prefix).rstrip("/") + "/"
            self.bucket.objects.filter(Prefix=key).delete()
            for upload in self.bucket.multipart_uploads.filter(Prefix=key):
                upload.abort()

        def has_prefix(self, prefix) -> bool:
            key = self.key(prefix).rstrip("/") + "/"
            answer = self.connection.meta.client.list_objects_v2(
                Bucket=self.bucket_name, Prefix=key, MaxKeys=1
            )
            return answer.get("KeyCount", 0) > 0

        def prefix_ages(self, prefix) -> dict:
            key = self.key(prefix).rstrip("/") + "/"
            ages = {}
            for item in self.bucket.objects.filter(Prefix=key):
                child = item.key[len(key) :].split("/", 1)[0]
                if child:
                    ages[child] = max(ages.get(child, 0), item.last_modified.timestamp())
            for upload in self.bucket.multipart_uploads.filter(Prefix=key):
                child = upload.key[len(key) :].split("/", 1)[0]
                ages[child] = max(ages.get(child, 0), upload.initiated.timestamp())
            return ages

        def remove_temp_files(self, prefix, cutoff) -> int:
            """Abort the multipart uploads a killed process left under prefix."""
            key = self.key(prefix).rstrip("/") + "/"
            left = 0
            for upload in self.bucket.multipart_uploads.filter(Prefix=key):
                if cutoff is None or upload.initiated.timestamp() < cutoff:
                    upload.abort()
                else:
                    left += 1
            return left

    return BucketStorage


def _status(error) -> int | None:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status else None


def __getattr__(name):
    if name == "BucketStorage":  # STORAGES names it; defined once, on first use
        globals()[name] = _bucket_storage_class()
        return globals()[name]
    raise AttributeError(name)


def bucket_options() -> dict:
    """Return S3Storage's options from the S3_* settings."""
    from botocore.config import Config

    return {
        "bucket_name": settings.S3_BUCKET,
        "location": settings.S3_PREFIX.strip("/"),
        "endpoint_url": settings.S3_ENDPOINT_URL or None,
        "region_name": settings.S3_REGION or None,
        "addressing_style": settings.S3_ADDRESSING_STYLE or None,
        "signature_version": "s3v4",
        "file_overwrite": True,
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": settings.S3_URL_SECONDS,
        "client_config": Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 4, "mode": "standard"},
            signature_version="s3v4",
            s3={"addressing_style": settings.S3_ADDRESSING_STYLE or "auto"},
        ),
    }


def is_bucket() -> bool:
    return getattr(default_storage, "is_bucket", False)


@contextlib.contextmanager
def _storage_errors():
    """Turn a bucket's failure into StorageUnavailable; a full disk stays an OSError."""
    unavailable = getattr(default_storage, "unavailable", ())
    try:
        yield
    except unavailable as exc:
        logger.warning("The media storage failed: %r", exc)
        raise StorageUnavailable() from None


class _Staged(File):
    """A finished local file that the storage can rename into place instead of copying."""

    def __init__(self, path):
        super().__init__(None, name=str(path))
        self._path = path

    def temporary_file_path(self):
        return str(self._path)


def relative_job_dir(job_id) -> str:
    """Return the job's folder (a key prefix in a bucket), refusing an id that is not a name."""
    if not JOB_ID.match(str(job_id)):
        raise SuspiciousFileOperation(f"Not a job id: {job_id!r}")
    return f"videos/{job_id}"


JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def relative_storyboard_file(storyboard_id, path) -> str:
    """Return a storyboard's stored file (a shot's image, a cut), refusing an id that is not a name."""
    if not JOB_ID.match(str(storyboard_id)):
        raise SuspiciousFileOperation(f"Not a storyboard id: {storyboard_id!r}")
    return f"storyboards/{storyboard_id}/{path}"


def relative_output(job_id) -> str:
    return f"{relative_job_dir(job_id)}/{OUTPUT_NAME}"


def relative_resource(job_id, kind, filename) -> str:
    return f"{relative_job_dir(job_id)}/resources/{RESOURCE_DIRS[kind]}/{filename}"


def scratch_dir() -> Path:
    """Return this process's folder for files on their way to a bucket (in the data dir)."""
    return Path(settings.DATA_DIR) / "scratch"


def temp_file(directory: Path, suffix=".part") -> Path:
    """Create an empty temporary file in directory (same filesystem as its target)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=directory)
    os.close(fd)
    return Path(name)


def staged_file(name) -> Path:
    """Create the local temporary file in which `name` is made before `store` stores it."""
    return temp_file(default_storage.staging_dir(name), suffix=Path(name).suffix)


def move_into_place(temp: Path, target: Path) -> None:
    """Flush temp to disk and rename it over target atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, target)


def store(name, staged: Path) -> None:
    """Store a finished local file (from staged_file) as name."""
    with _storage_errors():
        default_storage.save(name, _Staged(staged))


def store_made(name, make) -> None:
    """Call make(temp_path) to write a file locally, then store it as name."""
    temp = staged_file(name)
    try:
        make(temp)
        store(name, temp)
    finally:
        temp.unlink(missing_ok=True)


def store_bytes(name, data: bytes) -> None:
    with _storage_errors():
        default_storage.save(name, ContentFile(data))


def store_json(name, data) -> None:
    store_bytes(name, json.dumps(data, indent=2, sort_keys=True, default=str).encode())


@contextlib.contextmanager
def local_copy(name):
    """Yield a local path holding the stored file `name`; FileNotFoundError if missing.

    On disk it is the file itself (read it, never change it); from a bucket, a temporary
    download that is deleted afterwards.
    """
    with _storage_errors(), default_storage.local_copy(name) as path:
        yield path


def read_bytes(name) -> bytes:
    with _storage_errors(), default_storage.open(name, "rb") as handle:
        return handle.read()


def exists(name) -> bool:
    with _storage_errors():
        return bool(name) and default_storage.exists(name)


def size(name) -> int:
    with _storage_errors():
        return default_storage.size(name)


def modified_at(name) -> float | None:
    """Return when the stored file last changed (epoch seconds), or None if it is missing."""
    with _storage_errors():
        if not default_storage.exists(name):
            return None
        return default_storage.get_modified_time(name).timestamp()


def open_stream(name):
    """Open the stored file for reading as a stream (close it when done)."""
    with _storage_errors():
        return default_storage.open(name, "rb")


def open_range(name, start, length):
    """Open `length` bytes of the stored file from `start` as a file to read (close it when
    done): the bucket's ranged GET, or the local file as a FileSpan, which gunicorn sends
    with sendfile."""
    opener = getattr(default_storage, "open_range", None)
    with _storage_errors():
        if opener is not None:
            return opener(name, start, length)
        handle = default_storage.open(name, "rb")
    handle.seek(start)
    return FileSpan(handle, length)


class FileSpan:
    """`length` bytes of an open file from its position, for a FileResponse.

    read() stops at the span's end; fileno() lets gunicorn send the span with os.sendfile,
    which starts at the file's position and sends the response's Content-Length: a player's
    ranged requests (every one after its first) cost what the whole file does.
    """

    def __init__(self, handle, length):
        self._handle, self._left = handle, length

    def read(self, size=-1):
        size = self._left if size is None or size < 0 else min(size, self._left)
        chunk = self._handle.read(size) if size > 0 else b""
        self._left -= len(chunk)
        return chunk

    def fileno(self):
        return self._handle.fileno()

    # Python's socket.sendfile, where os.sendfile fails, sends with read() after seeking to
    # the fd's position; not seekable(), so that FileResponse does not measure the span.
    def seek(self, offset, whence=0):
        return self._handle.seek(offset, whence)

    def tell(self):
        return self._handle.tell()

    def seekable(self):
        return False

    def close(self):
        self._handle.close()


def job_has_files(job_id) -> bool:
    with _storage_errors():
        return default_storage.has_prefix(relative_job_dir(job_id))


def remove_temp_files(job_id, *, older_than=None) -> int:
    """Delete temporary files (or unfinished uploads) a crashed step left for the job.

    With older_than (a timedelta), keep files written more recently, which a live task
    may still be writing. Return how many are left; with the storage unreachable, 1 (some
    may be left: the sweep asks again).
    """
    cutoff = None if older_than is None else time.time() - older_than.total_seconds()
    try:
        with _storage_errors():
            return default_storage.remove_temp_files(relative_job_dir(job_id), cutoff)
    except StorageUnavailable:
        return 1


def remove_old_scratch(*, older_than) -> int:
    """Delete this machine's scratch files older than any task lives; return how many."""
    directory = scratch_dir()
    if not directory.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    for path in directory.glob(f"{TEMP_PREFIX}*"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


def delete_job_files(job_id) -> None:
    """Delete every file of the job; files already gone are fine, any other failure raises."""
    with _storage_errors():
        default_storage.delete_prefix(relative_job_dir(job_id))


def delete_stored(name) -> None:
    """Delete one stored file; one already gone is fine."""
    with _storage_errors():
        default_storage.delete(name)


def delete_storyboard_files(storyboard_id) -> None:
    """Delete every file of the storyboard (shot images, cuts); missing files are fine."""
    with _storage_errors():
        default_storage.delete_prefix(relative_storyboard_file(storyboard_id, "").rstrip("/"))


def delete_orphan_dirs(*, known, older_than) -> int:
    """Delete job folders whose job is gone, if untouched for older_than; return how many."""
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    with _storage_errors():
        ages = default_storage.prefix_ages("videos")
    for job_id, changed in ages.items():
        if job_id in known or changed >= cutoff or not JOB_ID.match(job_id):
            continue
        try:
            delete_job_files(job_id)
        except (OSError, StorageUnavailable):
            logger.exception("Could not delete the orphaned files of job %s", job_id)
            continue
        removed += 1
    return removed
