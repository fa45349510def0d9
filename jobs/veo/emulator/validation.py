"""Validate a submit's body the way Google does, for the parts both dialects share.

Anything unknown is refused with 400 INVALID_ARGUMENT naming the field, as Google refuses
unknown fields; each dialect module adds the parameters only it reads.
"""

import base64
import json
from dataclasses import dataclass, field

from .errors import invalid
from .storage import STORAGE_URI

# 4k is drawn at 1080p pixels: the emulator exercises the pipeline, not the codec.
FRAME_SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "4k": (1920, 1080)}
ASPECT_RATIOS = ("16:9", "9:16")
DURATIONS = (4, 6, 8)
INSTANCE_FIELDS = frozenset({"prompt", "image", "lastFrame", "referenceImages", "video"})
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_REFERENCE_IMAGES = 3
REFERENCE_TYPES = ("asset",)
VIDEO_TYPES = ("video/mp4",)
MAX_VIDEO_BYTES = 200 * 1024 * 1024


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
    # How many reference images came (Vertex's instances[].referenceImages).
    references: int = 0
    background: bytes | None = field(default=None, repr=False)
    parameters: dict = field(default_factory=dict)


def parse_request(model: str, raw: bytes, top_level, known_parameters, *, vertex: bool) -> Request:
    """Validate the fields both dialects read alike; the dialect checks the rest."""
    instance, parameters = parse_body(raw, top_level, known_parameters)
    prompt, picture, has_image, has_last_frame = parse_instance(instance, vertex=vertex)
    width, height, seconds = parse_frame(instance, parameters, model)
    return Request(
        prompt=prompt,
        width=width,
        height=height,
        seconds=seconds,
        image=has_image,
        last_frame=has_last_frame,
        references=len(instance.get("referenceImages") or ()),
        background=picture,
        parameters=parameters,
    )


def parse_body(raw: bytes, top_level, known_parameters) -> tuple[dict, dict]:
    """Return the one instance and the parameters of a submit, refusing unknown names."""
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        raise invalid("Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(payload, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    for key in payload:
        if key not in top_level:
            raise invalid(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
            )

    instances = payload.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise invalid("instances must be a list holding exactly one instance.")
    instance = instances[0]
    for key in instance:
        if key not in INSTANCE_FIELDS:
            raise invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at 'instances[0]': "
                "Cannot find field."
            )

    parameters = payload.get("parameters", {})
    if not isinstance(parameters, dict):
        raise invalid("parameters must be an object.")
    for key in parameters:
        if key not in known_parameters:
            raise invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at 'parameters': "
                "Cannot find field."
            )
    return instance, parameters


