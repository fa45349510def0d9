"""Serve a local stand-in for Google's Veo endpoints, in the Gemini API and Vertex AI dialects.

Run ``python -m jobs.veo.emulator --port 8765 --latency 4 --data-dir DIR``, or start an
``Emulator`` in a test. Every accepted submit renders a real MP4 that shows the prompt, over the
input image when one was sent. 4k videos are rendered at 1080p pixels to keep rendering fast.

Gemini API (v1beta, key in ``x-goog-api-key`` or ``?key=``): submit with
``POST /v1beta/models/{model}:predictLongRunning``, poll ``GET /v1beta/{operation name}`` (no
``done`` key until ready), then download ``GET /v1beta/files/{id}:download?alt=media``. Served
models: veo-3.1-generate-preview, veo-3.1-fast-generate-preview and veo-3.1-lite-generate-preview;
the 2.0 and 3.0 models answer 404 "no longer available". Accepted parameters: aspectRatio,
resolution, durationSeconds, negativePrompt, personGeneration (text-to-video: allow_all only;
image-to-video: allow_adult only), sampleCount (1), enhancePrompt and seed.

Vertex AI (v1 or v1beta1, ``Authorization: Bearer`` with a token from ``POST /token``): submit
with ``POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:predictLongRunning``,
poll with ``POST .../models/{model}:fetchPredictOperation`` and the body
``{"operationName": name}``. A done operation lists
``videos[].gcsUri`` when the submit set ``parameters.storageUri`` (read them with
``GET /storage/v1/b/{bucket}/o/{object}?alt=media``), else ``videos[].bytesBase64Encoded``.
Served models: veo-3.1-generate-001 and veo-3.1-fast-generate-001; any other answers 404
"Publisher Model ... was not found". Accepted parameters: those above plus generateAudio,
storageUri and compressionQuality, with sampleCount 1-4 and personGeneration allow_adult (the
default) or disallow.

``POST /token`` grants ``ya29.emulator-...`` tokens for google-auth's service-account (JWT bearer)
and authorized-user (refresh token) flows; ``service_account_info(base_url + "/token")`` returns a
key file that google-auth can sign with.

Both dialects take ``instances[0].image`` and ``instances[0].lastFrame`` (PNG, JPEG or WebP, at
most 20 MB; lastFrame only with image) as ``{bytesBase64Encoded, mimeType}``; the Gemini API also
as ``{inlineData: {mimeType, data}}``, Vertex also as ``{gcsUri, mimeType}`` (never fetched).
Anything else is refused with 400 INVALID_ARGUMENT naming the field, as Google refuses unknown
fields.

Given a data_dir, the emulator keeps its operations, counters and issued tokens in
``state.json`` there, so a restarted emulator still answers for operations submitted before it
stopped; a render that died with the old process is redone at start-up.

Markers in the prompt steer a single request:

``[latency=SECONDS]``
    Finish this operation SECONDS after submit instead of after the server's latency.
``[submit-delay=SECONDS]``
    Accept and count the submit at once, but hold its answer SECONDS (at most 60): the
    window in which a caller killed mid-submit cannot know the request went through.
``[pad-mb=N]``
    Make the video N MiB larger (at most 8192) with a trailing top-level ``free`` box, which
    players and demuxers skip: a valid MP4 of any size for download benchmarks, written as a
    hole in the file, so it costs no disk time.
``[fault=NAME]`` where NAME is one of:
    submit-429           429 RESOURCE_EXHAUSTED, per-minute QuotaFailure + RetryInfo "2s" and a
                         ``Retry-After: 2`` header; not accepted, not counted.
    daily-quota          429 RESOURCE_EXHAUSTED, quotaId GenerateRequestsPerDayPerProjectPerModel
                         (plus a short RetryInfo, as the real API sends); not accepted.
    submit-500           500 INTERNAL; not accepted.
    submit-503           503 UNAVAILABLE; not accepted.
    submit-504           504 DEADLINE_EXCEEDED; not accepted.
    submit-500-accepted  counted and the operation runs, but the answer is 500 INTERNAL, so the
                         caller cannot know it was accepted (see /emulator/stats for its name).
    permission           403 PERMISSION_DENIED.
    billing              400 FAILED_PRECONDITION (Vertex: 403 PERMISSION_DENIED, reason
                         BILLING_DISABLED, as Google Cloud answers).
    poll-503-once        the first poll after the operation is done answers 503 UNAVAILABLE.
    done-error           done with ``error: {code: 13, message: ...}``.
    safety               done; the response holds only raiMediaFilteredCount/-Reasons.
    no-response          done with neither ``response`` nor ``error``.
    redirect             download answers 302 to ``/emulator/redirected/<id>`` on the other
                         loopback name (127.0.0.1 <-> localhost), which serves the bytes without
                         a key; a key or bearer token that arrives there counts in stats'
                         ``redirect_key_leaks``.
    html                 download answers 200 text/html.
    truncated            download announces the full Content-Length, sends half and closes.
    expired              download answers 404 NOT_FOUND ("File not found or expired"; on Cloud
                         Storage "No such object").
    slow                 the operation takes 600 s.

On Vertex the quota, permission and billing faults answer in Vertex AI's words, and the download
faults apply to the Cloud Storage download (inline bytes have no download to break).

``GET /emulator/stats`` (no key needed) reports submits, token grants, redirect key leaks and, per
operation, what the submit carried.
"""

import argparse
import base64
import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import string
import struct
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from jobs.veo.synthetic import render_mp4

logger = logging.getLogger(__name__)

