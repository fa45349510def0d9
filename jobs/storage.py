"""Where a job's files live, in the seed's layout under the data dir.

    videos/<job-id>/output.mp4
    videos/<job-id>/resources/images|audio|transcripts/...
    videos/<job-id>/metadata.json

Every file is written through Django's storage API (the default storage is
VideoStorage, the data dir), so another backend can be configured later; PyAV reads and
writes local files, which the pipeline keeps beside their target until they move in.
Names are built from our own ids and names only, never from a remote filename, and
every file lands by an atomic rename so a reader never sees half of one.
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
    """

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


class _Staged(File):
    """A finished local file that the storage can rename into place instead of copying."""

    def __init__(self, path):
        super().__init__(None, name=str(path))
        self._path = path

    def temporary_file_path(self):
        return str(self._path)


def relative_job_dir(job_id) -> str:
    return f"videos/{job_id}"


JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def job_dir(job_id) -> Path:
    """Return the job's local directory, refusing an id that is not a plain name."""
    if not JOB_ID.match(str(job_id)):
        raise SuspiciousFileOperation(f"Not a job id: {job_id!r}")
    return absolute(relative_job_dir(job_id))


def absolute(name) -> Path:
    """Return the local path of a stored name; SuspiciousFileOperation if it would escape."""
    return Path(default_storage.path(name))


def relative_output(job_id) -> str:
    return f"{relative_job_dir(job_id)}/{OUTPUT_NAME}"


def relative_resource(job_id, kind, filename) -> str:
    return f"{relative_job_dir(job_id)}/resources/{RESOURCE_DIRS[kind]}/{filename}"


def temp_file(directory: Path, suffix=".part") -> Path:
    """Create an empty temporary file in directory (same filesystem as its target)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    os.close(fd)
    return Path(name)


def move_into_place(temp: Path, target: Path) -> None:
    """Flush temp to disk and rename it over target atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, target)


def store(name, staged: Path) -> None:
    """Move a finished local file (from temp_file beside its target) into storage as name."""
    default_storage.save(name, _Staged(staged))


def store_made(name, make) -> None:
    """Call make(temp_path) to write a file locally, then store it as name."""
    temp = temp_file(absolute(name).parent, suffix=Path(name).suffix)
    try:
        make(temp)
        store(name, temp)
    finally:
        temp.unlink(missing_ok=True)


def store_bytes(name, data: bytes) -> None:
    default_storage.save(name, ContentFile(data))


def store_json(name, data) -> None:
    store_bytes(name, json.dumps(data, indent=2, sort_keys=True, default=str).encode())


def remove_temp_files(job_id, *, older_than=None) -> int:
    """Delete temporary files a crashed step left in the job's directory.

    With older_than (a timedelta), keep files written more recently, which a live task
    may still be writing. Return how many temporary files are left.
    """
    directory = job_dir(job_id)
    if not directory.is_dir():
        return 0
    cutoff = None if older_than is None else time.time() - older_than.total_seconds()
    left = 0
    for path in directory.rglob(".tmp-*"):
        try:
            if cutoff is None or path.stat().st_mtime < cutoff:
                path.unlink()
            else:
                left += 1
        except FileNotFoundError:
            pass  # its writer renamed it into place meanwhile
    return left


def delete_job_files(job_id) -> None:
    """Delete the job's directory; a directory already gone is fine, any other failure raises."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(job_dir(job_id))


def delete_orphan_dirs(*, known, older_than) -> int:
    """Delete job directories whose job is gone, if untouched for older_than; return how many."""
    videos = Path(settings.MEDIA_ROOT) / "videos"
    if not videos.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    for directory in videos.iterdir():
        if (
            directory.is_dir()
            and directory.name not in known
            and directory.stat().st_mtime < cutoff
        ):
            try:
                shutil.rmtree(directory)
            except FileNotFoundError:
                continue
            except OSError:
                logger.exception("Could not delete the orphaned directory %s", directory)
                continue
            removed += 1
    return removed
