"""The Gemini API's Veo endpoints over `requests` (also the emulator's default dialect).

Submit: POST v1beta/models/{model}:predictLongRunning -> {"name": operation}.
Poll:   GET  v1beta/{operation} -> no "done" while pending; then response or error.
Fetch:  GET  the sample's uri with the key, redirects checked hop by hop.
"""

import base64
import logging
from pathlib import Path

import requests

from . import download, transport
from .base import GenerationRequest, Operation, Sample, VeoError

API_VERSION = "v1beta"
logger = logging.getLogger(__name__)
CREDENTIAL = "GEMINI_API_KEY"


class GeminiProvider:
    name = "gemini"

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
            raise VeoError(f"No Gemini API key is configured ({CREDENTIAL}).")
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.download_hosts = tuple(download_hosts)
        self.timeout = timeout
        self.session = session or transport.new_session()

    def _headers(self):
        return {"x-goog-api-key": self.api_key, "Content-Type": "application/json"}

    def submit(self, request: GenerationRequest, *, on_sending=None) -> str:
        """Send the paid generation request once and return the operation name."""
        url = f"{self.base_url}/{API_VERSION}/models/{request.model}:predictLongRunning"
        answer = transport.send_submit(
            self.session,
            url,
            body=request_body(request),
            headers=self._headers(),
            timeout=self.timeout,
            credential=CREDENTIAL,
            on_sending=on_sending,
        )
        return answer["name"]

    def poll(self, operation_name: str) -> Operation:
        data = transport.send_poll(
            self.session,
            "GET",
            f"{self.base_url}/{API_VERSION}/{operation_name}",
            headers=self._headers(),
            timeout=self.timeout,
            credential=CREDENTIAL,
        )
        return parse_operation(data, fallback_name=operation_name)

    def download(self, sample: Sample, dest: Path, *, max_bytes: int) -> int:
        """Write the sample to dest (inline bytes, or its uri fetched safely)."""
        if sample.data is not None:
            return download.write_inline(sample.data, dest, max_bytes=max_bytes)
        return download.fetch(
            sample.uri,
            dest,
            session=self.session,
            auth_base_url=self.base_url,
            auth_headers={"x-goog-api-key": self.api_key},
            trusted_hosts=self.download_hosts,
            max_bytes=max_bytes,
            timeout=self.timeout,
        )

    def reachable_models(self, names):
        """Ask ListModels which of names this key may call with predictLongRunning."""
        try:
            response = self.session.get(
                f"{self.base_url}/{API_VERSION}/models",
                params={"pageSize": 1000},
                headers=self._headers(),
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            logger.warning("Listing the models at %s failed: %r", self.base_url, exc)
            reason = transport.failure_reason(exc, server="it")
            raise VeoError(f"Could not reach {self.base_url}: {reason}.") from None
        if response.status_code != 200:
            raise transport.error_from_response(response, credential=CREDENTIAL)
        listed = {
            model.get("name", "").removeprefix("models/"): model
            for model in transport.json_body(response).get("models", [])
        }
        result = {}
        for name in names:
            model = listed.get(name)
            if model is None:
                result[name] = "not offered to this key (retired, or not enabled for the project)"
            elif "predictLongRunning" not in model.get("supportedGenerationMethods", []):
                result[name] = "listed, but does not accept predictLongRunning"
            else:
                result[name] = ""
        return result


def _image(image):
    # The SDKs' form; the docs' REST samples show {"inlineData": ...} instead, and
    # both SDKs (and a third-party adapter used live) send this one.
    return {
        "bytesBase64Encoded": base64.b64encode(image.data).decode(),
        "mimeType": image.mime_type,
    }


def request_body(request: GenerationRequest) -> dict:
    """Return the predictLongRunning body in the wire names both Gemini and Vertex use."""
    instance = {"prompt": request.prompt}
    if request.image is not None:
        instance["image"] = _image(request.image)
    if request.last_frame is not None:
        instance["lastFrame"] = _image(request.last_frame)
    parameters = {
        "aspectRatio": request.aspect_ratio,
        "resolution": request.resolution,
        "durationSeconds": request.duration_seconds,
        "sampleCount": request.sample_count,
    }
    if request.negative_prompt:
        parameters["negativePrompt"] = request.negative_prompt
    if request.person_generation:
        parameters["personGeneration"] = request.person_generation
    return {"instances": [instance], "parameters": parameters}


def parse_operation(data: dict, *, fallback_name="") -> Operation:
    """Turn an operation JSON into an Operation; a missing "done" means pending."""
    name = data.get("name") or fallback_name
    if not data.get("done"):
        return Operation(name=name, raw=data)
    if data.get("error"):
        return Operation(name=name, done=True, error=operation_error(data["error"]), raw=data)
    generated = (data.get("response") or {}).get("generateVideoResponse") or {}
    samples = []
    for item in generated.get("generatedSamples") or []:
        video = item.get("video") or {}
        inline = video.get("encodedVideo")
        if video.get("uri") or inline:
            samples.append(
                Sample(
                    uri=video.get("uri"),
                    data=base64.b64decode(inline) if inline else None,
                    mime_type=video.get("encoding") or "video/mp4",
                )
            )
    return finished(name, samples, generated, data)


def operation_error(error: dict) -> VeoError:
    message = error.get("message") or "no reason given"
    return VeoError(
        f"Veo could not generate the video: {message}", code=error.get("code"), billed=False
    )


def finished(name, samples, result, data) -> Operation:
    """Return a done Operation: samples, or Google's filter reasons, or an error."""
    reasons = tuple(result.get("raiMediaFilteredReasons") or ())
    if not samples and not reasons and not result.get("raiMediaFilteredCount"):
        return Operation(
            name=name,
            done=True,
            error=VeoError("Veo finished without returning a video or a reason.", billed=False),
            raw=data,
        )
    return Operation(
        name=name, done=True, samples=tuple(samples), filtered_reasons=reasons, raw=data
    )