MODELS = (
    "veo-3.1-generate-preview",
    "veo-3.1-fast-generate-preview",
    "veo-3.1-lite-generate-preview",
)
RETIRED_MODELS = ("veo-2.0-generate-001", "veo-3.0-generate-001", "veo-3.0-fast-generate-001")
VERTEX_MODELS = ("veo-3.1-generate-001", "veo-3.1-fast-generate-001")
# 4k is drawn at 1080p pixels: the emulator exercises the pipeline, not the codec.
FRAME_SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "4k": (1920, 1080)}
ASPECT_RATIOS = ("16:9", "9:16")
DURATIONS = (4, 6, 8)
PARAMETERS = frozenset(
    {
        "aspectRatio",
        "resolution",
        "durationSeconds",
        "negativePrompt",
        "personGeneration",
        "sampleCount",
        "enhancePrompt",
        "seed",
    }
)
VERTEX_PARAMETERS = PARAMETERS | {"generateAudio", "storageUri", "compressionQuality"}
VERTEX_PERSON_GENERATION = ("allow_adult", "disallow")
COMPRESSION_QUALITIES = ("optimized", "lossless")
INSTANCE_FIELDS = frozenset({"prompt", "image", "lastFrame", "referenceImages", "video"})
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
MAX_IMAGE_BYTES = 20 * 1024 * 1024
FAULTS = frozenset(
    {
        "submit-429",
        "daily-quota",
        "submit-500",
        "submit-503",
        "submit-504",
        "submit-500-accepted",
        "permission",
        "billing",
        "poll-503-once",
        "done-error",
        "safety",
        "no-response",
        "redirect",
        "html",
        "truncated",
        "expired",
        "slow",
    }
)
VIDEOLESS_FAULTS = frozenset({"done-error", "safety", "no-response"})
SLOW_LATENCY = 600.0
FAULT_MARKER = re.compile(r"\[fault=([a-z0-9-]+)\]")
LATENCY_MARKER = re.compile(r"\[latency=(\d+(?:\.\d+)?)\]")
PAD_MARKER = re.compile(r"\[pad-mb=(\d+)\]")
SUBMIT_DELAY_MARKER = re.compile(r"\[submit-delay=(\d+(?:\.\d+)?)\]")
PAD_MAX_MB = 8192
STORAGE_URI = re.compile(r"gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:/(?P<path>.*))?")
CHUNK_SIZE = 64 * 1024
RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
VERTEX_RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
SAFETY_REASON = (
    "We encountered an issue with the audio for your prompt, which means we could not create your "
    "video. This can sometimes happen due to our safety filters or other processing issues. Please "
    "modify your request and try again. You have not been charged for this attempt."
)
VERTEX_SAFETY_REASON = (
    "Veo could not generate 1 videos based on the prompt provided. You will not be charged for "
    "this request. Try rephrasing the prompt. If you think this was an error, send feedback. "
    "Support codes: 42237218"
)
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
NOT_FOUND_MESSAGE = "Requested entity was not found."
DONE_ERROR = {"code": 13, "message": "Internal error while generating the video."}
CREDENTIALS_HINT = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME = 3600
PROJECT_ID = "emulator-project"
CLIENT_EMAIL = f"studio@{PROJECT_ID}.iam.gserviceaccount.com"
STATE_FILE = "state.json"


class ApiError(Exception):
    """An error answered in Google's envelope."""

    def __init__(self, code, status, message, *, details=None, headers=None):
        super().__init__(message)
        self.code, self.status, self.message = code, status, message
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict:
        """Return the JSON error envelope."""
        error = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


class TokenError(ApiError):
    """A token endpoint error, which OAuth 2.0 wraps in its own envelope (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str):
        super().__init__(400, error, description, headers={"Cache-Control": "no-store"})

    def body(self) -> dict:
        """Return the OAuth 2.0 error body."""
        return {"error": self.status, "error_description": self.message}


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def _unauthenticated(message: str, reason: str, service: str) -> ApiError:
    return ApiError(
        401,
        "UNAUTHENTICATED",
        f"{message} {CREDENTIALS_HINT}",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": service},
            }
        ],
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


@dataclass
class Request:
    """The parts of a validated submit that the emulator acts on."""

    prompt: str
    width: int
    height: int
    seconds: int
    sample_count: int = 1
    storage_uri: str | None = None
    image: bool = False
    last_frame: bool = False
    background: bytes | None = field(default=None, repr=False)
    parameters: dict = field(default_factory=dict)


@dataclass
class Operation:
    """One accepted generation and what has happened to it."""

    name: str
    model: str
    prompt: str
    fault: str | None
    latency: float
    file_id: str
    # Wall-clock time, so that it still means something to the next process.
    submitted_at: float = field(default_factory=time.time)
    dialect: str = "gemini"
    width: int = 1280
    height: int = 720
    seconds: int = 8
    sample_count: int = 1
    storage_uri: str | None = None
    image: bool = False
    last_frame: bool = False
    parameters: dict = field(default_factory=dict)
    render_failed: bool = False
    poll_fault_spent: bool = False
    polls: int = 0
    downloads: int = 0
    rendered_at: float | None = None
    rendered: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def state(self) -> dict:
        """Return the fields that state.json keeps."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rendered"}

    @classmethod
    def from_state(cls, state: dict) -> "Operation":
        """Rebuild an operation from state.json, ignoring keys it does not know."""
        known = {f.name for f in fields(cls)} - {"rendered"}
        return cls(**{key: value for key, value in state.items() if key in known})

    def objects(self) -> list[tuple[str, str]]:
        """Return the (bucket, object) of each sample written to Cloud Storage."""
        if self.storage_uri is None:
            return []
        bucket, _, prefix = self.storage_uri.removeprefix("gs://").partition("/")
        operation_id = self.name.rpartition("/")[2]
        return [
            (bucket, f"{prefix}{operation_id}/sample_{n}.mp4") for n in range(self.sample_count)
        ]


def parse_submit(model: str, raw: bytes) -> Request:
    """Validate a predictLongRunning body the way the Gemini API does, or raise ApiError."""
    instance, parameters = _parse_body(
        raw, ("instances", "parameters", "webhookConfig"), PARAMETERS
    )
    prompt, picture, has_image, has_last_frame = _parse_instance(instance, vertex=False)
    width, height, seconds = _parse_frame(instance, parameters, model)
    sample_count = parameters.get("sampleCount", 1)
    if isinstance(sample_count, bool) or sample_count != 1:
        raise _invalid(f"sampleCount {sample_count!r} is not supported; this model makes 1 video.")
    person = parameters.get("personGeneration")
    allowed_person = "allow_adult" if has_image else "allow_all"
    if person is not None and person != allowed_person:
        mode = "image-to-video" if has_image else "text-to-video"
        raise _invalid(
            f"{person} for personGeneration is currently not supported for {mode}; "
            f"use {allowed_person}."
        )
    _check_shared_parameters(parameters)
    return Request(
        prompt=prompt,
        width=width,
        height=height,
        seconds=seconds,
        image=has_image,
        last_frame=has_last_frame,
        background=picture,
        parameters=parameters,
    )


