"""Veo on Vertex AI (Gemini Enterprise Agent Platform) over `requests`.

Submit: POST v1beta1/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning
Poll:   POST .../models/{m}:fetchPredictOperation  {"operationName": "<full name>"}
Result: response.videos[] with a Cloud Storage gcsUri (read with the same token) or the
video inline as bytesBase64Encoded when no storageUri was given.
The version and the body's names are the ones google-genai 3.6.1 sends (tests/veo/
test_vertex_wire.py compares them); Google's REST samples show v1, which serves the same.
OAuth tokens come from google-auth: a service-account (or authorized-user) JSON file, or
application default credentials.
"""

import base64
import json
import logging
from pathlib import Path
from urllib.parse import quote

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import requests
from google.oauth2 import service_account

from . import base, download, transport
from .base import GenerationRequest, Operation, Sample, SourceVideo, VeoError, VideoFields

logger = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
CREDENTIAL = "the Google Cloud credentials (GOOGLE_APPLICATION_CREDENTIALS)"
PROBE_OPERATION = "00000000-0000-0000-0000-000000000000"
API_VERSION = "v1beta1"


def default_base_url(location):
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class VertexProvider:
    name = "vertex"

    def __init__(
        self,
        *,
        project,
        location="us-central1",
        credentials_file="",
        base_url="",
        storage_base_url="https://storage.googleapis.com",
        storage_uri="",
        download_hosts=(),
        timeout=30.0,
        session=None,
        credentials=None,
    ):
        if not project:
            raise VeoError("No Google Cloud project is configured (VERTEX_PROJECT).")
        self.project = project
        self.location = location
        self.credentials_file = credentials_file
        self.base_url = (base_url or default_base_url(location)).rstrip("/")
        self.storage_base_url = storage_base_url.rstrip("/")
        self.storage_uri = storage_uri
        self.download_hosts = tuple(download_hosts)
        self.timeout = timeout
        self.session = session or transport.new_session()
        self._credentials = credentials

    # --- Credentials ------------------------------------------------------------

    def _token(self) -> str:
        """Return a current OAuth access token, loading or refreshing credentials."""
        try:
            if self._credentials is None:
                self._credentials = (
                    load_credentials_file(self.credentials_file)
                    if self.credentials_file
                    else google.auth.default(scopes=SCOPES)[0]
                )
            if not self._credentials.valid:
                self._credentials.refresh(google.auth.transport.requests.Request(self.session))
        except google.auth.exceptions.DefaultCredentialsError as exc:
            logger.warning("No usable Google Cloud credentials: %s", exc)
            raise VeoError(
                "No usable Google Cloud credentials: set GOOGLE_APPLICATION_CREDENTIALS to a "
                "readable service-account JSON file (the worker's log says what is wrong).",
                status="UNAUTHENTICATED",
            ) from None
        except google.auth.exceptions.TransportError as exc:
            logger.warning("Google's token service could not be reached: %r", exc)
            raise VeoError("Could not reach Google's token service.", retryable=True) from None
        except google.auth.exceptions.RefreshError as exc:
            logger.warning("Google refused the credentials: %r", exc)
            raise VeoError(
                f"Google refused the service account's credentials{_refusal_reason(exc)}",
                status="UNAUTHENTICATED",
            ) from None
        return self._credentials.token

    def _headers(self):
        return {"Authorization": f"Bearer {self._token()}", "Content-Type": "application/json"}

    # --- Calls ------------------------------------------------------------------

    def _model_url(self, model):
        return f"{self.base_url}/{API_VERSION}/{self._model_name(model)}"

    def _model_name(self, model):
        return f"projects/{self.project}/locations/{self.location}/publishers/google/models/{model}"

    def submit(self, request: GenerationRequest, *, on_sending=None) -> str:
        answer = transport.send_submit(
            self.session,
            f"{self._model_url(request.model)}:predictLongRunning",
            body=request_body(request, storage_uri=self.storage_uri),
            headers=self._headers(),
            timeout=self.timeout,
            credential=CREDENTIAL,
            on_sending=on_sending,
        )
        return answer["name"]

    def poll(self, operation_name: str) -> Operation:
        data = transport.send_poll(
            self.session,
            "POST",
            f"{self._model_url(model_of(operation_name))}:fetchPredictOperation",
            body={"operationName": operation_name},
            headers=self._headers(),
            timeout=self.timeout,
            credential=CREDENTIAL,
        )
        return parse_operation(data, fallback_name=operation_name)

    def cancel(self, operation_name: str) -> None:
        """Do nothing: predictLongRunning has no cancel, Google finishes what it started."""

    def download(self, sample: Sample, dest: Path, *, max_bytes: int) -> int:
        if sample.data is not None:
            return download.write_inline(sample.data, dest, max_bytes=max_bytes)
        return download.fetch(
            storage_url(sample.uri, base_url=self.storage_base_url),
            dest,
            session=self.session,
            auth_base_url=self.storage_base_url,
            auth_headers={"Authorization": f"Bearer {self._token()}"},
            trusted_hosts=self.download_hosts,
            max_bytes=max_bytes,
            timeout=self.timeout,
        )

    def reachable_models(self, names):
        """Probe each model's fetchPredictOperation with an unknown operation (free).

        An answer about the operation means the model and the project's permission are
        fine; "Publisher Model … was not found" or a 403 says why not.
        """
        headers = self._headers()
        result = {}
        for name in names:
            url = f"{self._model_url(name)}:fetchPredictOperation"
            probe = f"{self._model_name(name)}/operations/{PROBE_OPERATION}"
            try:
                response = self.session.post(
                    url, json={"operationName": probe}, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                logger.warning("Probing %s failed: %r", self.base_url, exc)
                reason = transport.failure_reason(exc, server="it")
                raise VeoError(f"Could not reach {self.base_url}: {reason}.") from None
            if response.status_code == 200 or (
                response.status_code == 404 and "Publisher Model" not in response.text
            ):
                result[name] = ""
            else:
                error = transport.error_from_response(response, credential=CREDENTIAL)
                result[name] = error.message
        return result


def load_credentials_file(path):
    """Load a service-account or authorized-user JSON file, and nothing else.

    google-auth can also load external-account files that make it fetch URLs or run
    programs named in the file; a studio has no use for those, so they are refused.
    """
    try:
        info = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise google.auth.exceptions.DefaultCredentialsError(f"cannot read {path}: {exc}") from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    if kind == "authorized_user":
        return google.oauth2.credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES)
    raise google.auth.exceptions.DefaultCredentialsError(
        f"{path} holds credentials of type {kind!r}; use a service-account or authorized-user file"
    )


