"""A finished video's captions: its audio track transcribed after the job completed.

1. The pipeline's finish enqueues `transcribe` (jobs.tasks.transcribe_job) once the job is
   completed; the job's run never waits for it and nothing here can fail the job.
2. The task copies the video's audio track into a local .m4a (no re-encode) and sends it
   inline to the Interactions API in the foreground, with TRANSCRIBE_MODEL, under the
   video client's rules: the API key (or, on Vertex, a bearer token) goes only to the
   API's own host, and no redirect is followed.
3. The answer's text must be WebVTT with cues; plain words become one cue spanning the
   video. The cues are written again, checked, as resources/transcripts/transcript.vtt,
   their words as transcript.txt, both VideoResource rows of type transcript, and
   metadata["transcript"] and metadata.json say what was made.
A transcription is not billed per video, so a refused or unanswered one (429, 5xx, a
timeout) is tried again after a backoff, up to TRIES tries in all, counted on the row so
a redelivered task does not start over. Whatever goes wrong, the job stays completed
and metadata["transcript"]["error"] says why in a sentence.
"""

import base64
import html
import logging
import re
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from . import services, storage
from .media import NotAVideo, extract_audio, probe
from .models import VideoCreationJob, VideoResource
from .veo import transport, vertex
from .veo.base import VeoError

logger = logging.getLogger(__name__)

VTT_NAME, TEXT_NAME = "transcript.vtt", "transcript.txt"
TRIES = 3
# A worker waits this long at most between tries, whatever wait Google asks for.
BACKOFF_CAP_SECONDS = 10.0
# Inline audio must stay well under the API's request size; a 10 s AAC track is ~150 kB.
MAX_AUDIO_BYTES = 15 * 1024 * 1024
MAX_ANSWER_CHARS = 512 * 1024
INSTRUCTION = (
    "Transcribe the speech in this audio as WebVTT with timings: start with the line "
    "WEBVTT, then one cue per sentence, each with its start and end time "
    "(HH:MM:SS.mmm --> HH:MM:SS.mmm) and its words. Answer with the WebVTT only."
)
TIMESTAMP = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})"
TIMING = re.compile(rf"^{TIMESTAMP}\s+-->\s+{TIMESTAMP}(?:\s.*)?$")
FENCE = re.compile(r"^```[\w-]*\s*$")
TAG = re.compile(r"<[^>]*>")

Status = VideoCreationJob.Status
# An interaction's states that end it without an answer.
ENDED = ("failed", "cancelled", "incomplete", "budget_exceeded")


class TranscriptFailed(Exception):
    """No transcript: the message is the sentence a person reads in the job's metadata."""


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def enqueue(job_id):
    """Queue the transcription of a just completed job once the current transaction commits."""
    transaction.on_commit(partial(_enqueue_now, job_id))


def _enqueue_now(job_id):
    try:
        async_task("jobs.tasks.transcribe_job", job_id, group="transcripts")
    except Exception:  # the job is completed already; a lost transcript must not undo that
        logger.exception("Could not queue the transcription of job %s", job_id)


def transcribe(job_id):
    """Write the completed job's transcript, or a sentence saying why there is none."""
    job = VideoCreationJob.objects.filter(pk=job_id, status=Status.COMPLETED).first()
    if job is None or not job.video_url or "vtt" in (job.metadata or {}).get("transcript", {}):
        return  # gone, not finished, or transcribed by an earlier delivery of this task
    model = settings.TRANSCRIBE_MODEL
    try:
        if not model:
            raise TranscriptFailed("Transcripts are turned off (TRANSCRIBE_MODEL is empty).")
        cues = _transcribe(job, model)
        _record(job_id, model, cues)
    except TranscriptFailed as failure:
        logger.info("No transcript for job %s: %s", job_id, failure)
        _note(job_id, {"model": model, "error": str(failure)})
    except Exception:
        logger.exception("The transcription of job %s failed unexpectedly", job_id)
        _note(
            job_id,
            {
                "model": model,
                "error": "The transcript could not be made because of a problem inside the "
                "studio. The details are in the worker's log.",
            },
        )
    finally:
        storage.remove_temp_files(job_id)


def _transcribe(job, model) -> list[Cue]:
    unreadable = TranscriptFailed("The stored video could not be read, so it has no transcript.")
    try:
        with storage.local_copy(job.video_url) as video:
            info = probe(video)
            if not info.has_audio:
                raise TranscriptFailed("The video has no audio track, so it has no transcript.")
            with tempfile.TemporaryDirectory(prefix="transcript-") as folder:
                audio = Path(folder) / "audio.m4a"
                extract_audio(video, audio)
                data = audio.read_bytes()
    except (NotAVideo, FileNotFoundError, storage.StorageUnavailable):
        raise unreadable from None
    if len(data) > MAX_AUDIO_BYTES:
        raise TranscriptFailed("The video's audio track is too long to transcribe.")
    text = _ask(job.pk, request_body(model, data))
    return cues_of(text, duration=info.duration)


