"""The faults a prompt's markers ask for, and the errors Google answers them with.

A marker in the prompt steers one request (see the package docstring for the list):
``[fault=NAME]``, ``[latency=SECONDS]``, ``[submit-delay=SECONDS]`` and ``[pad-mb=N]``.
"""

import math
import re

from .errors import ApiError, invalid

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
RETRY_MARKER = re.compile(r"\[retry-after=(\d+(?:\.\d+)?)\]")
PAD_MAX_MB = 8192
DONE_ERROR = {"code": 13, "message": "Internal error while generating the video."}
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)


def fault_in(prompt: str) -> str | None:
    """Return the fault a prompt's marker names, refusing names the emulator does not know."""
    fault = match[1] if (match := FAULT_MARKER.search(prompt)) else None
    if fault is not None and fault not in FAULTS:
        raise invalid(f"Unknown emulator fault {fault!r}; known: {', '.join(sorted(FAULTS))}.")
    return fault


def quota_error(quota_id, metric, dimensions, retry_delay, *, message=QUOTA_MESSAGE, headers=None):
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


def retry_seconds(prompt: str) -> float:
    """Return the retry delay a 429 advises: a ``[retry-after=SECONDS]`` marker's, or 2."""
    return float(match[1]) if (match := RETRY_MARKER.search(prompt)) else 2.0


def retry_delay(error: ApiError) -> float:
    """Return the seconds of an error's RetryInfo, or 0 when it has none."""
    for detail in error.details:
        if detail.get("@type", "").endswith("google.rpc.RetryInfo"):
            return float(detail["retryDelay"].removesuffix("s"))
    return 0.0


def refusal(fault: str | None, model: str, *, retry_seconds: float = 2.0) -> ApiError | None:
    """Return the error a submit-time fault answers with, when Google does not accept the job."""
    dimensions = {"location": "global", "model": model}
    match fault:
        case "submit-429":
            return quota_error(
                "GenerateRequestsPerMinutePerProjectPerModel",
                "generativelanguage.googleapis.com/generate_requests_per_model",
                dimensions,
                f"{retry_seconds:g}s",
                headers={"Retry-After": f"{math.ceil(retry_seconds)}"},
            )
        case "daily-quota":
            return quota_error(
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


def vertex_refusal(
    fault: str | None, project: str, location: str, model: str, *, retry_seconds: float = 2.0
) -> ApiError | None:
    """Return the error a submit-time fault answers with on Vertex AI, if it refuses the job."""
    metric = "aiplatform.googleapis.com/online_prediction_requests_per_base_model"
    dimensions = {"region": location, "base_model": model}
    message = (
        f"Quota exceeded for {metric} with base model: {model}. Please submit a quota increase "
        "request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai."
    )
    match fault:
        case "submit-429":
            return quota_error(
                "OnlinePredictionRequestsPerMinutePerProjectPerBaseModel",
                metric,
                dimensions,
                f"{retry_seconds:g}s",
                message=message,
                headers={"Retry-After": f"{math.ceil(retry_seconds)}"},
            )
        case "daily-quota":
            return quota_error(
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
    return refusal(fault, model, retry_seconds=retry_seconds)


def padding(prompt: str) -> int:
    """Return the bytes a ``[pad-mb=N]`` marker adds to the video, refusing more than the cap."""
    megabytes = int(match[1]) if (match := PAD_MARKER.search(prompt)) else 0
    if megabytes > PAD_MAX_MB:
        raise invalid(f"[pad-mb={megabytes}] is over the emulator's {PAD_MAX_MB} MiB limit.")
    return megabytes * 1024 * 1024


def latency(prompt: str, fault: str | None, default: float) -> float:
    """Return the seconds until an operation is done: the slow fault's, a marker's or default."""
    if fault == "slow":
        return SLOW_LATENCY
    if match := LATENCY_MARKER.search(prompt):
        return float(match[1])
    return default


def submit_delay(prompt: str) -> float:
    """Return how long a ``[submit-delay=SECONDS]`` marker holds the answer (at most 60 s)."""
    return min(float(match[1]), 60.0) if (match := SUBMIT_DELAY_MARKER.search(prompt)) else 0.0
