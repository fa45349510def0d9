"""Serve a local stand-in for the Gemini API's Veo endpoints (v1beta, API-key auth).

Run ``python -m jobs.veo.emulator --port 8765 --latency 4``, or start an ``Emulator`` in a
test. It speaks Google's wire format: submit with
``POST /v1beta/models/{model}:predictLongRunning``, poll ``GET /v1beta/{operation name}``
(no ``done`` key until ready), then download ``GET /v1beta/files/{id}:download?alt=media``.
Every accepted submit renders a real MP4 that shows the prompt. Served models:
veo-3.1-generate-preview, veo-3.1-fast-generate-preview and veo-3.1-lite-generate-preview; the
2.0 and 3.0 models answer 404 "no longer available".

Accepted parameters: aspectRatio, resolution, durationSeconds, negativePrompt, personGeneration
(text-to-video: allow_all only; image-to-video: allow_adult only), sampleCount (1), enhancePrompt
and seed. Anything else is refused with 400 INVALID_ARGUMENT, as Google refuses unknown fields.
4k videos are rendered at 1080p pixels to keep rendering fast.

Markers in the prompt steer a single request:

``[latency=SECONDS]``
    Finish this operation SECONDS after submit instead of after the server's latency.
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
    billing              400 FAILED_PRECONDITION.
    poll-503-once        the first poll after the operation is done answers 503 UNAVAILABLE.
    done-error           done with ``error: {code: 13, message: ...}``.
    safety               done; generateVideoResponse holds only raiMediaFilteredCount/-Reasons.
    no-response          done with neither ``response`` nor ``error``.
    redirect             download answers 302 to ``/emulator/redirected/<id>`` on the other
                         loopback name (127.0.0.1 <-> localhost), which serves the bytes without
                         a key; a key that arrives there counts in stats' ``redirect_key_leaks``.
    html                 download answers 200 text/html.
    truncated            download announces the full Content-Length, sends half and closes.
    expired              download answers 404 NOT_FOUND "File not found or expired".
    slow                 the operation takes 600 s.

``GET /emulator/stats`` (no key needed) reports submits, operations and redirect key leaks.
"""

import argparse
import json
import logging
import re
import secrets
import shutil
import string
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from jobs.veo.synthetic import render_mp4

logger = logging.getLogger(__name__)

MODELS = (
    "veo-3.1-generate-preview",
    "veo-3.1-fast-generate-preview",
    "veo-3.1-lite-generate-preview",
)
RETIRED_MODELS = ("veo-2.0-generate-001", "veo-3.0-generate-001", "veo-3.0-fast-generate-001")
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
INSTANCE_FIELDS = frozenset({"prompt", "image", "lastFrame", "referenceImages", "video"})
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
CHUNK_SIZE = 64 * 1024
RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
SAFETY_REASON = (
    "We encountered an issue with the audio for your prompt, which means we could not create your "
    "video. This can sometimes happen due to our safety filters or other processing issues. Please "
    "modify your request and try again. You have not been charged for this attempt."
)
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
NOT_FOUND_MESSAGE = "Requested entity was not found."


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


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


@dataclass
class Request:
    """The parts of a validated submit that the emulator acts on."""

    prompt: str
    width: int
    height: int
    seconds: int


@dataclass
class Operation:
    """One accepted generation and what has happened to it."""

    name: str
    model: str
    prompt: str
    fault: str | None
    latency: float
    file_id: str
    submitted_at: float = field(default_factory=time.monotonic)
    rendered: threading.Event = field(default_factory=threading.Event)
    render_failed: bool = False
    poll_fault_spent: bool = False
    polls: int = 0
    downloads: int = 0