def parse_vertex_submit(model: str, raw: bytes) -> Request:
    """Validate a predictLongRunning body the way Vertex AI does, or raise ApiError."""
    instance, parameters = _parse_body(
        raw, ("instances", "parameters", "labels"), VERTEX_PARAMETERS
    )
    prompt, picture, has_image, has_last_frame = _parse_instance(instance, vertex=True)
    width, height, seconds = _parse_frame(instance, parameters, model)
    sample_count = parameters.get("sampleCount", 1)
    if type(sample_count) is not int or not 1 <= sample_count <= 4:
        raise _invalid(f"sampleCount {sample_count!r} is not supported; use 1 to 4.")
    person = parameters.get("personGeneration", "allow_adult")
    if person not in VERTEX_PERSON_GENERATION:
        raise _invalid(
            f"personGeneration {person!r} is not supported; use allow_adult or disallow."
        )
    if not isinstance(parameters.get("generateAudio", True), bool):
        raise _invalid("generateAudio must be a boolean.")
    quality = parameters.get("compressionQuality", "optimized")
    if quality not in COMPRESSION_QUALITIES:
        raise _invalid(
            f"compressionQuality {quality!r} is not supported; use optimized or lossless."
        )
    _check_shared_parameters(parameters)
    return Request(
        prompt=prompt,
        width=width,
        height=height,
        seconds=seconds,
        sample_count=sample_count,
        storage_uri=_parse_storage_uri(parameters.get("storageUri")),
        image=has_image,
        last_frame=has_last_frame,
        background=picture,
        parameters=parameters,
    )


def _parse_body(raw: bytes, top_level, known_parameters) -> tuple[dict, dict]:
    """Return the one instance and the parameters of a submit, refusing unknown names."""
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        raise _invalid("Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(payload, dict):
        raise _invalid("Invalid JSON payload received. Expected an object.")
    for key in payload:
        if key not in top_level:
            raise _invalid(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
            )

    instances = payload.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise _invalid("instances must be a list holding exactly one instance.")
    instance = instances[0]
    for key in instance:
        if key not in INSTANCE_FIELDS:
            raise _invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at 'instances[0]': "
                "Cannot find field."
            )

    parameters = payload.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _invalid("parameters must be an object.")
    for key in parameters:
        if key not in known_parameters:
            raise _invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at 'parameters': "
                "Cannot find field."
            )
    return instance, parameters


def _parse_instance(instance: dict, *, vertex: bool) -> tuple[str, bytes | None, bool, bool]:
    """Validate the prompt and images; return the prompt, first-frame bytes and image flags."""
    prompt = instance.get("prompt") or ""
    if not isinstance(prompt, str):
        raise _invalid("instances[0].prompt must be a string.")
    has_image = instance.get("image") is not None
    has_last_frame = instance.get("lastFrame") is not None
    if not prompt.strip() and not has_image:
        raise _invalid("instances[0].prompt is required: the prompt must not be empty.")
    if len(prompt) > 4096 or len(prompt.split()) > 1024:
        tokens = max(len(prompt) // 4, len(prompt.split()))
        raise _invalid(
            f"instances[0].prompt is too long: about {tokens} tokens, the maximum is 1024 tokens."
        )
    if has_last_frame and not has_image:
        raise _invalid("instances[0].lastFrame requires instances[0].image.")
    references = instance.get("referenceImages")
    if references is not None and (not isinstance(references, list) or len(references) > 3):
        raise _invalid("instances[0].referenceImages must be a list of at most 3 images.")
    if references and has_image:
        raise _invalid("instances[0].referenceImages cannot be combined with instances[0].image.")
    picture = None
    if has_image:
        picture = _parse_image(instance["image"], "instances[0].image", vertex=vertex)
    if has_last_frame:
        _parse_image(instance["lastFrame"], "instances[0].lastFrame", vertex=vertex)
    return prompt, picture, has_image, has_last_frame


def _parse_image(value, where: str, *, vertex: bool) -> bytes | None:
    """Validate one image field and return its bytes (None for a Cloud Storage reference)."""
    if not isinstance(value, dict):
        raise _invalid(f"{where} must be an object with bytesBase64Encoded and mimeType.")
    data_key, allowed = "bytesBase64Encoded", {"bytesBase64Encoded", "mimeType"}
    if vertex:
        allowed.add("gcsUri")
    elif "inlineData" in value:
        # The Gemini API docs' REST samples send this shape; the SDKs send the one above.
        if len(value) != 1 or not isinstance(value["inlineData"], dict):
            raise _invalid(f"{where}.inlineData must be an object with mimeType and data.")
        where, value = f"{where}.inlineData", value["inlineData"]
        data_key, allowed = "data", {"data", "mimeType"}
    elif "gcsUri" in value:
        raise _invalid(f"{where}.gcsUri is not supported by the Gemini API; send {data_key}.")
    for key in value:
        if key not in allowed:
            raise _invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': "
                "Cannot find field."
            )

    mime_type = value.get("mimeType")
    if mime_type is None:
        raise _invalid(f"{where}.mimeType is required.")
    if mime_type not in IMAGE_TYPES:
        raise _invalid(
            f"{where}.mimeType {mime_type!r} is not supported; use image/png, image/jpeg or "
            "image/webp."
        )
    if "gcsUri" in value:
        uri = value["gcsUri"]
        if data_key in value:
            raise _invalid(f"{where} must hold either {data_key} or gcsUri, not both.")
        if (
            not isinstance(uri, str)
            or not (match := STORAGE_URI.fullmatch(uri))
            or not match["path"]
        ):
            raise _invalid(f"{where}.gcsUri must name a Cloud Storage object: gs://bucket/object.")
        return None

    encoded = value.get(data_key)
    if not isinstance(encoded, str) or not encoded.strip():
        raise _invalid(f"{where}.{data_key} is required: the image must not be empty.")
    # Decoding a body far over the limit would only waste memory.
    if len(encoded) > (MAX_IMAGE_BYTES + 2) // 3 * 4 + 4:
        raise _invalid(f"{where} is larger than the 20 MB limit for images.")
    # Google reads standard and URL-safe base64, with or without padding.
    encoded = encoded.strip().translate(str.maketrans("-_", "+/"))
    try:
        data = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError:
        raise _invalid(f"{where}.{data_key} is not valid base64.") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise _invalid(f"{where} is {len(data)} bytes, larger than the 20 MB limit for images.")
    if not _is_image_type(data, mime_type):
        raise _invalid(f"{where}.{data_key} does not hold an {mime_type} image.")
    return data


