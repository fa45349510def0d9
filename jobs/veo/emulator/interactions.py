"""The Interactions dialect: Gemini Omni video generation, as google-genai 3.6.1 speaks it.

Gemini API (key in ``x-goog-api-key``): ``POST /{v1|v1beta}/interactions`` creates,
``GET …/interactions/{id}`` reads (``stream=false``), ``POST …/interactions/{id}/cancel`` cancels
a running one, ``DELETE …/interactions/{id}`` forgets it (``{}``). Vertex AI (``Authorization:
Bearer``): the same under ``/v1beta1/projects/{p}/locations/global/interactions``.

A create with ``"background": true`` answers ``in_progress`` at once; without it the answer
waits until the video is done. A done interaction is ``completed`` with the steps ``user_input``,
``thought`` and ``model_output`` (one ``video`` part: base64 ``data`` for ``"delivery":
"inline"``, the default, or a ``uri`` for ``"delivery": "uri"``, on the Gemini API a file of
this host that needs the key, on Vertex the object under ``response_format.gcs_uri``) and
``usage`` in video tokens (seconds generated times the resolution's tokens per second).

Tasks (``generation_config.video_config.task``; guessed from the input when absent):
text_to_video, image_to_video (1-2 images: first frame, optional last), reference_to_video
(1-10 images), and from a video (``previous_interaction_id`` of a completed interaction, or one
``video`` part: a Files API uri or inline data): extend (the result holds the source and the new
seconds, up to the model's chain limit), edit (same length) and upscale (a higher resolution).

The prompt markers of ``faults`` apply: submit-429 (with RetryInfo and ``retry-after-ms``),
daily-quota, submit-500/503/504, submit-500-accepted (counted, then 500), permission, billing,
poll-503-once, done-error (``failed`` with ``errors`` and ``model_output.error``), safety
(``completed`` without a video, 0 output tokens), no-response (``incomplete``), slow, and the
download faults redirect, html, truncated and expired for uri delivery.

A create for a transcription model (``gemini-…transcribe…``) is answered by
``transcribe.answer(body)`` when that module exists. An interaction that ends is announced with
``hooks.notify("interaction.completed" | "interaction.failed", {"id": …})`` when that module
exists.
"""

import base64
import binascii
import dataclasses
import importlib
import json
import logging
import re
import secrets
import string
import threading

from . import faults
from .errors import ApiError, invalid
from .files import Files, iso_time, probe_video
from .operations import Operation, Operations
from .storage import STORAGE_URI, parse_storage_uri
from .validation import IMAGE_TYPES, MAX_IMAGE_BYTES, Request, is_image_type

GEMINI = "interactions"
VERTEX = "vertex-interactions"
# The longest a video chain may grow by extension, per model.
MODELS = {"gemini-omni-1.2-flash": 30, "gemini-omni-1.1-flash": 40}
RETIRED_MODELS = ("gemini-omni-flash-preview",)
TOP_LEVEL = frozenset(
    {
        "model",
        "input",
        "background",
        "store",
        "stream",
        "generation_config",
        "response_format",
        "previous_interaction_id",
        "webhook_config",
        "service_tier",
        "labels",
        "system_instruction",
        "safety_settings",
        "tools",
        "environment",
        "continuation_token",
        "cached_content",
        "response_mime_type",
        "response_modalities",
    }
)
RESPONSE_FORMAT = frozenset(
    {"type", "aspect_ratio", "resolution", "duration", "delivery", "gcs_uri"}
)
VIDEO_CONFIG = frozenset({"task"})
TASKS = ("text_to_video", "image_to_video", "reference_to_video", "extend", "edit", "upscale")
FROM_VIDEO = ("extend", "edit", "upscale")
SERVICE_TIERS = ("flex", "standard", "priority", "deferred")
# 4k is drawn at 1080p pixels: the emulator exercises the pipeline, not the codec.
RESOLUTIONS = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080), "4k": (1920, 1080)}
TOKENS_PER_SECOND = {"360p": 1931, "720p": 5792, "1080p": 8688, "4k": 17376}
DURATION = re.compile(r"(\d+)s")
MIN_SECONDS, MAX_SECONDS = 3, 10
MAX_REFERENCE_IMAGES = 10
VIDEO_TYPES = ("video/mp4", "video/mpeg", "video/mov", "video/webm", "video/quicktime")
FILE_URI = re.compile(r"(?:https?://[^/]+)?/(?:v1|v1beta)/files/(?P<file_id>[a-z0-9]+)")
ID_ALPHABET = string.ascii_letters + string.digits
FAILED_MESSAGE = "Internal error while generating the video."

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Source:
    """The video a task from a video starts from."""

    seconds: float
    width: int
    height: int
    resolution: str


