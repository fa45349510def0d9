"""Where a job's files live, in the seed's layout under the data dir.

    videos/<job-id>/output.mp4
    videos/<job-id>/resources/images|audio|transcripts/...
    videos/<job-id>/metadata.json

Paths are built from our own ids and names only, never from a remote filename, and
every file lands by an atomic rename so a reader never sees half of one.
"""

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.utils._os import safe_join

OUTPUT_NAME = "output.mp4"
POSTER_NAME = "poster.jpg"
AUDIO_NAME = "audio.m4a"
# The video of a job cancelled after its submit, kept if Veo delivers it anyway.
LATE_RESULT_NAME = "late-result.mp4"
# Uploaded frames for image-to-video: first-frame.<ext>, last-frame.<ext>.
FIRST_FRAME, LAST_FRAME = "first-frame", "last-frame"
RESOURCE_DIRS = {
    "image": "images",
    "audio": "audio",
    "transcript": "transcripts",
    "video": "videos",
}


def relative_job_dir(job_id) -> str:
    return f"videos/{job_id}"


JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def job_dir(job_id) -> Path:
    """Return the job's directory, refusing any id that is not a plain name (no dots, no slashes)."""
    if not JOB_ID.match(str(job_id)):
        raise SuspiciousFileOperation(f"Not a job id: {job_id!r}")
    return Path(safe_join(settings.MEDIA_ROOT, relative_job_dir(job_id)))


def absolute(relative_path) -> Path:
    return Path(safe_join(settings.MEDIA_ROOT, relative_path))


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


def write_atomically(target: Path, write) -> None:
    """Call write(temp_path) on a temporary file beside target, then rename it into place."""
    temp = temp_file(target.parent, suffix=target.suffix)
    try:
        write(temp)
        move_into_place(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def write_bytes(target: Path, data: bytes) -> None:
    write_atomically(target, lambda temp: temp.write_bytes(data))


def write_json(target: Path, data) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    write_atomically(target, lambda temp: temp.write_text(text))


def remove_temp_files(job_id) -> None:
    """Delete temporary files a crashed step left in the job's directory."""
    directory = job_dir(job_id)
    if directory.is_dir():
        for path in directory.rglob(".tmp-*"):
            path.unlink(missing_ok=True)


def delete_job_files(job_id) -> None:
    shutil.rmtree(job_dir(job_id), ignore_errors=True)


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
            shutil.rmtree(directory, ignore_errors=True)
            removed += 1
    return removed