def _is_image_type(data: bytes, mime_type: str) -> bool:
    """Return whether data starts with the signature of mime_type."""
    match mime_type:
        case "image/png":
            return data.startswith(b"\x89PNG\r\n\x1a\n")
        case "image/jpeg":
            return data.startswith(b"\xff\xd8\xff")
        case "image/webp":
            return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return False


def _parse_frame(instance: dict, parameters: dict, model: str) -> tuple[int, int, int]:
    """Validate aspect ratio, resolution and duration; return width, height and seconds."""
    aspect_ratio = parameters.get("aspectRatio", "16:9")
    if aspect_ratio not in ASPECT_RATIOS:
        raise _invalid(f"aspectRatio {aspect_ratio!r} is not supported; use 16:9 or 9:16.")
    resolution = parameters.get("resolution", "720p")
    if resolution not in FRAME_SIZES:
        raise _invalid(f"resolution {resolution!r} is not supported; use 720p, 1080p or 4k.")
    if resolution == "4k" and model == "veo-3.1-lite-generate-preview":
        raise _invalid(f"resolution '4k' is not supported by {model}.")
    seconds = parameters.get("durationSeconds", 8)
    # The docs list the values as strings and the SDKs send numbers; both arrive in practice.
    if isinstance(seconds, str) and seconds.strip().isdigit():
        seconds = int(seconds)
    if isinstance(seconds, bool) or seconds not in DURATIONS:
        raise _invalid(f"durationSeconds {seconds!r} is not supported; use 4, 6 or 8.")
    if resolution != "720p" and seconds != 8:
        raise _invalid(f"durationSeconds must be 8 for resolution {resolution}, got {seconds}.")
    if instance.get("referenceImages") and seconds != 8:
        raise _invalid("durationSeconds must be 8 when instances[0].referenceImages are given.")
    width, height = FRAME_SIZES[resolution]
    if aspect_ratio == "9:16":
        width, height = height, width
    return width, height, seconds


def _check_shared_parameters(parameters: dict) -> None:
    """Validate the parameters both dialects read the same way."""
    if not isinstance(parameters.get("negativePrompt", ""), str):
        raise _invalid("negativePrompt must be a string.")
    if not isinstance(parameters.get("enhancePrompt", True), bool):
        raise _invalid("enhancePrompt must be a boolean.")
    seed = parameters.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**32 - 1:
        raise _invalid("seed must be an integer between 0 and 4294967295.")


def _parse_storage_uri(uri) -> str | None:
    """Return storageUri as ``gs://bucket/prefix/`` (prefix may be empty), or None if absent."""
    if uri is None:
        return None
    if not isinstance(uri, str) or not (match := STORAGE_URI.fullmatch(uri)):
        raise _invalid(
            f"storageUri {uri!r} is not a Cloud Storage URI such as gs://bucket/prefix/."
        )
    prefix = match["path"] or ""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return f"gs://{match['bucket']}/{prefix}"


def _publisher_model(project: str, location: str, model: str) -> str:
    """Return the Vertex AI resource name of a served model, or raise 404 as Vertex does."""
    resource = f"projects/{project}/locations/{location}/publishers/google/models/{model}"
    if model not in VERTEX_MODELS:
        raise ApiError(
            404,
            "NOT_FOUND",
            f"Publisher Model `{resource}` was not found or your project does not have access "
            "to it.",
        )
    return resource


def _new_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))


def _padding(prompt: str) -> int:
    """Return the bytes a ``[pad-mb=N]`` marker adds to the video, refusing more than the cap."""
    megabytes = int(match[1]) if (match := PAD_MARKER.search(prompt)) else 0
    if megabytes > PAD_MAX_MB:
        raise _invalid(f"[pad-mb={megabytes}] is over the emulator's {PAD_MAX_MB} MiB limit.")
    return megabytes * 1024 * 1024


def pad_with_free_box(path: Path, size: int) -> None:
    """Append a top-level ISO-BMFF ``free`` box of size bytes, header included, to an MP4.

    The box takes the 64-bit largesize form from 4 GiB on; its zeros are left as a hole.
    """
    if size >= 2**32:
        header = struct.pack(">I4sQ", 1, b"free", size)
    else:
        header = struct.pack(">I4s", size, b"free")
    with path.open("r+b") as video:
        end = video.seek(0, os.SEEK_END)
        video.write(header)
        video.truncate(end + size)


def _fault_in(prompt: str) -> str | None:
    """Return the fault a prompt's marker names, refusing names the emulator does not know."""
    fault = match[1] if (match := FAULT_MARKER.search(prompt)) else None
    if fault is not None and fault not in FAULTS:
        raise _invalid(f"Unknown emulator fault {fault!r}; known: {', '.join(sorted(FAULTS))}.")
    return fault


def _quota_error(quota_id, metric, dimensions, retry_delay, *, message=QUOTA_MESSAGE, headers=None):
    return ApiError(
        429,
        "RESOURCE_EXHAUSTED",
        message,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {"quotaMetric": metric, "quotaId": quota_id, "quotaDimensions": dimensions}
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ],
        headers=headers,
    )