def parse_submit(model: str, raw: bytes) -> Request:
    """Validate a predictLongRunning body the way the Gemini API does, or raise ApiError."""
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        raise _invalid("Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(payload, dict):
        raise _invalid("Invalid JSON payload received. Expected an object.")
    for key in payload:
        if key not in ("instances", "parameters", "webhookConfig"):
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
    prompt = instance.get("prompt") or ""
    if not isinstance(prompt, str):
        raise _invalid("instances[0].prompt must be a string.")
    has_image = instance.get("image") is not None
    if not prompt.strip() and not has_image:
        raise _invalid("instances[0].prompt is required: the prompt must not be empty.")
    if len(prompt) > 4096 or len(prompt.split()) > 1024:
        tokens = max(len(prompt) // 4, len(prompt.split()))
        raise _invalid(
            f"instances[0].prompt is too long: about {tokens} tokens, the maximum is 1024 tokens."
        )
    if instance.get("lastFrame") is not None and not has_image:
        raise _invalid("instances[0].lastFrame requires instances[0].image.")
    references = instance.get("referenceImages")
    if references is not None and (not isinstance(references, list) or len(references) > 3):
        raise _invalid("instances[0].referenceImages must be a list of at most 3 images.")
    if references and has_image:
        raise _invalid("instances[0].referenceImages cannot be combined with instances[0].image.")

    parameters = payload.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _invalid("parameters must be an object.")
    for key in parameters:
        if key not in PARAMETERS:
            raise _invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at 'parameters': "
                "Cannot find field."
            )
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
    if references and seconds != 8:
        raise _invalid("durationSeconds must be 8 when instances[0].referenceImages are given.")
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
    if not isinstance(parameters.get("negativePrompt", ""), str):
        raise _invalid("negativePrompt must be a string.")
    if not isinstance(parameters.get("enhancePrompt", True), bool):
        raise _invalid("enhancePrompt must be a boolean.")
    seed = parameters.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**32 - 1:
        raise _invalid("seed must be an integer between 0 and 4294967295.")

    width, height = FRAME_SIZES[resolution]
    if aspect_ratio == "9:16":
        width, height = height, width
    return Request(prompt=prompt, width=width, height=height, seconds=seconds)


def _new_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))


def _quota_error(model: str, quota_id: str, metric: str, retry_delay: str, headers=None):
    return ApiError(
        429,
        "RESOURCE_EXHAUSTED",
        QUOTA_MESSAGE,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": f"generativelanguage.googleapis.com/{metric}",
                        "quotaId": quota_id,
                        "quotaDimensions": {"location": "global", "model": model},
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ],
        headers=headers,
    )


