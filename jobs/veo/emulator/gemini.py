"""The Gemini API dialect: predictLongRunning, operation polls and file downloads.

Submit with ``POST /v1beta/models/{model}:predictLongRunning`` (key in ``x-goog-api-key`` or
``?key=``), poll ``GET /v1beta/{operation name}`` (no ``done`` key until ready), then download
``GET /v1beta/files/{id}:download?alt=media``.
"""

from . import faults
from .errors import ApiError, invalid
from .operations import Operation, Operations, new_id
from .validation import Request, check_shared_parameters, parse_request

MODELS = (
    "veo-3.1-generate-preview",
    "veo-3.1-fast-generate-preview",
    "veo-3.1-lite-generate-preview",
)
RETIRED_MODELS = ("veo-2.0-generate-001", "veo-3.0-generate-001", "veo-3.0-fast-generate-001")
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
RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
SAFETY_REASON = (
    "We encountered an issue with the audio for your prompt, which means we could not create your "
    "video. This can sometimes happen due to our safety filters or other processing issues. Please "
    "modify your request and try again. You have not been charged for this attempt."
)


def parse_submit(model: str, raw: bytes) -> Request:
    """Validate a predictLongRunning body the way the Gemini API does, or raise ApiError."""
    top_level = ("instances", "parameters", "webhookConfig")
    request = parse_request(model, raw, top_level, PARAMETERS, vertex=False)
    parameters = request.parameters
    sample_count = parameters.get("sampleCount", 1)
    if isinstance(sample_count, bool) or sample_count != 1:
        raise invalid(f"sampleCount {sample_count!r} is not supported; this model makes 1 video.")
    person = parameters.get("personGeneration")
    allowed_person = "allow_adult" if request.image else "allow_all"
    if person is not None and person != allowed_person:
        mode = "image-to-video" if request.image else "text-to-video"
        raise invalid(
            f"{person} for personGeneration is currently not supported for {mode}; "
            f"use {allowed_person}."
        )
    check_shared_parameters(parameters)
    return request


def submit(operations: Operations, model: str, raw_body: bytes) -> Operation:
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
    fault = faults.fault_in(request.prompt)
    if (refusal := faults.refusal(fault, model)) is not None:
        raise refusal
    name = f"models/{model}/operations/{new_id()}"
    return operations.accept(name, model, "gemini", request, fault)


def poll(operations: Operations, name: str, base_url: str) -> dict:
    """Return a Gemini API operation as Google shows it, done or not."""
    op, ready = operations.advance(name, "gemini")
    if not ready:
        return {"name": name}
    if op.fault == "done-error" or op.render_failed:
        return {"name": name, "done": True, "error": faults.DONE_ERROR}
    if op.fault == "no-response":
        return {"name": name, "done": True}
    if op.fault == "safety":
        result = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [SAFETY_REASON]}
    else:
        uri = f"{base_url}/v1beta/files/{op.file_id}:download?alt=media"
        result = {"generatedSamples": [{"video": {"uri": uri}}]}
    response = {"@type": RESPONSE_TYPE, "generateVideoResponse": result}
    return {"name": name, "done": True, "response": response}


def list_models() -> dict:
    """Return ListModels' answer: the served models, each with predictLongRunning."""
    models = [
        {"name": f"models/{model}", "supportedGenerationMethods": ["predictLongRunning"]}
        for model in MODELS
    ]
    return {"models": models}


def check_key(key: str, api_key: str | None) -> None:
    """Refuse a request without an API key, or with another key than the one accepted."""
    if not key:
        raise ApiError(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established "
            "identity). Please use API Key or other form of API consumer identity to call "
            "this API.",
        )
    if api_key and key != api_key:
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