def _refusal(fault: str | None, model: str) -> ApiError | None:
    """Return the error a submit-time fault answers with, when Google does not accept the job."""
    dimensions = {"location": "global", "model": model}
    match fault:
        case "submit-429":
            return _quota_error(
                "GenerateRequestsPerMinutePerProjectPerModel",
                "generativelanguage.googleapis.com/generate_requests_per_model",
                dimensions,
                "2s",
                headers={"Retry-After": "2"},
            )
        case "daily-quota":
            return _quota_error(
                "GenerateRequestsPerDayPerProjectPerModel",
                "generativelanguage.googleapis.com/generate_requests_per_model_per_day",
                dimensions,
                "41s",
            )
        case "submit-500":
            return ApiError(500, "INTERNAL", "An internal error has occurred. Please retry.")
        case "submit-503":
            return ApiError(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
        case "submit-504":
            return ApiError(
                504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."
            )
        case "permission":
            return ApiError(403, "PERMISSION_DENIED", "The caller does not have permission")
        case "billing":
            return ApiError(
                400,
                "FAILED_PRECONDITION",
                "Gemini API free tier is not available in your country. "
                "Please enable billing on your project in Google AI Studio.",
            )
    return None


def _vertex_refusal(fault: str | None, project: str, location: str, model: str) -> ApiError | None:
    """Return the error a submit-time fault answers with on Vertex AI, if it refuses the job."""
    metric = "aiplatform.googleapis.com/online_prediction_requests_per_base_model"
    dimensions = {"region": location, "base_model": model}
    message = (
        f"Quota exceeded for {metric} with base model: {model}. Please submit a quota increase "
        "request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
    )
    match fault:
        case "submit-429":
            return _quota_error(
                "OnlinePredictionRequestsPerMinutePerProjectPerBaseModel",
                metric,
                dimensions,
                "2s",
                message=message,
                headers={"Retry-After": "2"},
            )
        case "daily-quota":
            return _quota_error(
                "OnlinePredictionRequestsPerDayPerProjectPerBaseModel",
                f"{metric}_per_day",
                dimensions,
                "41s",
                message=message,
            )
        case "permission":
            resource = f"projects/{project}/locations/{location}/publishers/google/models/{model}"
            return ApiError(
                403,
                "PERMISSION_DENIED",
                f"Permission 'aiplatform.endpoints.predict' denied on resource "
                f"'//aiplatform.googleapis.com/{resource}' (or it may not exist).",
            )
        case "billing":
            return ApiError(
                403,
                "PERMISSION_DENIED",
                f"This API method requires billing to be enabled. Please enable billing on project "
                f"#{project} by visiting https://console.developers.google.com/billing/enable"
                f"?project={project} then retry. If you enabled billing for this project "
                "recently, wait a few minutes for the action to propagate to our systems and "
                "retry.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "BILLING_DISABLED",
                        "domain": "googleapis.com",
                        "metadata": {
                            "consumer": f"projects/{project}",
                            "service": "aiplatform.googleapis.com",
                        },
                    }
                ],
            )
    return _refusal(fault, model)


def _token_form(raw: bytes, content_type: str) -> dict:
    """Return a token request's fields, sent as a form (the usual way) or as JSON."""
    if content_type.startswith("application/json"):
        try:
            form = json.loads(raw or b"{}")
        except ValueError:
            form = None
        if not isinstance(form, dict):
            raise TokenError("invalid_request", "The request body is not a JSON object.")
        return form
    return {key: values[0] for key, values in parse_qs(raw.decode("utf-8", "replace")).items()}


def _check_assertion(assertion) -> None:
    """Check that a JWT names its issuer and audience; the signature is not verified."""
    parts = assertion.split(".") if isinstance(assertion, str) else []
    if len(parts) != 3:
        raise TokenError("invalid_grant", "Invalid JWT: the assertion is not a signed JWT.")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        claims = None
    if not isinstance(claims, dict):
        raise TokenError("invalid_grant", "Invalid JWT: the payload is not base64url JSON.")
    if not claims.get("iss") or not (claims.get("aud") or claims.get("scope")):
        raise TokenError("invalid_grant", "Invalid JWT: iss and aud or scope are required.")
    expiry = claims.get("exp")
    if isinstance(expiry, int | float) and expiry < time.time():
        raise TokenError(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim.",
        )


@functools.cache
def _signing_key() -> tuple[str, str]:
    """Return a new RSA private key in PEM and its key id, made once per process."""
    # cryptography comes with google-auth, which only the Vertex helpers need.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, hashlib.sha256(public).hexdigest()[:40]


def service_account_info(token_uri: str) -> dict:
    """Return a service-account key file's content whose tokens come from token_uri."""
    private_key, key_id = _signing_key()
    return {
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": key_id,
        "private_key": private_key,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": (
            f"https://www.googleapis.com/robot/v1/metadata/x509/{quote(CLIENT_EMAIL)}"
        ),
        "universe_domain": "googleapis.com",
    }