def request_body(model, audio: bytes) -> dict:
    """Return the Interactions create that asks model to transcribe the .m4a audio."""
    return {
        "model": model,
        "input": [
            {
                "type": "user_input",
                "content": [
                    {
                        "type": "audio",
                        "data": base64.b64encode(audio).decode("ascii"),
                        "mime_type": "audio/mp4",
                    },
                    {"type": "text", "text": INSTRUCTION},
                ],
            }
        ],
    }


# --- The call ------------------------------------------------------------------------------


def _ask(job_id, body) -> str:
    """Send the create, trying again on a refusal that may pass; return the answer's text."""
    session = transport.new_session()
    url, headers = _endpoint()
    failure = None
    for attempt in range(TRIES):
        if not _count_try(job_id):
            break
        if attempt:
            time.sleep(
                transport.backoff(
                    attempt - 1,
                    hint=failure.retry_after,
                    base=settings.VEO_RETRY_BASE_SECONDS,
                    cap=BACKOFF_CAP_SECONDS,
                )
            )
        try:
            return answer_text(_send(session, url, body, headers))
        except VeoError as error:
            if not error.retryable:
                raise TranscriptFailed(error.message) from None
            failure = error
    if failure is None:
        raise TranscriptFailed(
            f"The transcription was already tried {TRIES} times; the studio will not try again."
        )
    raise TranscriptFailed(f"{failure.message} The studio tried {TRIES} times.")


def _endpoint():
    """Return the interactions URL and the headers that authenticate to it."""
    if settings.VEO_PROVIDER == "vertex":
        base = (settings.VERTEX_API_BASE_URL or vertex.default_base_url("global")).rstrip("/")
        url = f"{base}/v1beta1/projects/{settings.VERTEX_PROJECT}/locations/global/interactions"
        return url, {"Authorization": f"Bearer {_vertex_token()}"}
    version = getattr(settings, "GEMINI_API_VERSION", "v1")
    return f"{settings.VEO_API_BASE_URL}/{version}/interactions", {
        "x-goog-api-key": settings.GEMINI_API_KEY
    }


def _vertex_token() -> str:
    """Return an OAuth token from the same credentials the Vertex video client loads."""
    path = settings.GOOGLE_APPLICATION_CREDENTIALS
    try:
        credentials = (
            vertex.load_credentials_file(path)
            if path
            else google.auth.default(scopes=vertex.SCOPES)[0]
        )
        credentials.refresh(google.auth.transport.requests.Request(transport.new_session()))
    except google.auth.exceptions.GoogleAuthError as exc:
        logger.warning("No token for the transcription: %r", exc)
        raise TranscriptFailed(
            "The Google Cloud credentials could not be used to ask for a transcript."
        ) from None
    return credentials.token


