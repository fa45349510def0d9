"""The Gemini API's Veo endpoints over `requests` (also the emulator's default dialect).

Submit: POST v1beta/models/{model}:predictLongRunning -> {"name": operation}.
Poll:   GET  v1beta/{operation} -> no "done" while pending; then response or error.
Fetch:  GET  the sample's uri with the key, redirects checked hop by hop.
"""

import base64
import logging
from pathlib import Path

import requests

from . import base, download, transport
from .base import GenerationRequest, Operation, Sample, VeoError, VideoFields

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

    def cancel(self, operation_name: str) -> None:
        """Do nothing: predictLongRunning has no cancel, Google finishes what it started."""

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


SAMPLE_FIELDS = VideoFields(uri="uri", data="encodedVideo", mime_type="encoding")


def parse_operation(data: dict, *, fallback_name="") -> Operation:
    """Turn a Gemini API operation into an Operation; a missing "done" means pending."""
    return base.parse_operation(
        data,
        fallback_name=fallback_name,
        result_of=lambda response: response.get("generateVideoResponse") or {},
        videos_of=lambda result: [
            item.get("video") or {} for item in result.get("generatedSamples") or []
        ],
        names=SAMPLE_FIELDS,
    )