class Emulator:
    """Run the fake Veo server and keep the state of its operations."""

    def __init__(self, *, host="127.0.0.1", port=0, latency=4.0, data_dir=None, api_key=None):
        self.host, self.port, self.latency, self.api_key = host, port, latency, api_key
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="veo-emulator-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Without a data_dir of its own nothing outlives the emulator, so nothing is saved.
        self._state_path = self.data_dir / STATE_FILE if data_dir else None
        self.base_url = ""
        self.submits = 0
        self.redirect_key_leaks = 0
        self.token_grants = 0
        self._operations: dict[str, Operation] = {}
        self._files: dict[str, Operation] = {}
        self._objects: dict[tuple[str, str], Operation] = {}
        self._tokens: dict[str, float] = {}
        self._stopped = False
        self._lock = threading.Lock()
        # A small pool keeps a burst of submits from rendering dozens of videos at once.
        self._renderer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="veo-render")
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> "Emulator":
        """Restore saved state, serve in a daemon thread and return self."""
        self._load()
        self._server = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._server.emulator = self
        self.base_url = f"http://{self.host}:{self._server.server_port}"
        # A short poll interval makes stop() quick, which adds up over a test suite.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop renders that have not started."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            # A render still running must not overwrite what a successor has saved since.
            self._stopped = True
        self._renderer.shutdown(wait=False, cancel_futures=True)

    def submits_for(self, prompt_substring: str) -> int:
        """Return how many accepted submits had a prompt containing prompt_substring."""
        with self._lock:
            return sum(prompt_substring in op.prompt for op in self._operations.values())

    def stats(self) -> dict:
        """Return the counters that tests and the chaos harness check."""
        with self._lock:
            operations = {
                op.name: {
                    "prompt": op.prompt,
                    "model": op.model,
                    "dialect": op.dialect,
                    "fault": op.fault,
                    "submits": 1,
                    "polls": op.polls,
                    "downloads": op.downloads,
                    # When a poll would first have answered done (wall clock), for benchmarks.
                    "done_at": max(op.submitted_at + op.latency, op.rendered_at)
                    if op.rendered_at is not None
                    else None,
                    "image": op.image,
                    "last_frame": op.last_frame,
                    "parameters": dict(op.parameters),
                    "sample_count": op.sample_count,
                    "storage_uri": op.storage_uri,
                }
                for op in self._operations.values()
            }
            return {
                "submits": self.submits,
                "token_grants": self.token_grants,
                "redirect_key_leaks": self.redirect_key_leaks,
                "operations": operations,
            }

    def submit(self, model: str, raw_body: bytes) -> Operation:
        """Accept a Gemini API generation request and start rendering it, or raise ApiError."""
        if model in RETIRED_MODELS:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"models/{model} is no longer available to new users. "
                "Please use veo-3.1-generate-preview instead.",
            )
        if model not in MODELS:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"models/{model} is not found for API version v1beta, or is not supported for "
                "predictLongRunning. Call ListModels to see the list of available models and "
                "their supported methods.",
            )
        request = parse_submit(model, raw_body)
        fault = _fault_in(request.prompt)
        if (refusal := _refusal(fault, model)) is not None:
            raise refusal
        name = f"models/{model}/operations/{_new_id()}"
        return self._accept(name, model, "gemini", request, fault)

    def submit_vertex(self, project: str, location: str, model: str, raw_body: bytes) -> Operation:
        """Accept a Vertex AI generation request and start rendering it, or raise ApiError."""
        resource = _publisher_model(project, location, model)
        request = parse_vertex_submit(model, raw_body)
        fault = _fault_in(request.prompt)
        if (refusal := _vertex_refusal(fault, project, location, model)) is not None:
            raise refusal
        return self._accept(
            f"{resource}/operations/{uuid.uuid4()}", model, "vertex", request, fault
        )

    def poll(self, name: str, base_url: str) -> dict:
        """Return a Gemini API operation as Google shows it, done or not."""
        op, ready = self._advance(name, "gemini")
        if not ready:
            return {"name": name}
        if op.fault == "done-error" or op.render_failed:
            return {"name": name, "done": True, "error": DONE_ERROR}
        if op.fault == "no-response":
            return {"name": name, "done": True}
        if op.fault == "safety":
            result = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [SAFETY_REASON]}
        else:
            uri = f"{base_url}/v1beta/files/{op.file_id}:download?alt=media"
            result = {"generatedSamples": [{"video": {"uri": uri}}]}
        response = {"@type": RESPONSE_TYPE, "generateVideoResponse": result}
        return {"name": name, "done": True, "response": response}

    def fetch_predict_operation(
        self, project: str, location: str, model: str, raw_body: bytes
    ) -> dict:
        """Return a Vertex AI operation as fetchPredictOperation shows it, done or not."""
        resource = _publisher_model(project, location, model)
        try:
            payload = json.loads(raw_body or b"{}")
        except ValueError:
            raise _invalid("Invalid JSON payload received. Unexpected token.") from None
        name = payload.get("operationName") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not name:
            raise _invalid("operationName is required.")
        if not name.startswith(f"{resource}/operations/"):
            raise _invalid(f"operationName {name!r} is not an operation of {resource}.")
        op, ready = self._advance(name, "vertex")
        if not ready:
            return {"name": name}
        if op.fault == "done-error" or op.render_failed:
            return {"name": name, "done": True, "error": DONE_ERROR}
        if op.fault == "no-response":
            return {"name": name, "done": True}
        response = {"@type": VERTEX_RESPONSE_TYPE}
        if op.fault == "safety":
            response |= {
                "raiMediaFilteredCount": 1,
                "raiMediaFilteredReasons": [VERTEX_SAFETY_REASON],
            }
        else:
            response |= {"raiMediaFilteredCount": 0, "videos": self._vertex_videos(op)}
        return {"name": name, "done": True, "response": response}

    def video(self, file_id: str) -> tuple[Operation, Path]:
        """Return a rendered video's operation and path, counting the download."""
        with self._lock:
            op = self._files.get(file_id)
            if op is None or not self._video_path(op).exists():
                raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
            op.downloads += 1
        return op, self._video_path(op)

    def storage_object(self, bucket: str, name: str, *, media: bool) -> tuple[Operation, Path]:
        """Return the operation and path behind a Cloud Storage object, counting media reads."""
        with self._lock:
            op = self._objects.get((bucket, name))
            written = (
                op is not None
                and self._ready(op)
                and op.fault not in VIDEOLESS_FAULTS
                and not op.render_failed
                and self._video_path(op).exists()
            )
            if not written:
                raise ApiError(404, "NOT_FOUND", f"No such object: {bucket}/{name}")
            if media:
                op.downloads += 1
        return op, self._video_path(op)

    def grant_token(self, raw_body: bytes, content_type: str = "") -> dict:
        """Answer an OAuth 2.0 token request with a new bearer token, or raise TokenError."""
        form = _token_form(raw_body, content_type)
        grant_type = form.get("grant_type")
        if grant_type == JWT_GRANT_TYPE:
            _check_assertion(form.get("assertion"))
        elif grant_type == "refresh_token":
            if not form.get("refresh_token"):
                raise TokenError("invalid_grant", "Bad Request: refresh_token is missing.")
        else:
            raise TokenError("unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}")
        token = f"ya29.emulator-{secrets.token_urlsafe(24)}"
        with self._lock:
            self._tokens[token] = time.time() + TOKEN_LIFETIME
            self.token_grants += 1
            self._save()
        return {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}

    def token_expiry(self, token: str) -> float | None:
        """Return when a token this emulator issued expires, or None for any other token."""
        with self._lock:
            return self._tokens.get(token)

    def note_redirected_key(self) -> None:
        """Count a credential that followed a redirect off the API host."""
        with self._lock:
            self.redirect_key_leaks += 1
            self._save()

    def _accept(self, name: str, model: str, dialect: str, request: Request, fault) -> Operation:
        """Store an accepted operation, start its render, and answer as its fault asks."""
        _padding(request.prompt)  # Refuse an oversized pad before anything is stored.
        if fault == "slow":
            latency = SLOW_LATENCY
        elif match := LATENCY_MARKER.search(request.prompt):
            latency = float(match[1])
        else:
            latency = self.latency
        op = Operation(
            name=name,
            model=model,
            prompt=request.prompt,
            fault=fault,
            latency=latency,
            file_id=_new_id(),
            dialect=dialect,
            width=request.width,
            height=request.height,
            seconds=request.seconds,
            sample_count=request.sample_count,
            storage_uri=request.storage_uri,
            image=request.image,
            last_frame=request.last_frame,
            parameters=request.parameters,
        )
        renders = fault not in VIDEOLESS_FAULTS
        if renders and request.background is not None and self._state_path is not None:
            # Keep the picture until the video exists, in case a restart loses the render.
            self._image_path(op).write_bytes(request.background)
        with self._lock:
            self._add(op)
            self.submits += 1
            self._save()
        if renders:
            self._renderer.submit(self._render, op, request.background)
        else:
            op.rendered.set()
        if match := SUBMIT_DELAY_MARKER.search(request.prompt):
            time.sleep(min(float(match[1]), 60.0))
        if fault == "submit-500-accepted":
            raise ApiError(500, "INTERNAL", "An internal error has occurred. Please retry.")
        return op

    def _advance(self, name: str, dialect: str) -> tuple[Operation, bool]:
        """Count a poll and return the operation and whether it is done, or raise ApiError."""
        with self._lock:
            op = self._operations.get(name)
            if op is None or op.dialect != dialect:
                raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
            op.polls += 1
            ready = self._ready(op)
            if ready and op.fault == "poll-503-once" and not op.poll_fault_spent:
                op.poll_fault_spent = True
                self._save()
                raise ApiError(503, "UNAVAILABLE", "The service is currently unavailable.")
        return op, ready

    def _vertex_videos(self, op: Operation) -> list[dict]:
        if op.storage_uri is not None:
            return [
                {"gcsUri": f"gs://{bucket}/{name}", "mimeType": "video/mp4"}
                for bucket, name in op.objects()
            ]
        # One render serves every sample: the emulator exercises the pipeline, not variety.
        data = base64.b64encode(self._video_path(op).read_bytes()).decode()
        return [{"bytesBase64Encoded": data, "mimeType": "video/mp4"}] * op.sample_count

    @staticmethod
    def _ready(op: Operation) -> bool:
        return time.time() - op.submitted_at >= op.latency and op.rendered.is_set()

    def _video_path(self, op: Operation) -> Path:
        return self.data_dir / f"{op.file_id}.mp4"

    def _image_path(self, op: Operation) -> Path:
        return self.data_dir / f"{op.file_id}.image"

    def _add(self, op: Operation) -> None:
        """Index an operation by name, file id and Cloud Storage objects; hold the lock."""
        self._operations[op.name] = op
        self._files[op.file_id] = op
        for key in op.objects():
            self._objects[key] = op

    def _save(self) -> None:
        """Write state.json atomically, when there is a data_dir; hold the lock."""
        if self._state_path is None or self._stopped:
            return
        now = time.time()
        state = {
            "submits": self.submits,
            "token_grants": self.token_grants,
            "redirect_key_leaks": self.redirect_key_leaks,
            "tokens": {token: expiry for token, expiry in self._tokens.items() if expiry > now},
            "operations": [op.state() for op in self._operations.values()],
        }
        partial = self._state_path.with_name(f".{STATE_FILE}.{secrets.token_hex(4)}.tmp")
        try:
            partial.write_text(json.dumps(state))
            os.replace(partial, self._state_path)
        except OSError:
            logger.exception("Saving %s failed", self._state_path)
            partial.unlink(missing_ok=True)

    def _load(self) -> None:
        """Restore the state an earlier run saved, and redo the renders it lost."""
        if self._state_path is None or not self._state_path.exists():
            return
        try:
            state = json.loads(self._state_path.read_text())
            operations = [Operation.from_state(item) for item in state["operations"]]
        except (OSError, ValueError, KeyError, TypeError):
            logger.exception("Ignoring the unreadable %s", self._state_path)
            return
        now = time.time()
        with self._lock:
            self.submits = state.get("submits", len(operations))
            self.token_grants = state.get("token_grants", 0)
            self.redirect_key_leaks = state.get("redirect_key_leaks", 0)
            tokens = state.get("tokens", {})
            self._tokens = {token: expiry for token, expiry in tokens.items() if expiry > now}
            for op in operations:
                self._add(op)
        for op in operations:
            if op.fault in VIDEOLESS_FAULTS or op.render_failed:
                op.rendered.set()
                continue
            # Read the picture before looking for the video: a render that outlived the old
            # process deletes its picture only once the video is in place.
            try:
                background = self._image_path(op).read_bytes()
            except FileNotFoundError:
                background = None
            if self._video_path(op).exists():
                op.rendered.set()
            else:
                self._renderer.submit(self._render, op, background)
        # A killed process leaves its partial renders behind; a live render touches its file
        # every frame, so only old ones are litter.
        for partial in self.data_dir.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if now - partial.stat().st_mtime > 60:
                    partial.unlink()
        logger.info("Restored %d operations from %s", len(operations), self._state_path)

    def _render(self, op: Operation, background: bytes | None) -> None:
        path = self._video_path(op)
        # Render beside the final name so a download never sees a half-written file; the random
        # part keeps a render that outlived a stopped emulator from writing into this one's.
        partial = path.with_name(f"{op.file_id}.{secrets.token_hex(4)}.part")
        frame = {"prompt": op.prompt, "width": op.width, "height": op.height, "seconds": op.seconds}
        try:
            try:
                render_mp4(partial, background=background, **frame)
            except OSError:
                if background is None:
                    raise
                # Validation checks only the signature, so Pillow may still fail to read it.
                logger.warning("%s: cannot read the input image; rendering without it", op.name)
                render_mp4(partial, **frame)
            if padding := _padding(op.prompt):
                pad_with_free_box(partial, padding)
            partial.replace(path)
        except Exception:
            logger.exception("Rendering %s failed", op.name)
            partial.unlink(missing_ok=True)
            with self._lock:
                op.render_failed = True
                self._save()
        finally:
            self._image_path(op).unlink(missing_ok=True)
            op.rendered_at = time.time()
            op.rendered.set()


