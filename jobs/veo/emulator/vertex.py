"""The Vertex AI dialect: predictLongRunning and fetchPredictOperation.

Submit with ``POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}
:predictLongRunning`` (``Authorization: Bearer`` with a token from ``POST /token``), poll with
``POST .../models/{model}:fetchPredictOperation`` and the body ``{"operationName": name}``. A
done operation lists ``videos[].gcsUri`` when the submit set ``parameters.storageUri``, else
``videos[].bytesBase64Encoded``. (google-genai sends ``/v1beta1/``; both versions are served.)

Veo 3.1 on Vertex also takes ``instances[].referenceImages`` (up to three assets; not on
Lite) and ``instances[].video`` to extend: the answer is the source's length plus
``durationSeconds``. ``generateAudio: false`` renders a video without an audio track, and a
``seed`` renders the same bytes for the same request.
"""

import base64
import dataclasses
import io
import json
import uuid

import av

from . import faults
from .errors import ApiError, invalid
from .gemini import PARAMETERS
from .operations import Operation, Operations
from .storage import STORAGE_URI, parse_storage_uri
from .validation import Request, check_shared_parameters, parse_request, parse_video

VERTEX_MODELS = ("veo-3.1-generate-001", "veo-3.1-fast-generate-001", "veo-3.1-lite-generate-001")
# The models that take no referenceImages.
NO_REFERENCES = ("veo-3.1-lite-generate-001",)
# What an extension adds, and the longest video Veo extends (so at most 148 s come out).
EXTENSION_SECONDS = 7
MAX_SOURCE_SECONDS = 141
VERTEX_PARAMETERS = PARAMETERS | {"generateAudio", "storageUri", "compressionQuality"}
VERTEX_PERSON_GENERATION = ("allow_adult", "disallow")
COMPRESSION_QUALITIES = ("optimized", "lossless")
VERTEX_RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
VERTEX_SAFETY_REASON = (
    "Veo could not generate 1 videos based on the prompt provided. You will not be charged for "
    "this request. Try rephrasing the prompt. If you think this was an error, send feedback. "
    "Support codes: 42237218"
)


def parse_vertex_submit(model: str, raw: bytes, operations: Operations | None = None) -> Request:
    """Validate a predictLongRunning body the way Vertex AI does, or raise ApiError.

    A video to extend is read from its bytes, or from the fake Cloud Storage of operations.
    """
    top_level = ("instances", "parameters", "labels")
    request = parse_request(model, raw, top_level, VERTEX_PARAMETERS, vertex=True)
    parameters = request.parameters
    instance = json.loads(raw)["instances"][0]
    if instance.get("referenceImages") and model in NO_REFERENCES:
        raise invalid(f"instances[0].referenceImages is not supported by {model}.")
    sample_count = parameters.get("sampleCount", 1)
    if type(sample_count) is not int or not 1 <= sample_count <= 4:
        raise invalid(f"sampleCount {sample_count!r} is not supported; use 1 to 4.")
    person = parameters.get("personGeneration", "allow_adult")
    if person not in VERTEX_PERSON_GENERATION:
        raise invalid(f"personGeneration {person!r} is not supported; use allow_adult or disallow.")
    if not isinstance(parameters.get("generateAudio", True), bool):
        raise invalid("generateAudio must be a boolean.")
    quality = parameters.get("compressionQuality", "optimized")
    if quality not in COMPRESSION_QUALITIES:
        raise invalid(
            f"compressionQuality {quality!r} is not supported; use optimized or lossless."
        )
    check_shared_parameters(parameters)
    storage_uri = parse_storage_uri(parameters.get("storageUri"))
    seconds = request.seconds
    if instance.get("video") is not None:
        if request.seconds != 8 or parameters.get("resolution", "720p") != "720p":
            raise invalid(
                "An extension of instances[0].video is made at durationSeconds 8 and "
                "resolution 720p."
            )
        # The answer is the whole video: the source, then the seconds Veo added.
        seconds = round(source_seconds(instance["video"], operations) + EXTENSION_SECONDS)
    return dataclasses.replace(
        request, sample_count=sample_count, storage_uri=storage_uri, seconds=seconds
    )