def parse_instance(instance: dict, *, vertex: bool) -> tuple[str, bytes | None, bool, bool]:
    """Validate the prompt and images; return the prompt, first-frame bytes and image flags."""
    prompt = instance.get("prompt") or ""
    if not isinstance(prompt, str):
        raise invalid("instances[0].prompt must be a string.")
    has_image = instance.get("image") is not None
    has_last_frame = instance.get("lastFrame") is not None
    if not prompt.strip() and not has_image:
        raise invalid("instances[0].prompt is required: the prompt must not be empty.")
    if len(prompt) > 4096 or len(prompt.split()) > 1024:
        tokens = max(len(prompt) // 4, len(prompt.split()))
        raise invalid(
            f"instances[0].prompt is too long: about {tokens} tokens, the maximum is 1024 tokens."
        )
    if has_last_frame and not has_image:
        raise invalid("instances[0].lastFrame requires instances[0].image.")
    references = instance.get("referenceImages")
    if references is not None and (
        not isinstance(references, list) or len(references) > MAX_REFERENCE_IMAGES
    ):
        raise invalid(
            f"instances[0].referenceImages must be a list of at most {MAX_REFERENCE_IMAGES} images."
        )
    if references and has_image:
        raise invalid("instances[0].referenceImages cannot be combined with instances[0].image.")
    if references and instance.get("video") is not None:
        raise invalid("instances[0].referenceImages cannot be combined with instances[0].video.")
    if vertex:
        for number, reference in enumerate(references or ()):
            parse_reference_image(reference, f"instances[0].referenceImages[{number}]")
    picture = None
    if has_image:
        picture = parse_image(instance["image"], "instances[0].image", vertex=vertex)
    if has_last_frame:
        parse_image(instance["lastFrame"], "instances[0].lastFrame", vertex=vertex)
    return prompt, picture, has_image, has_last_frame


def parse_image(value, where: str, *, vertex: bool) -> bytes | None:
    """Validate one image field and return its bytes (None for a Cloud Storage reference)."""
    if not isinstance(value, dict):
        raise invalid(f"{where} must be an object with bytesBase64Encoded and mimeType.")
    data_key, allowed = "bytesBase64Encoded", {"bytesBase64Encoded", "mimeType"}
    if vertex:
        allowed.add("gcsUri")
    elif "inlineData" in value:
        # The Gemini API docs' REST samples send this shape; the SDKs send the one above.
        if len(value) != 1 or not isinstance(value["inlineData"], dict):
            raise invalid(f"{where}.inlineData must be an object with mimeType and data.")
        where, value = f"{where}.inlineData", value["inlineData"]
        data_key, allowed = "data", {"data", "mimeType"}
    elif "gcsUri" in value:
        raise invalid(f"{where}.gcsUri is not supported by the Gemini API; send {data_key}.")
    for key in value:
        if key not in allowed:
            raise invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': "
                "Cannot find field."
            )

    mime_type = value.get("mimeType")
    if mime_type is None:
        raise invalid(f"{where}.mimeType is required.")
    if mime_type not in IMAGE_TYPES:
        raise invalid(
            f"{where}.mimeType {mime_type!r} is not supported; use image/png, image/jpeg or "
            "image/webp."
        )
    if "gcsUri" in value:
        uri = value["gcsUri"]
        if data_key in value:
            raise invalid(f"{where} must hold either {data_key} or gcsUri, not both.")
        if (
            not isinstance(uri, str)
            or not (match := STORAGE_URI.fullmatch(uri))
            or not match["path"]
        ):
            raise invalid(f"{where}.gcsUri must name a Cloud Storage object: gs://bucket/object.")
        return None

    encoded = value.get(data_key)
    if not isinstance(encoded, str) or not encoded.strip():
        raise invalid(f"{where}.{data_key} is required: the image must not be empty.")
    # Decoding a body far over the limit would only waste memory.
    if len(encoded) > (MAX_IMAGE_BYTES + 2) // 3 * 4 + 4:
        raise invalid(f"{where} is larger than the 20 MB limit for images.")
    # Google reads standard and URL-safe base64, with or without padding.
    encoded = encoded.strip().translate(str.maketrans("-_", "+/"))
    try:
        data = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError:
        raise invalid(f"{where}.{data_key} is not valid base64.") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise invalid(f"{where} is {len(data)} bytes, larger than the 20 MB limit for images.")
    if not is_image_type(data, mime_type):
        raise invalid(f"{where}.{data_key} does not hold an {mime_type} image.")
    return data


def parse_reference_image(value, where: str) -> None:
    """Validate one of Vertex's referenceImages: {image: {...}, referenceType: "asset"}."""
    if not isinstance(value, dict):
        raise invalid(f"{where} must be an object with image and referenceType.")
    for key in value:
        if key not in ("image", "referenceType"):
            raise invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': "
                "Cannot find field."
            )
    if value.get("image") is None:
        raise invalid(f"{where}.image is required.")
    parse_image(value["image"], f"{where}.image", vertex=True)
    kind = value.get("referenceType", "asset")
    # The SDK sends the enum's name (ASSET), Vertex's REST reference the lower case.
    if not isinstance(kind, str) or kind.lower() not in REFERENCE_TYPES:
        raise invalid(f"{where}.referenceType {kind!r} is not supported; use asset.")