def new_interaction_id() -> str:
    """Return an id shaped like Google's: ``v1_`` and 48 letters and digits."""
    return "v1_" + "".join(secrets.choice(ID_ALPHABET) for _ in range(48))


def is_transcription_model(model) -> bool:
    """Return whether a model id names a transcription model rather than a video model."""
    return isinstance(model, str) and model.startswith("gemini-") and "transcribe" in model


def optional_module(name: str):
    """Return the emulator module another engineer adds (transcribe, hooks), or None."""
    qualified = f"{__package__}.{name}"
    try:
        return importlib.import_module(qualified)
    except ModuleNotFoundError as error:
        if error.name != qualified:
            raise  # The module is there but imports something missing: say so.
        return None


def parse_body(raw: bytes) -> dict:
    """Return a create's JSON object, refusing what is not one and top-level names unknown."""
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        raise invalid("Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(payload, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    for key in payload:
        if key not in TOP_LEVEL:
            raise invalid(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
            )
    return payload


def check_model(model, dialect: str, project: str = "", location: str = "") -> str:
    """Return the model of a create, or raise 404 for one the emulator does not serve."""
    if not isinstance(model, str) or not model:
        raise invalid("model is required.")
    model = model.removeprefix("models/")
    if dialect == VERTEX and location != "global":
        raise ApiError(
            404,
            "NOT_FOUND",
            f"Publisher Model `projects/{project}/locations/{location}/publishers/google/models/"
            f"{model}` was not found or your project does not have access to it. This model is "
            "available in the global location only.",
        )
    if model in RETIRED_MODELS:
        raise ApiError(
            404,
            "NOT_FOUND",
            f"models/{model} is no longer available. Please use gemini-omni-1.2-flash instead.",
        )
    if model not in MODELS:
        raise ApiError(404, "NOT_FOUND", f"models/{model} is not found for the Interactions API.")
    return model


def content_parts(value) -> list[dict]:
    """Return the content parts of ``input``: a string, a content, contents or steps."""
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise invalid("input must be a string, a content object or a list of them.")
    if not value:
        raise invalid("input must not be empty.")
    parts = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise invalid(f"input[{index}] must be an object with a type.")
        if item["type"] == "user_input":
            content = item.get("content", [])
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            if not isinstance(content, list):
                raise invalid(f"input[{index}].content must be a list of contents.")
            parts.extend(content)
        elif item["type"] in ("model_output", "thought"):
            continue
        else:
            parts.append(item)
    return parts


def decode_data(encoded, where: str, limit: int) -> bytes:
    """Return the bytes of a part's base64 ``data``, or raise 400 naming the field."""
    if not isinstance(encoded, str) or not encoded.strip():
        raise invalid(f"{where}.data must not be empty.")
    if len(encoded) > (limit + 2) // 3 * 4 + 4:
        raise invalid(f"{where} is larger than the {limit // (1024 * 1024)} MB limit.")
    encoded = encoded.strip().translate(str.maketrans("-_", "+/"))
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (ValueError, binascii.Error):
        raise invalid(f"{where}.data is not valid base64.") from None


def parse_duration(value, where: str) -> int:
    """Return the seconds of ``"8s"`` (or 8) between 3 and 10, or raise 400."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and (match := DURATION.fullmatch(value.strip())):
        seconds = int(match[1])
    else:
        raise invalid(f'{where} {value!r} is not a duration such as "8s".')
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise invalid(f"{where} {value!r} is not supported; use {MIN_SECONDS}s to {MAX_SECONDS}s.")
    return seconds


def resolution_of(width: int, height: int) -> str:
    """Return the resolution name of a frame size, by its shorter side."""
    short = min(width, height)
    return next((name for name, (_, h) in RESOLUTIONS.items() if short <= h), "4k")


class Interactions:
    """Create, read, cancel and delete interactions over the emulator's operations."""

    def __init__(self, operations: Operations, files: Files):
        self.operations = operations
        self.files = files

    # -- create -------------------------------------------------------------------------------

    def create(
        self, raw: bytes, *, dialect: str, api_version: str, base_url: str, project="", location=""
    ) -> dict:
        """Accept a create (or answer a transcription) and return the interaction, or raise."""
        payload = parse_body(raw)
        model = payload.get("model")
        if is_transcription_model(model):
            transcribe = optional_module("transcribe")
            if transcribe is None:
                raise ApiError(404, "NOT_FOUND", f"models/{model} is not found.")
            return transcribe.answer(payload)
        model = check_model(model, dialect, project, location)
        if "input" not in payload:
            raise invalid("input is required.")
        parts = content_parts(payload["input"])
        prompt = " ".join(
            part["text"]
            for part in parts
            if part.get("type") == "text" and isinstance(part.get("text"), str)
        )
        self.operations.note_request(prompt)
        request, extra = self._parse(payload, parts, prompt, model, dialect)
        fault = faults.fault_in(prompt)
        retry = faults.retry_seconds(prompt)
        refusal = (
            faults.vertex_refusal(fault, project, location, model, retry_seconds=retry)
            if dialect == VERTEX
            else faults.refusal(fault, model, retry_seconds=retry)
        )
        if refusal is not None:
            if refusal.code == 429:
                # The SDK honours only retry-after-ms; Google sends it beside RetryInfo.
                delay = faults.retry_delay(refusal)
                refusal.headers = {**refusal.headers, "retry-after-ms": str(round(delay * 1000))}
            raise refusal
        op = self.operations.accept(
            new_interaction_id(), model, dialect, request, fault, api_version=api_version, **extra
        )
        self._watch(op)
        if payload.get("background") is not True:
            self.operations.wait_ready(op)
        return self.resource(op, base_url)

    def _parse(self, payload, parts, prompt, model, dialect) -> tuple[Request, dict]:
        """Validate a create's video fields; return the render request and the Operation's."""
        if payload.get("stream") not in (None, False):
            raise invalid("stream is not supported by this emulator; poll the interaction.")
        background = payload.get("background", False)
        if not isinstance(background, bool):
            raise invalid("background must be a boolean.")
        store = payload.get("store", True)
        if not isinstance(store, bool):
            raise invalid("store must be a boolean.")
        if background and not store:
            raise invalid("background requires store to be true.")
        tier = payload.get("service_tier", "standard")
        if tier not in SERVICE_TIERS:
            raise invalid(
                f"service_tier {tier!r} is not supported; use {', '.join(SERVICE_TIERS)}."
            )

        response_format = payload.get("response_format", {"type": "video"})
        if not isinstance(response_format, dict):
            raise invalid("response_format must be an object.")
        for key in response_format:
            if key not in RESPONSE_FORMAT:
                raise invalid(
                    f"Invalid JSON payload received. Unknown name \"{key}\" at 'response_format': "
                    "Cannot find field."
                )
        if response_format.get("type", "video") != "video":
            raise invalid("response_format.type must be video for this model.")
        generation_config = payload.get("generation_config", {})
        if not isinstance(generation_config, dict):
            raise invalid("generation_config must be an object.")
        video_config = generation_config.get("video_config", {})
        if not isinstance(video_config, dict):
            raise invalid("generation_config.video_config must be an object.")
        for key in video_config:
            if key not in VIDEO_CONFIG:
                raise invalid(
                    f'Invalid JSON payload received. Unknown name "{key}" at '
                    "'generation_config.video_config': Cannot find field."
                )
        seed = generation_config.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**32 - 1:
            raise invalid("generation_config.seed must be an integer between 0 and 4294967295.")

        images, videos = self._media(parts, dialect)
        previous = self._previous(payload.get("previous_interaction_id"), dialect, store)
        task = video_config.get("task") or self._guess_task(images, videos, previous)
        if task not in TASKS:
            raise invalid(
                f"generation_config.video_config.task {task!r} is not supported; use "
                f"{', '.join(TASKS)}."
            )

        delivery = response_format.get("delivery", "inline")
        if delivery not in ("inline", "uri"):
            raise invalid(
                f"response_format.delivery {delivery!r} is not supported; use inline or uri."
            )
        storage_uri = None
        if dialect == VERTEX:
            if "gcs_uri" in response_format:
                storage_uri = parse_storage_uri(response_format["gcs_uri"])
            if delivery == "uri" and storage_uri is None:
                raise invalid("response_format.gcs_uri is required for Vertex if delivery is uri.")
        elif "gcs_uri" in response_format:
            raise invalid("response_format.gcs_uri is not supported by the Gemini API.")
        aspect_ratio = response_format.get("aspect_ratio", "16:9")
        if aspect_ratio not in ("16:9", "9:16"):
            raise invalid(
                f"response_format.aspect_ratio {aspect_ratio!r} is not supported; use 16:9 or 9:16."
            )
        resolution = response_format.get("resolution")
        if resolution is not None and resolution not in RESOLUTIONS:
            raise invalid(
                f"response_format.resolution {resolution!r} is not supported; use "
                f"{', '.join(RESOLUTIONS)}."
            )
        seconds = None
        if "duration" in response_format:
            seconds = parse_duration(response_format["duration"], "response_format.duration")

        background_image = None
        if task in FROM_VIDEO:
            sources = ([previous] if previous else []) + videos
            if len(sources) != 1:
                raise invalid(
                    f"{task} takes exactly one video: previous_interaction_id or one video part."
                )
            if images:
                raise invalid(f"{task} takes no images.")
            source = sources[0]
            width, height = source.width, source.height
            if task == "extend":
                added = seconds or 8
                total = source.seconds + added
                limit = MODELS[model]
                if total > limit:
                    raise invalid(
                        f"The extended video would be {total:g} seconds, over {model}'s limit "
                        f"of {limit} seconds for a chain."
                    )
                render_seconds, generated = total, added
                resolution = source.resolution
            elif task == "edit":
                render_seconds = generated = source.seconds
                resolution = source.resolution
            else:
                order = list(RESOLUTIONS)
                higher = order[order.index(source.resolution) + 1 :]
                if not higher:
                    raise invalid(
                        f"The video is already {source.resolution}; it cannot be upscaled."
                    )
                resolution = resolution or higher[0]
                if resolution not in higher:
                    raise invalid(
                        f"response_format.resolution {resolution!r} is not above the video's "
                        f"{source.resolution}; use {', '.join(higher)}."
                    )
                render_seconds = generated = source.seconds
                width, height = RESOLUTIONS[resolution]
                if source.height > source.width:
                    width, height = height, width
        else:
            if videos or previous:
                raise invalid(f"{task} takes no video; use extend, edit or upscale.")
            if task == "text_to_video" and images:
                raise invalid("text_to_video takes no images; use image_to_video.")
            if task == "image_to_video" and not 1 <= len(images) <= 2:
                raise invalid("image_to_video takes 1 or 2 images: the first frame and the last.")
            if task == "reference_to_video" and not 1 <= len(images) <= MAX_REFERENCE_IMAGES:
                raise invalid(
                    f"reference_to_video takes 1 to {MAX_REFERENCE_IMAGES} reference images."
                )
            resolution = resolution or "720p"
            render_seconds = generated = seconds or 8
            width, height = RESOLUTIONS[resolution]
            if aspect_ratio == "9:16":
                width, height = height, width
            if images:
                background_image = images[0]
        echo = {
            "response_format": response_format,
            "generation_config": generation_config,
            "service_tier": tier,
        }
        for key in ("previous_interaction_id", "webhook_config"):
            if key in payload:
                echo[key] = payload[key]
        request = Request(
            prompt=prompt,
            width=width,
            height=height,
            seconds=render_seconds,
            storage_uri=storage_uri,
            image=bool(images),
            last_frame=task == "image_to_video" and len(images) == 2,
            background=background_image,
            parameters=echo,
        )
        extra = {
            "task": task,
            "resolution": resolution,
            "delivery": delivery,
            "generated_seconds": round(generated),
        }
        return request, extra

    @staticmethod
    def _guess_task(images, videos, previous) -> str:
        if videos or previous:
            return "edit"
        if images:
            return "image_to_video" if len(images) <= 2 else "reference_to_video"
        return "text_to_video"

    def _media(self, parts, dialect) -> tuple[list[bytes | None], list[Source]]:
        """Validate the input's parts; return the images' bytes and the videos as sources."""
        images, videos = [], []
        for index, part in enumerate(parts):
            where = f"input.content[{index}]"
            if not isinstance(part, dict):
                raise invalid(f"{where} must be an object.")
            kind = part.get("type")
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    raise invalid(f"{where}.text must be a string.")
            elif kind == "image":
                images.append(self._image(part, where, dialect))
            elif kind == "video":
                videos.append(self._video(part, where, dialect))
            else:
                raise invalid(f"{where}.type {kind!r} is not supported for video generation.")
        return images, videos

    def _image(self, part: dict, where: str, dialect: str) -> bytes | None:
        mime_type = part.get("mime_type")
        if "uri" in part:
            data = self._uri_bytes(part["uri"], where, dialect, "image/")
            if data is None:
                return None
        else:
            data = decode_data(part.get("data"), where, MAX_IMAGE_BYTES)
        if mime_type not in IMAGE_TYPES:
            raise invalid(
                f"{where}.mime_type {mime_type!r} is not supported; use image/png, image/jpeg or "
                "image/webp."
            )
        if not is_image_type(data, mime_type):
            raise invalid(f"{where}.data does not hold an {mime_type} image.")
        return data

    def _video(self, part: dict, where: str, dialect: str) -> Source:
        mime_type = part.get("mime_type", "video/mp4")
        if mime_type not in VIDEO_TYPES:
            raise invalid(f"{where}.mime_type {mime_type!r} is not a supported video type.")
        if "uri" in part:
            uri = part["uri"]
            if dialect == VERTEX and isinstance(uri, str) and uri.startswith("gs://"):
                return self._storage_source(uri, where)
            stored = self._stored_file(uri, where, "video/")
            if stored.duration_seconds is None:
                raise invalid(f"{where}.uri names a file that is not a readable video.")
            seconds, width, height = stored.duration_seconds, stored.width, stored.height
        else:
            seconds, width, height = probe_video(decode_data(part.get("data"), where, 2**31))
        # Whole seconds keep chain lengths readable; rendered clips are whole seconds anyway.
        return Source(max(1, round(seconds)), width, height, resolution_of(width, height))

    def _uri_bytes(self, uri, where: str, dialect: str, kind: str) -> bytes | None:
        if dialect == VERTEX and isinstance(uri, str) and uri.startswith("gs://"):
            return None  # A Cloud Storage image is taken on trust, never fetched.
        return self.files.path(self._stored_file(uri, where, kind)).read_bytes()

    def _stored_file(self, uri, where: str, kind: str):
        match = FILE_URI.fullmatch(uri) if isinstance(uri, str) else None
        if match is None:
            raise invalid(f"{where}.uri {uri!r} is not a Files API uri.")
        stored = self.files.get(match["file_id"])
        if stored is None:
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                f"You do not have permission to access the File {match['file_id']} or it may "
                "not exist.",
            )
        if not stored.active():
            raise ApiError(
                400,
                "FAILED_PRECONDITION",
                f"The File {match['file_id']} is not in an ACTIVE state and usage is not allowed.",
            )
        if not stored.mime_type.startswith(kind):
            raise invalid(f"{where}.uri names a {stored.mime_type} file, not a {kind}* one.")
        return stored

    def _storage_source(self, uri: str, where: str) -> Source:
        match = STORAGE_URI.fullmatch(uri)
        if match is None or not match["path"]:
            raise invalid(f"{where}.uri must name a Cloud Storage object: gs://bucket/object.")
        op, _ = self.operations.storage_object(match["bucket"], match["path"], media=False)
        return Source(op.seconds, op.width, op.height, op.resolution)

    def _previous(self, previous_id, dialect: str, store: bool) -> Source | None:
        if previous_id is None:
            return None
        if not isinstance(previous_id, str) or not previous_id:
            raise invalid("previous_interaction_id must be a string.")
        try:
            op = self.operations.find(previous_id, dialect)
        except ApiError:
            raise ApiError(404, "NOT_FOUND", f"Interaction {previous_id} was not found.") from None
        if self.status(op) != "completed" or not self.has_video(op):
            raise ApiError(
                400,
                "FAILED_PRECONDITION",
                f"Interaction {previous_id} has no completed video to continue from.",
            )
        return Source(op.seconds, op.width, op.height, op.resolution)

    # -- read, cancel, delete -----------------------------------------------------------------

    def get(self, interaction_id: str, *, dialect: str, base_url: str) -> dict:
        """Return an interaction as a GET shows it, counting the poll."""
        op = self.operations.find(interaction_id, dialect)
        if not op.cancelled:
            self.operations.advance(interaction_id, dialect)
        return self.resource(op, base_url)

    def cancel(self, interaction_id: str, *, dialect: str, base_url: str) -> dict:
        """Cancel a running interaction and return it; 400 when it has already ended."""
        op = self.operations.cancel(interaction_id, dialect)
        return self.resource(op, base_url)

    def delete(self, interaction_id: str, *, dialect: str) -> dict:
        """Forget an interaction; a GET of it answers 404 from now on."""
        self.operations.remove(interaction_id, dialect)
        return {}

    # -- the resource ---------------------------------------------------------------------------

    def status(self, op: Operation) -> str:
        """Return an interaction's status from its fault, cancel and progress."""
        if op.cancelled:
            return "cancelled"
        if not self.operations.ready(op):
            return "in_progress"
        if op.fault == "done-error" or op.render_failed:
            return "failed"
        if op.fault == "no-response":
            return "incomplete"
        return "completed"

    def has_video(self, op: Operation) -> bool:
        return op.fault not in faults.VIDEOLESS_FAULTS and not op.render_failed

    def resource(self, op: Operation, base_url: str) -> dict:
        """Return the Interaction resource of an operation, as Google shows it now."""
        status = self.status(op)
        done_at = op.submitted_at + op.latency
        if op.rendered_at is not None:
            done_at = max(done_at, op.rendered_at)
        resource = {
            "id": op.name,
            "object": "interaction",
            "status": status,
            "model": op.model,
            "created": iso_time(op.submitted_at),
            "updated": iso_time(done_at if status != "in_progress" else op.submitted_at),
            **op.parameters,
        }
        if status in ("in_progress", "cancelled"):
            return resource
        user_input = {"type": "user_input", "content": [{"type": "text", "text": op.prompt}]}
        thought = {"type": "thought", "signature": base64.b64encode(op.name.encode()).decode()}
        tokens = 0
        if status == "failed":
            output = {"type": "model_output", "content": [], "error": faults.DONE_ERROR}
            resource["errors"] = [{"code": "INTERNAL", "message": FAILED_MESSAGE}]
        elif status == "incomplete" or not self.has_video(op):
            output = {"type": "model_output", "content": []}
        else:
            output = {"type": "model_output", "content": [self._video_part(op, base_url)]}
            tokens = op.generated_seconds * TOKENS_PER_SECOND[op.resolution]
        resource["steps"] = [user_input, thought, output]
        resource["usage"] = {
            "total_input_tokens": max(1, len(op.prompt.split())),
            "total_output_tokens": tokens,
            "total_tokens": max(1, len(op.prompt.split())) + tokens,
            "output_tokens_by_modality": [{"modality": "video", "tokens": tokens}],
        }
        return resource

    def _video_part(self, op: Operation, base_url: str) -> dict:
        part = {"type": "video", "mime_type": "video/mp4"}
        if op.storage_uri is not None:
            bucket, name = op.objects()[0]
            part["uri"] = f"gs://{bucket}/{name}"
        elif op.delivery == "uri":
            part["uri"] = f"{base_url}/{op.api_version}/files/{op.file_id}"
        else:
            part["data"] = base64.b64encode(self.operations.video_path(op).read_bytes()).decode()
        return part

    # -- webhooks ---------------------------------------------------------------------------------

    def _watch(self, op: Operation) -> None:
        """Announce the interaction's end to the hooks module, when there is one."""
        if (hooks := optional_module("hooks")) is None:
            return
        threading.Thread(target=self._notify_when_done, args=(op, hooks), daemon=True).start()

    def _notify_when_done(self, op: Operation, hooks) -> None:
        self.operations.wait_ready(op, step=0.1)
        status = self.status(op)
        if status not in ("completed", "failed") or op.deleted or self.operations.stopped:
            return
        if not self.operations.mark_notified(op):
            return
        try:
            hooks.notify(f"interaction.{status}", {"id": op.name})
        except Exception:  # A broken hook must not take the emulator down.
            logger.exception("Notifying the end of %s failed", op.name)
