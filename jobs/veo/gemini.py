"""The Gemini API's Veo endpoints over `requests` (also the emulator's dialect).

Submit: POST v1beta/models/{model}:predictLongRunning -> {"name": operation}.
Poll:   GET  v1beta/{operation} -> no "done" while pending; then response or error.
Fetch:  GET  the sample's uri with the key, redirects checked hop by hop.
The submit is never retried here: a 5xx or a timeout after sending may mean Google
accepted (and will bill) the request.
"""

import base64
import random
from pathlib import Path

import requests

from . import download
from .base import GenerationRequest, Operation, Sample, SubmitOutcomeUnknown, VeoError

API_VERSION = "v1beta"

RETRYABLE_HTTP = {408, 429, 500, 502, 503, 504}


class GeminiProvider:
    def __init__(
        self,
        *,
        api_key,
        base_url="https://generativelanguage.googleapis.com",
        download_hosts=(),
        timeout=30.0,
        session=None,
    ):
        if not api_key:
            raise VeoError("No Gemini API key is configured (GEMINI_API_KEY).")
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.download_hosts = tuple(download_hosts)
        self.timeout = timeout
        self.session = session or requests.Session()

    def _headers(self):
        return {"x-goog-api-key": self.api_key, "Content-Type": "application/json"}

    def submit(self, request: GenerationRequest) -> str:
        """Send the paid generation request once and return the operation name."""
        url = f"{self.base_url}/{API_VERSION}/models/{request.model}:predictLongRunning"
        try:
            response = self.session.post(
                url, json=request_body(request), headers=self._headers(), timeout=self.timeout
            )
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                raise VeoError(
                    "Could not connect to the Veo API; nothing was sent. Will retry.",
                    retryable=True,
                ) from None
            raise SubmitOutcomeUnknown(f"connection lost: {type(exc).__name__}") from None
        except requests.Timeout:
            raise SubmitOutcomeUnknown("no answer in time") from None
        if response.status_code >= 500:
            raise SubmitOutcomeUnknown(f"the API answered {response.status_code}")
        if response.status_code != 200:
            raise error_from_response(response)
        name = _json(response).get("name")
        if not name:
            raise SubmitOutcomeUnknown("the API's answer had no operation name")
        return name

    def poll(self, operation_name: str) -> Operation:
        """Fetch the operation; transport failures and 5xx are retryable."""
        url = f"{self.base_url}/{API_VERSION}/{operation_name}"
        try:
            response = self.session.get(url, headers=self._headers(), timeout=self.timeout)
        except requests.RequestException as exc:
            raise VeoError(
                f"Lost contact with Veo while checking progress ({type(exc).__name__}).",
                retryable=True,
            ) from None
        if response.status_code == 404:
            raise VeoError(
                "Veo no longer knows this generation (it expired or never existed). "
                "Retry the job to generate it again."
            )
        if response.status_code != 200:
            raise error_from_response(response)
        return parse_operation(_json(response), fallback_name=operation_name)

    def download(self, sample: Sample, dest: Path, *, max_bytes: int) -> int:
        """Write the sample to dest (inline bytes, or its uri fetched safely)."""
        if sample.data is not None:
            if len(sample.data) > max_bytes:
                raise VeoError("The video is larger than the configured download limit.")
            dest.write_bytes(sample.data)
            return len(sample.data)
        return download.fetch(
            sample.uri,
            dest,
            session=self.session,
            api_base_url=self.base_url,
            api_key=self.api_key,
            trusted_hosts=self.download_hosts,
            max_bytes=max_bytes,
            timeout=self.timeout,
        )


def request_body(request: GenerationRequest) -> dict:
    """Return the predictLongRunning body in the Gemini API's wire names."""
    parameters = {
        "aspectRatio": request.aspect_ratio,
        "resolution": request.resolution,
        "durationSeconds": request.duration_seconds,
        "sampleCount": request.sample_count,
    }
    if request.negative_prompt:
        parameters["negativePrompt"] = request.negative_prompt
    return {"instances": [{"prompt": request.prompt}], "parameters": parameters}