def _refusal(fault: str | None, model: str) -> ApiError | None:
    """Return the error a submit-time fault answers with, when Google does not accept the job."""
    match fault:
        case "submit-429":
            return _quota_error(
                model,
                "GenerateRequestsPerMinutePerProjectPerModel",
                "generate_requests_per_model",
                "2s",
                headers={"Retry-After": "2"},
            )
        case "daily-quota":
            return _quota_error(
                model,
                "GenerateRequestsPerDayPerProjectPerModel",
                "generate_requests_per_model_per_day",
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


class Emulator:
    """Run the fake Veo server and keep the state of its operations."""

    def __init__(self, *, host="127.0.0.1", port=0, latency=4.0, data_dir=None, api_key=None):
        self.host, self.port, self.latency, self.api_key = host, port, latency, api_key
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="veo-emulator-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.base_url = ""
        self.submits = 0
        self.redirect_key_leaks = 0
        self._operations: dict[str, Operation] = {}
        self._files: dict[str, Operation] = {}
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
        """Serve in a daemon thread and return self."""
        self._server = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._server.emulator = self
        self.base_url = f"http://{self.host}:{self._server.server_port}"
        # A short poll interval makes stop() quick, which adds up over a test suite.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop renders that have not started."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
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
                    "fault": op.fault,
                    "submits": 1,
                    "polls": op.polls,
                    "downloads": op.downloads,
                }
                for op in self._operations.values()
            }
            return {
                "submits": self.submits,
                "redirect_key_leaks": self.redirect_key_leaks,
                "operations": operations,
            }

    def submit(self, model: str, raw_body: bytes) -> Operation:
        """Accept a generation request and start rendering it, or raise ApiError."""
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
        fault = match[1] if (match := FAULT_MARKER.search(request.prompt)) else None
        if fault is not None and fault not in FAULTS:
            raise _invalid(f"Unknown emulator fault {fault!r}; known: {', '.join(sorted(FAULTS))}.")
        if (refusal := _refusal(fault, model)) is not None:
            raise refusal

        if fault == "slow":
            latency = SLOW_LATENCY
        elif match := LATENCY_MARKER.search(request.prompt):
            latency = float(match[1])
        else:
            latency = self.latency
        op = Operation(
            name=f"models/{model}/operations/{_new_id()}",
            model=model,
            prompt=request.prompt,
            fault=fault,
            latency=latency,
            file_id=_new_id(),
        )
        with self._lock:
            self._operations[op.name] = op
            self._files[op.file_id] = op
            self.submits += 1
        if fault in VIDEOLESS_FAULTS:
            op.rendered.set()
        else:
            self._renderer.submit(self._render, op, request)
        if fault == "submit-500-accepted":
            raise ApiError(500, "INTERNAL", "An internal error has occurred. Please retry.")
        return op

    def poll(self, name: str, base_url: str) -> dict:
        """Return the operation as Google shows it, done or not."""
        with self._lock:
            op = self._operations.get(name)
            if op is None:
                raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
            op.polls += 1
            ready = time.monotonic() - op.submitted_at >= op.latency and op.rendered.is_set()
            if ready and op.fault == "poll-503-once" and not op.poll_fault_spent:
                op.poll_fault_spent = True
                raise ApiError(503, "UNAVAILABLE", "The service is currently unavailable.")
        if not ready:
            return {"name": name}
        if op.fault == "done-error" or op.render_failed:
            error = {"code": 13, "message": "Internal error while generating the video."}
            return {"name": name, "done": True, "error": error}
        if op.fault == "no-response":
            return {"name": name, "done": True}
        if op.fault == "safety":
            result = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [SAFETY_REASON]}
        else:
            uri = f"{base_url}/v1beta/files/{op.file_id}:download?alt=media"
            result = {"generatedSamples": [{"video": {"uri": uri}}]}
        response = {"@type": RESPONSE_TYPE, "generateVideoResponse": result}
        return {"name": name, "done": True, "response": response}

    def video(self, file_id: str) -> tuple[Operation, Path]:
        """Return a rendered video's operation and path, counting the download."""
        path = self.data_dir / f"{file_id}.mp4"
        with self._lock:
            op = self._files.get(file_id)
            if op is None or not path.exists():
                raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
            op.downloads += 1
        return op, path

    def note_redirected_key(self) -> None:
        """Count a key that followed a redirect off the API host."""
        with self._lock:
            self.redirect_key_leaks += 1

    def _render(self, op: Operation, request: Request) -> None:
        path = self.data_dir / f"{op.file_id}.mp4"
        # Render beside the final name so a download never sees a half-written file.
        partial = path.with_suffix(".part")
        try:
            render_mp4(
                partial,
                prompt=request.prompt,
                width=request.width,
                height=request.height,
                seconds=request.seconds,
            )
            partial.replace(path)
        except Exception:
            logger.exception("Rendering %s failed", op.name)
            op.render_failed = True
        finally:
            op.rendered.set()


SUBMIT_PATH = re.compile(r"/v1beta/models/(?P<model>[^/:]+):predictLongRunning")
OPERATION_PATH = re.compile(r"/v1beta/(?P<name>models/[^/:]+/operations/[^/:]+)")
DOWNLOAD_PATH = re.compile(r"/v1beta/files/(?P<file_id>[a-z0-9]+):download")
REDIRECTED_PATH = re.compile(r"/emulator/redirected/(?P<file_id>[a-z0-9]+)")
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
            if self.headers.get("x-goog-api-key") or "key" in query:
                self.emulator.note_redirected_key()
            self._send_video(self.emulator.video(match["file_id"])[1])
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
            self._download(match["file_id"])
        else:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)

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

    def _base_url(self) -> str:
        return (
            f"http://{self.headers.get('Host') or self.emulator.base_url.removeprefix('http://')}"
        )

    def _download(self, file_id: str) -> None:
        op, path = self.emulator.video(file_id)
        match op.fault:
            case "redirect":
                hostname = urlsplit(self._base_url()).hostname
                other = "localhost" if hostname == "127.0.0.1" else "127.0.0.1"
                port = self.server.server_port
                location = f"http://{other}:{port}/emulator/redirected/{file_id}"
                self._send_bytes(302, b"", "text/plain", {"Location": location})
            case "html":
                self._send_bytes(200, b"<html>error</html>", "text/html; charset=utf-8")
            case "expired":
                raise ApiError(404, "NOT_FOUND", "File not found or expired")
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
    parser.add_argument("--data-dir", help="where videos go (default: a new temporary directory)")
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