def model_of(operation_name):
    """Return the model id inside projects/…/models/{model}/operations/{id}."""
    try:
        return operation_name.split("/models/", 1)[1].split("/", 1)[0]
    except IndexError:
        raise VeoError(f"Not a Vertex AI operation name: {operation_name!r}") from None


def storage_url(gcs_uri, *, base_url):
    """Return the JSON API media URL for gs://bucket/object."""
    if not (gcs_uri or "").startswith("gs://") or "/" not in gcs_uri[5:]:
        raise VeoError(
            f"Vertex AI returned a video address that is not gs://bucket/object: {gcs_uri!r}"
        )
    bucket, obj = gcs_uri[5:].split("/", 1)
    return f"{base_url}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(obj, safe='')}?alt=media"


def request_body(request: GenerationRequest, *, storage_uri="") -> dict:
    """Return the Vertex AI predictLongRunning body, in the names google-genai sends.

    With a storageUri, Vertex writes the videos to Cloud Storage and answers with their
    gcsUri; without one it sends them inline.
    """
    instance = {"prompt": request.prompt}
    if request.image is not None:
        instance["image"] = _image(request.image)
    if request.last_frame is not None:
        instance["lastFrame"] = _image(request.last_frame)
    if request.reference_images:
        instance["referenceImages"] = [
            {"image": _image(image), "referenceType": REFERENCE_TYPE}
            for image in request.reference_images
        ]
    if request.source is not None:
        instance["video"] = source_video(request.source)
    parameters = {
        "aspectRatio": request.aspect_ratio,
        "resolution": request.resolution,
        "durationSeconds": request.duration_seconds,
        "sampleCount": request.sample_count,
    }
    optional = {
        "negativePrompt": request.negative_prompt or None,
        "personGeneration": request.person_generation or None,
        "seed": request.seed,
        "generateAudio": request.generate_audio,
        "enhancePrompt": request.enhance_prompt,
        "storageUri": storage_uri or None,
    }
    parameters |= {name: value for name, value in optional.items() if value is not None}
    return {"instances": [instance], "parameters": parameters}


# The SDK's enum value; Vertex's REST reference writes it in lower case.
REFERENCE_TYPE = "ASSET"


def _image(image):
    return {
        "bytesBase64Encoded": base64.b64encode(image.data).decode(),
        "mimeType": image.mime_type,
    }


def source_video(source: SourceVideo) -> dict:
    """Return instances[].video: the Cloud Storage object Vertex wrote, else the local copy.

    Vertex reads a gs:// object in place (the studio's own storageUri output); any other
    video goes inline, read from the job's file.
    """
    if source.uri.startswith("gs://"):
        return {"gcsUri": source.uri, "mimeType": source.mime_type}
    if source.path is None:
        raise VeoError("The video this job starts from is no longer stored, so it cannot be sent.")
    try:
        data = Path(source.path).read_bytes()
    except OSError as exc:
        logger.warning("Cannot read the source video of job %s: %r", source.job_id, exc)
        raise VeoError("The video this job starts from could not be read from storage.") from None
    return {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": source.mime_type}


VIDEO_FIELDS = VideoFields(uri="gcsUri", data="bytesBase64Encoded", mime_type="mimeType")


def parse_operation(data: dict, *, fallback_name="") -> Operation:
    """Turn a fetchPredictOperation answer into an Operation; a missing "done" means pending."""
    return base.parse_operation(
        data,
        fallback_name=fallback_name,
        result_of=lambda response: response,
        videos_of=lambda result: result.get("videos") or [],
        names=VIDEO_FIELDS,
    )


def _refusal_reason(exc):
    """Return ": <Google's error_description>." from a RefreshError, or "." without one."""
    answer = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    reason = str(answer.get("error_description") or answer.get("error") or "").strip()
    return f": {reason.rstrip('.')}." if reason else "."