def source_seconds(value, operations: Operations | None) -> float:
    """Return the length of the video to extend, or raise 400 naming instances[0].video."""
    where = "instances[0].video"
    uri, data = parse_video(value, where)
    if uri is not None:
        match = STORAGE_URI.fullmatch(uri)
        try:
            if operations is None:
                raise ApiError(404, "NOT_FOUND", uri)
            _, path = operations.storage_object(match["bucket"], match["path"], media=False)
        except ApiError:
            raise invalid(f"{where}.gcsUri {uri} cannot be read: no such object.") from None
        source = path.open("rb")
    else:
        source = io.BytesIO(data)
    try:
        with source, av.open(source) as container:
            if not container.streams.video or not container.duration:
                raise ValueError("no video stream")
            seconds = container.duration / av.time_base
    except (av.FFmpegError, ValueError, OSError):
        raise invalid(f"{where} does not hold an MP4 video.") from None
    if seconds > MAX_SOURCE_SECONDS:
        raise invalid(
            f"{where} is {seconds:.0f} seconds long; videos up to {MAX_SOURCE_SECONDS} seconds "
            "can be extended."
        )
    return seconds


def publisher_model(project: str, location: str, model: str) -> str:
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


def submit(
    operations: Operations, project: str, location: str, model: str, raw_body: bytes
) -> Operation:
    """Accept a Vertex AI generation request and start rendering it, or raise ApiError."""
    resource = publisher_model(project, location, model)
    request = parse_vertex_submit(model, raw_body, operations)
    fault = faults.fault_in(request.prompt)
    if (refusal := faults.vertex_refusal(fault, project, location, model)) is not None:
        raise refusal
    return operations.accept(
        f"{resource}/operations/{uuid.uuid4()}", model, "vertex", request, fault
    )


def fetch_predict_operation(
    operations: Operations, project: str, location: str, model: str, raw_body: bytes
) -> dict:
    """Return a Vertex AI operation as fetchPredictOperation shows it, done or not."""
    resource = publisher_model(project, location, model)
    try:
        payload = json.loads(raw_body or b"{}")
    except ValueError:
        raise invalid("Invalid JSON payload received. Unexpected token.") from None
    name = payload.get("operationName") if isinstance(payload, dict) else None
    if not isinstance(name, str) or not name:
        raise invalid("operationName is required.")
    if not name.startswith(f"{resource}/operations/"):
        raise invalid(f"operationName {name!r} is not an operation of {resource}.")
    op, ready = operations.advance(name, "vertex")
    if not ready:
        return {"name": name}
    if op.fault == "done-error" or op.render_failed:
        return {"name": name, "done": True, "error": faults.DONE_ERROR}
    if op.fault == "no-response":
        return {"name": name, "done": True}
    response = {"@type": VERTEX_RESPONSE_TYPE}
    if op.fault == "safety":
        response |= {
            "raiMediaFilteredCount": 1,
            "raiMediaFilteredReasons": [VERTEX_SAFETY_REASON],
        }
    else:
        response |= {"raiMediaFilteredCount": 0, "videos": videos(operations, op)}
    return {"name": name, "done": True, "response": response}


def videos(operations: Operations, op: Operation) -> list[dict]:
    """Return a done operation's videos: Cloud Storage URIs, or the bytes inline."""
    if op.storage_uri is not None:
        return [
            {"gcsUri": f"gs://{bucket}/{name}", "mimeType": "video/mp4"}
            for bucket, name in op.objects()
        ]
    # One render serves every sample: the emulator exercises the pipeline, not variety.
    data = base64.b64encode(operations.video_path(op).read_bytes()).decode()
    return [{"bytesBase64Encoded": data, "mimeType": "video/mp4"}] * op.sample_count