def _send(session, url, body, headers) -> dict:
    """POST the create once; return its JSON or raise a VeoError saying if it may pass."""
    try:
        response = session.post(
            url,
            json=body,
            headers=headers,
            timeout=settings.VEO_HTTP_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        logger.warning("The transcription request failed: %r", exc)
        reason = transport.failure_reason(exc, server="the transcription service")
        raise VeoError(f"No transcript: {reason}.", retryable=True) from None
    if response.status_code != 200:
        error = transport.error_from_response(response, credential="the API key")
        raise VeoError(
            _refusal(response, retryable=error.retryable),
            retryable=error.retryable,
            retry_after=error.retry_after,
            code=response.status_code,
        )
    return transport.json_body(response, strict=False)


def _refusal(response, *, retryable) -> str:
    """Say in a sentence why Google refused the create (its own words stay in the log)."""
    code = response.status_code
    logger.warning("The transcription was refused: %s %s", code, response.text[:500])
    error = transport.json_body(response, strict=False).get("error")
    details = error.get("details") if isinstance(error, dict) else None
    reasons = {d.get("reason") for d in details or [] if isinstance(d, dict)}
    if code == 429 and not retryable:
        return "The project's daily quota for transcriptions is used up."
    if code == 429:
        return "Google's rate limit for transcriptions was reached."
    if code in transport.RETRYABLE_HTTP:
        return f"Google's transcription service was unavailable ({code})."
    if code in (401, 403) or "API_KEY_INVALID" in reasons:
        return f"Google did not accept the studio's credentials for transcription ({code})."
    if code == 404:
        return "Google does not offer the transcription model to this account (404)."
    if 300 <= code < 400:
        return f"The transcription service answered with a redirect ({code}), not followed."
    return f"Google refused the transcription request ({code})."


def answer_text(data: dict) -> str:
    """Return the text parts of a completed interaction's model output."""
    status = data.get("status")
    if status in ENDED:
        raise TranscriptFailed(f"The transcription did not complete (it ended {status}).")
    steps = data.get("steps")
    if not isinstance(status, str) or not isinstance(steps, list):
        raise TranscriptFailed("The transcription service's answer was not an interaction.")
    if status != "completed":
        raise TranscriptFailed("The transcription service answered before the transcript was done.")
    texts = [
        part["text"]
        for step in steps
        if isinstance(step, dict) and step.get("type") == "model_output"
        for part in (step.get("content") if isinstance(step.get("content"), list) else [])
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    ]
    text = "\n".join(texts).strip()
    if not text:
        raise TranscriptFailed("The transcription model answered without any text.")
    if len(text) > MAX_ANSWER_CHARS:
        raise TranscriptFailed("The transcription model's answer was too long to be a transcript.")
    return text


# --- WebVTT --------------------------------------------------------------------------------


def cues_of(text: str, *, duration: float) -> list[Cue]:
    """Return the cues of a WebVTT answer; plain words become one cue spanning the video.

    An answer that tries to be WebVTT (a header or a timing line) but holds no valid cue,
    or one that holds characters no transcript has, is refused.
    """
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [line for line in lines if not FENCE.match(line.strip())]
    if any(ord(c) < 32 and c not in "\t\n" for line in lines for c in line):
        raise TranscriptFailed("The transcription model's answer was not text.")
    cues = _parse(lines)
    if cues:
        return cues
    looks_like_vtt = (lines and lines[0].strip().startswith("WEBVTT")) or any(
        "-->" in line for line in lines
    )
    if looks_like_vtt:
        raise TranscriptFailed("The transcription model's answer was not valid WebVTT.")
    words = " ".join(" ".join(lines).split())
    return [Cue(0.0, max(duration, 0.001), html.escape(words, quote=False))]


def _parse(lines) -> list[Cue]:
    cues, index = [], 0
    while index < len(lines):
        match = TIMING.match(lines[index].strip())
        index += 1
        if not match:
            continue
        start, end = _seconds(match.groups()[:4]), _seconds(match.groups()[4:])
        body = []
        while index < len(lines) and lines[index].strip():
            if TIMING.match(lines[index].strip()):
                break  # a cue that forgot its blank line: the next cue starts here
            if "-->" not in lines[index]:  # no cue text may hold it
                body.append(lines[index].strip())
            index += 1
        if end > start and body:
            cues.append(Cue(start, end, "\n".join(body)))
    return cues


def _seconds(parts) -> float:
    hours, minutes, seconds, millis = (int(p or 0) for p in parts)
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def webvtt(cues) -> str:
    """Return the WebVTT document of cues."""
    blocks = [f"{_timestamp(c.start)} --> {_timestamp(c.end)}\n{c.text}" for c in cues]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + "\n"


def plain_text(cues) -> str:
    """Return the cues' words, one cue a line, without WebVTT's tags and escapes."""
    return "\n".join(html.unescape(TAG.sub("", c.text)).replace("\n", " ") for c in cues) + "\n"


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


# --- Writes --------------------------------------------------------------------------------


def _count_try(job_id) -> bool:
    """Count one more try on the row; return False if TRIES were made already."""
    with transaction.atomic():
        job = VideoCreationJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            raise TranscriptFailed("The job was deleted.")
        metadata = job.metadata or {}
        note = dict(metadata.get("transcript") or {})
        if note.get("tries", 0) >= TRIES:
            return False
        note["tries"] = note.get("tries", 0) + 1
        VideoCreationJob.objects.filter(pk=job_id).update(metadata={**metadata, "transcript": note})
    return True


def _record(job_id, model, cues):
    """Store the transcript's two files and their rows, then note it in the metadata."""
    services.job_files_unsettle(job_id)  # a kill from here on leaves a temp file to sweep
    files = {
        VTT_NAME: webvtt(cues).encode(),
        TEXT_NAME: plain_text(cues).encode(),
    }
    paths = {name: storage.relative_resource(job_id, "transcript", name) for name in files}
    for name, data in files.items():
        storage.store_bytes(paths[name], data)
    with transaction.atomic():
        job = VideoCreationJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return  # deleted meanwhile: its directory goes with it
        VideoResource.objects.filter(job_id=job_id, filename__in=list(files)).delete()
        for name in files:
            services.resource_add(
                job_id=job_id,
                kind=VideoResource.Type.TRANSCRIPT,
                filename=name,
                file_path=paths[name],
            )
        _update_note(job, {"model": model, "cues": len(cues), "vtt": paths[VTT_NAME]})
    services.job_write_metadata_file(job_id)


def _note(job_id, note):
    with transaction.atomic():
        job = VideoCreationJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return
        _update_note(job, note)
    services.job_write_metadata_file(job_id)


def _update_note(job, note):
    """Write metadata["transcript"], keeping the count of tries."""
    metadata = job.metadata or {}
    tries = (metadata.get("transcript") or {}).get("tries")
    if tries:
        note = {**note, "tries": tries}
    VideoCreationJob.objects.filter(pk=job.pk).update(
        metadata={**metadata, "transcript": note}, updated_at=timezone.now()
    )