def parse_video(value, where: str) -> tuple[str | None, bytes | None]:
    """Validate a video field; return its gs:// uri or its bytes (one of them is None)."""
    if not isinstance(value, dict):
        raise invalid(f"{where} must be an object with bytesBase64Encoded or gcsUri.")
    for key in value:
        if key not in ("bytesBase64Encoded", "gcsUri", "mimeType"):
            raise invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': "
                "Cannot find field."
            )
    mime_type = value.get("mimeType", "video/mp4")
    if mime_type not in VIDEO_TYPES:
        raise invalid(f"{where}.mimeType {mime_type!r} is not supported; use video/mp4.")
    if ("gcsUri" in value) == ("bytesBase64Encoded" in value):
        raise invalid(f"{where} must hold either bytesBase64Encoded or gcsUri.")
    if "gcsUri" in value:
        uri = value["gcsUri"]
        if (
            not isinstance(uri, str)
            or not (match := STORAGE_URI.fullmatch(uri))
            or not match["path"]
        ):
            raise invalid(f"{where}.gcsUri must name a Cloud Storage object: gs://bucket/object.")
        return uri, None
    encoded = value["bytesBase64Encoded"]
    if not isinstance(encoded, str) or not encoded.strip():
        raise invalid(f"{where}.bytesBase64Encoded is required: the video must not be empty.")
    if len(encoded) > (MAX_VIDEO_BYTES + 2) // 3 * 4 + 4:
        raise invalid(f"{where} is larger than the 200 MB limit for videos.")
    encoded = encoded.strip().translate(str.maketrans("-_", "+/"))
    try:
        return None, base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError:
        raise invalid(f"{where}.bytesBase64Encoded is not valid base64.") from None


def is_image_type(data: bytes, mime_type: str) -> bool:
    """Return whether data starts with the signature of mime_type."""
    match mime_type:
        case "image/png":
            return data.startswith(b"\x89PNG\r\n\x1a\n")
        case "image/jpeg":
            return data.startswith(b"\xff\xd8\xff")
        case "image/webp":
            return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return False


def parse_frame(instance: dict, parameters: dict, model: str) -> tuple[int, int, int]:
    """Validate aspect ratio, resolution and duration; return width, height and seconds."""
    aspect_ratio = parameters.get("aspectRatio", "16:9")
    if aspect_ratio not in ASPECT_RATIOS:
        raise invalid(f"aspectRatio {aspect_ratio!r} is not supported; use 16:9 or 9:16.")
    resolution = parameters.get("resolution", "720p")
    if resolution not in FRAME_SIZES:
        raise invalid(f"resolution {resolution!r} is not supported; use 720p, 1080p or 4k.")
    if resolution == "4k" and "-lite-" in model:
        raise invalid(f"resolution '4k' is not supported by {model}.")
    seconds = parameters.get("durationSeconds", 8)
    # The docs list the values as strings and the SDKs send numbers; both arrive in practice.
    if isinstance(seconds, str) and seconds.strip().isdigit():
        seconds = int(seconds)
    if isinstance(seconds, bool) or seconds not in DURATIONS:
        raise invalid(f"durationSeconds {seconds!r} is not supported; use 4, 6 or 8.")
    if resolution != "720p" and seconds != 8:
        raise invalid(f"durationSeconds must be 8 for resolution {resolution}, got {seconds}.")
    if instance.get("referenceImages") and seconds != 8:
        raise invalid("durationSeconds must be 8 when instances[0].referenceImages are given.")
    width, height = FRAME_SIZES[resolution]
    if aspect_ratio == "9:16":
        width, height = height, width
    return width, height, seconds


def check_shared_parameters(parameters: dict) -> None:
    """Validate the parameters both dialects read the same way."""
    if not isinstance(parameters.get("negativePrompt", ""), str):
        raise invalid("negativePrompt must be a string.")
    if not isinstance(parameters.get("enhancePrompt", True), bool):
        raise invalid("enhancePrompt must be a boolean.")
    seed = parameters.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**32 - 1:
        raise invalid("seed must be an integer between 0 and 4294967295.")