def parse_operation(data: dict, *, fallback_name="") -> Operation:
    """Turn an operation JSON into an Operation; a missing "done" means pending."""
    name = data.get("name") or fallback_name
    if not data.get("done"):
        return Operation(name=name, raw=data)
    if data.get("error"):
        err = data["error"]
        message = err.get("message") or "no reason given"
        return Operation(
            name=name,
            done=True,
            error=VeoError(f"Veo could not generate the video: {message}", code=err.get("code")),
            raw=data,
        )
    response = data.get("response") or {}
    generated = response.get("generateVideoResponse") or {}
    samples = []
    for item in generated.get("generatedSamples") or []:
        video = item.get("video") or {}
        inline = video.get("encodedVideo")
        samples.append(
            Sample(
                uri=video.get("uri"),
                data=base64.b64decode(inline) if inline else None,
                mime_type=video.get("encoding") or "video/mp4",
            )
        )
    samples = [s for s in samples if s.uri or s.data is not None]
    reasons = tuple(generated.get("raiMediaFilteredReasons") or ())
    if not samples and not reasons and not generated.get("raiMediaFilteredCount"):
        return Operation(
            name=name,
            done=True,
            error=VeoError("Veo finished without returning a video or a reason."),
            raw=data,
        )
    return Operation(
        name=name, done=True, samples=tuple(samples), filtered_reasons=reasons, raw=data
    )


# Canonical status -> what a person should read when it is final.
_FINAL_MESSAGES = {
    "PERMISSION_DENIED": (
        "The API key is not allowed to use Veo (403). Check the key's project and permissions."
    ),
    "FAILED_PRECONDITION": (
        "Veo refused the request because billing is not set up for this project."
    ),
    "UNAUTHENTICATED": "The API key was not accepted. Check GEMINI_API_KEY.",
}


def error_from_response(response) -> VeoError:
    """Map Google's error envelope (or a non-JSON body) to a VeoError."""
    body = _json(response, strict=False)
    err = body.get("error") if isinstance(body.get("error"), dict) else {}
    status = err.get("status", "")
    message = err.get("message") or f"{response.status_code} {response.reason or ''}".strip()
    code = response.status_code
    reasons = {d.get("reason") for d in err.get("details") or [] if isinstance(d, dict)}
    quota_ids = {
        v.get("quotaId", "")
        for d in err.get("details") or []
        if isinstance(d, dict)
        for v in d.get("violations") or []
    }
    if code == 429:
        if any("PerDay" in q for q in quota_ids):
            return VeoError(
                "The project's daily Veo quota is used up; it resets at midnight Pacific time.",
                code=code,
                status=status,
            )
        return VeoError(
            "Veo's rate limit was reached; the studio will try again shortly.",
            retryable=True,
            retry_after=retry_delay(response, err),
            code=code,
            status=status,
        )
    if code in RETRYABLE_HTTP:
        return VeoError(
            f"Veo is unavailable right now ({code}); will retry.",
            retryable=True,
            retry_after=retry_delay(response, err),
            code=code,
            status=status,
        )
    if "API_KEY_INVALID" in reasons or "API key not valid" in message:
        text = "The Gemini API key is not valid. Check GEMINI_API_KEY."
    elif code == 402:
        text = "The Google prepaid credit is used up; top it up to generate videos."
    elif code == 404 and "no longer available" in message:
        text = "This model has been retired by Google; choose another model."
    elif code == 404:
        text = f"Veo does not offer this model to this key: {message}"
    elif status in _FINAL_MESSAGES:
        text = _FINAL_MESSAGES[status]
    elif code == 400:
        text = f"Veo refused the request: {message}"
    else:
        text = f"Veo answered {code}: {message}"
    return VeoError(text, code=code, status=status)


def retry_delay(response, err) -> float | None:
    """Return the wait Google asked for: RetryInfo.retryDelay, else Retry-After."""
    for detail in err.get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            raw = str(detail.get("retryDelay", "")).rstrip("s")
            try:
                return float(raw)
            except ValueError:
                pass
    header = response.headers.get("Retry-After", "")
    return float(header) if header.replace(".", "", 1).isdigit() else None


def backoff(attempt, *, hint=None, base=1.0, cap=60.0) -> float:
    """Return the wait before retry number `attempt`: the hint, else exponential with jitter."""
    if hint is not None:
        return min(hint, cap)
    return min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)  # noqa: S311


def _never_sent(exc) -> bool:
    """Return whether a connection error happened before the request left this machine."""
    text = repr(exc)
    return any(
        marker in text
        for marker in (
            "NewConnectionError",
            "ConnectTimeout",
            "Failed to resolve",
            "NameResolution",
        )
    )


def _json(response, *, strict=True) -> dict:
    try:
        data = response.json()
    except ValueError:
        if strict:
            raise VeoError(
                f"The Veo API answered with something that is not JSON ({response.status_code}).",
                retryable=True,
            ) from None
        return {}
    return data if isinstance(data, dict) else {}