SUBMIT_PATH = re.compile(r"/v1beta/models/(?P<model>[^/:]+):predictLongRunning")
OPERATION_PATH = re.compile(r"/v1beta/(?P<name>models/[^/:]+/operations/[^/:]+)")
DOWNLOAD_PATH = re.compile(r"/v1beta/files/(?P<file_id>[a-z0-9]+):download")
REDIRECTED_PATH = re.compile(r"/emulator/redirected/(?P<file_id>[a-z0-9]+)")
VERTEX_PATH = re.compile(
    r"/v1(?:beta1)?/projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)"
    r"/publishers/google/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)"
)
STORAGE_PATH = re.compile(r"(?:/download)?/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<object>.+)")
KEY_IN_TEXT = re.compile(r"(key=)[^&\s\"]+")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "VeoEmulator/1.0"
    # Idle keep-alive connections give their thread back after a while.
    timeout = 60

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def log_message(self, format, *args):
        logger.info("%s %s", self.address_string(), KEY_IN_TEXT.sub(r"\1<redacted>", format % args))

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        # Read the whole body even when unused so the keep-alive connection stays in step.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            self._route(method, path, query, body)
        except ApiError as error:
            self._send_json(error.code, error.body(), error.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, method, path, query, body) -> None:
        if method == "GET" and path == "/emulator/stats":
            self._send_json(200, self.emulator.stats())
        elif method == "GET" and (match := REDIRECTED_PATH.fullmatch(path)):
            credentials = ("x-goog-api-key", "Authorization")
            if any(self.headers.get(name) for name in credentials) or "key" in query:
                self.emulator.note_redirected_key()
            self._send_video(self.emulator.video(match["file_id"])[1])
        elif method == "POST" and path == "/token":
            content_type = self.headers.get("Content-Type") or ""
            token = self.emulator.grant_token(body, content_type)
            self._send_json(200, token, {"Cache-Control": "no-store"})
        elif path.startswith(("/v1/", "/v1beta1/")):
            self._check_token("aiplatform.googleapis.com")
            self._route_vertex(method, path, body)
        elif match := STORAGE_PATH.fullmatch(path):
            self._check_token("storage.googleapis.com")
            self._storage(method, match["bucket"], match["object"], query)
        elif not path.startswith("/v1beta/"):
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        else:
            self._check_key(query)
            self._route_api(method, path, body)

    def _route_api(self, method, path, body) -> None:
        if method == "GET" and path == "/v1beta/models":
            models = [
                {"name": f"models/{model}", "supportedGenerationMethods": ["predictLongRunning"]}
                for model in MODELS
            ]
            self._send_json(200, {"models": models})
        elif method == "POST" and (match := SUBMIT_PATH.fullmatch(path)):
            op = self.emulator.submit(match["model"], body)
            self._send_json(200, {"name": op.name})
        elif method == "GET" and (match := OPERATION_PATH.fullmatch(path)):
            self._send_json(200, self.emulator.poll(match["name"], self._base_url()))
        elif method == "GET" and (match := DOWNLOAD_PATH.fullmatch(path)):
            op, video = self.emulator.video(match["file_id"])
            self._download(op, video, ApiError(404, "NOT_FOUND", "File not found or expired"))
        else:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)

    def _route_vertex(self, method, path, body) -> None:
        match = VERTEX_PATH.fullmatch(path)
        if method != "POST" or match is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        model = match["project"], match["location"], match["model"]
        if match["method"] == "predictLongRunning":
            op = self.emulator.submit_vertex(*model, body)
            self._send_json(200, {"name": op.name})
        elif match["method"] == "fetchPredictOperation":
            self._send_json(200, self.emulator.fetch_predict_operation(*model, body))
        else:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)

    def _storage(self, method, bucket, name, query) -> None:
        if method != "GET":
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        media = query.get("alt", [""])[0] == "media"
        op, video = self.emulator.storage_object(bucket, name, media=media)
        if media:
            self._download(
                op, video, ApiError(404, "NOT_FOUND", f"No such object: {bucket}/{name}")
            )
            return
        encoded = quote(name, safe="")
        self._send_json(
            200,
            {
                "kind": "storage#object",
                "id": f"{bucket}/{name}/1",
                "name": name,
                "bucket": bucket,
                "generation": "1",
                "contentType": "video/mp4",
                "size": str(video.stat().st_size),
                "mediaLink": f"{self._base_url()}/download/storage/v1/b/{bucket}/o/{encoded}"
                "?generation=1&alt=media",
            },
        )

    def _check_key(self, query) -> None:
        key = self.headers.get("x-goog-api-key") or query.get("key", [""])[0]
        if not key:
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if self.emulator.api_key and key != self.emulator.api_key:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            )

    def _check_token(self, service: str) -> None:
        header = self.headers.get("Authorization")
        if not header:
            raise _unauthenticated(
                "Request is missing required authentication credential.",
                "CREDENTIALS_MISSING",
                service,
            )
        scheme, _, token = header.partition(" ")
        expiry = self.emulator.token_expiry(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or expiry <= time.time():
            reason = "ACCESS_TOKEN_TYPE_UNSUPPORTED" if expiry is None else "ACCESS_TOKEN_EXPIRED"
            raise _unauthenticated(
                "Request had invalid authentication credentials.", reason, service
            )

    def _base_url(self) -> str:
        return (
            f"http://{self.headers.get('Host') or self.emulator.base_url.removeprefix('http://')}"
        )

    def _download(self, op: Operation, path: Path, gone: ApiError) -> None:
        match op.fault:
            case "redirect":
                hostname = urlsplit(self._base_url()).hostname
                other = "localhost" if hostname == "127.0.0.1" else "127.0.0.1"
                port = self.server.server_port
                location = f"http://{other}:{port}/emulator/redirected/{op.file_id}"
                self._send_bytes(302, b"", "text/plain", {"Location": location})
            case "html":
                self._send_bytes(200, b"<html>error</html>", "text/html; charset=utf-8")
            case "expired":
                raise gone
            case "truncated":
                self._send_video(path, truncate=True)
            case _:
                self._send_video(path)

    def _send_video(self, path: Path, *, truncate: bool = False) -> None:
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with path.open("rb") as video:
            if truncate:
                self.wfile.write(video.read(size // 2))
                self.close_connection = True
            else:
                shutil.copyfileobj(video, self.wfile, CHUNK_SIZE)

    def _send_json(self, status: int, payload: dict, headers=None) -> None:
        body = json.dumps(payload, indent=2).encode()
        self._send_bytes(status, body, "application/json; charset=UTF-8", headers)

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def main(argv=None) -> None:
    """Run the emulator from the command line."""
    parser = argparse.ArgumentParser(description="Serve a local stand-in for Google's Veo API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=4.0, help="seconds until done")
    parser.add_argument(
        "--data-dir",
        help="where videos and state.json go (default: a new temporary directory, not kept)",
    )
    parser.add_argument("--api-key", help="the only key to accept (default: any non-empty key)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    emulator = Emulator(
        host=args.host,
        port=args.port,
        latency=args.latency,
        data_dir=args.data_dir,
        api_key=args.api_key,
    )
    emulator.start()
    print(f"Veo emulator on {emulator.base_url}, videos in {emulator.data_dir}", flush=True)
    try:
        emulator._thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
