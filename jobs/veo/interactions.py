"""Gemini Omni over the Interactions API, on the Gemini API (key) and on Vertex AI (token).

Create: POST {base}/{version}/interactions in background mode -> {"id", "status"}; sent
        once, never retried once it may have reached Google (the SDK retries it).
Poll:   GET  .../interactions/{id} until a terminal status; the video is the last video
        part of the model_output steps, delivered as a uri (or inline on Vertex without a
        storage bucket).
Cancel: POST .../interactions/{id}/cancel, best effort: Google may still bill.
Source videos for extend, edit and upscale: the previous interaction's id while Google
keeps it, else the local copy uploaded through the Files API (Gemini API), or sent as a
gs:// uri or inline (Vertex, which has no Files API).
The wire is captured from google-genai 3.6.1 (../shared/gemini-interactions-video.md).
"""

import base64
import logging
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
import requests

from . import download, transport, vertex
from .base import FROM_VIDEO, GenerationRequest, Operation, Sample, Task, VeoError

logger = logging.getLogger(__name__)

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
VERTEX_BASE_URL = "https://aiplatform.googleapis.com"
CREDENTIAL = "GEMINI_API_KEY"
VERTEX_CREDENTIAL = vertex.CREDENTIAL
RUNNING = frozenset({"queued", "in_progress", "idle"})
FAILED = frozenset(
    {
        "failed",
        "cancelled",
        "incomplete",
        "budget_exceeded",
        "requires_action",
        "requires_continuation",
    }
)
# A generated file may not be readable yet right after completion (404/409), or any
# more after Google's retention: either way a later try decides, not the first.
NOT_READY = frozenset({404, 409, 410})
FILE_ACTIVE_WAIT_SECONDS = 60
FILE_POLL_SECONDS = 1.0
NOT_OFFERED = "not offered to these credentials (retired, or not enabled for the project)"


class InteractionsProvider:
    name = "interactions"

    def __init__(
        self,
        *,
        api_key="",
        credentials=None,
        credentials_file="",
        base_url="",
        version="v1",
        project="",
        location="global",
        storage_uri="",
        storage_base_url="https://storage.googleapis.com",
        download_hosts=(),
        timeout=30.0,
        session=None,
    ):
        self.vertex = credentials is not None or bool(project)
        if self.vertex and not project:
            raise VeoError("No Google Cloud project is configured (VERTEX_PROJECT).")
        if not self.vertex and not api_key:
            raise VeoError(f"No Gemini API key is configured ({CREDENTIAL}).")
        self.api_key = api_key
        self.credentials = credentials
        self.credentials_file = credentials_file
        self.base_url = (base_url or (VERTEX_BASE_URL if self.vertex else GEMINI_BASE_URL)).rstrip(
            "/"
        )
        self.version = version
        self.project = project
        self.location = location
        self.storage_uri = storage_uri
        self.storage_base_url = storage_base_url.rstrip("/")
        self.download_hosts = tuple(download_hosts)
        self.timeout = timeout
        self.session = session or transport.new_session()
        self.credential = VERTEX_CREDENTIAL if self.vertex else CREDENTIAL

    # --- Addresses and credentials ---------------------------------------------

    @property
    def interactions_url(self):
        if self.vertex:
            return (
                f"{self.base_url}/v1beta1/projects/{self.project}"
                f"/locations/{self.location}/interactions"
            )
        return f"{self.base_url}/{self.version}/interactions"

    def _auth_headers(self):
        if not self.vertex:
            return {"x-goog-api-key": self.api_key}
        credentials = self._credentials()
        headers = {"Authorization": f"Bearer {credentials.token}"}
        quota_project = getattr(credentials, "quota_project_id", None)
        if quota_project:
            headers["x-goog-user-project"] = quota_project
        return headers

    def _headers(self):
        return {**self._auth_headers(), "Content-Type": "application/json"}

    def _credentials(self):
        """Return current Google Cloud credentials, loading or refreshing them."""
        try:
            if self.credentials is None:
                self.credentials = (
                    vertex.load_credentials_file(self.credentials_file)
                    if self.credentials_file
                    else google.auth.default(scopes=vertex.SCOPES)[0]
                )
            if not self.credentials.valid:
                self.credentials.refresh(google.auth.transport.requests.Request(self.session))
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
                "Google refused the service account's credentials.", status="UNAUTHENTICATED"
            ) from None
        return self.credentials

    # --- Calls ------------------------------------------------------------------

    def submit(self, request: GenerationRequest, *, on_sending=None) -> str:
        """Send the paid create once and return the interaction's id.

        A source video goes by the previous interaction's id while Google still has it,
        else by a Files API upload; both happen before the create, so a failure there
        sends nothing that is billed.
        """
        request = self._with_reachable_source(request)
        answer = transport.send_submit(
            self.session,
            self.interactions_url,
            body=request_body(
                request,
                gcs_uri=self.storage_uri if self.vertex else "",
                vertex_inline=self.vertex and not self.storage_uri,
            ),
            headers=self._headers(),
            timeout=self.timeout,
            credential=self.credential,
            on_sending=on_sending,
            id_field="id",
        )
        return answer["id"]

    def poll(self, operation_name: str) -> Operation:
        data = transport.send_poll(
            self.session,
            "GET",
            f"{self.interactions_url}/{operation_name}",
            headers=self._headers(),
            timeout=self.timeout,
            credential=self.credential,
        )
        return parse_interaction(data, fallback_name=operation_name)

    def cancel(self, operation_name: str) -> None:
        """Ask Google to stop the interaction, once; a failure is only logged."""
        try:
            response = self.session.post(
                f"{self.interactions_url}/{operation_name}/cancel",
                headers=self._headers(),
                timeout=self.timeout,
            )
        except (requests.RequestException, VeoError) as exc:
            logger.warning("Cancelling interaction %s failed: %r", operation_name, exc)
            return
        if response.status_code != 200:
            logger.info(
                "Google answered %s to the cancel of %s", response.status_code, operation_name
            )

    def download(self, sample: Sample, dest: Path, *, max_bytes: int) -> int:
        """Write the sample to dest: inline bytes, a gs:// object, or its uri with alt=media."""
        if sample.data is not None:
            return download.write_inline(sample.data, dest, max_bytes=max_bytes)
        if sample.uri.startswith("gs://"):
            url = vertex.storage_url(sample.uri, base_url=self.storage_base_url)
            auth_base_url = self.storage_base_url
        else:
            url, auth_base_url = media_url(sample.uri), self.base_url
        try:
            return download.fetch(
                url,
                dest,
                session=self.session,
                auth_base_url=auth_base_url,
                auth_headers=self._auth_headers(),
                trusted_hosts=self.download_hosts,
                max_bytes=max_bytes,
                timeout=self.timeout,
            )
        except VeoError as exc:
            if exc.code in NOT_READY:
                raise VeoError(
                    "Google's file server did not have the generated video (it may not be "
                    "ready yet, or it has expired).",
                    retryable=True,
                    code=exc.code,
                ) from None
            raise

    def upload_file(self, path: Path, mime_type: str, display_name: str) -> str:
        """Upload a local file through the Files API and return its uri once it is ACTIVE."""
        if self.vertex:
            raise VeoError("Vertex AI has no Files API; the source video cannot be uploaded.")
        data = Path(path).read_bytes()
        start = self._files_call(
            "POST",
            f"{self.base_url}/upload/{self.version}/files",
            headers={
                **self._headers(),
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(len(data)),
                "X-Goog-Upload-Header-Content-Type": mime_type,
            },
            json={
                "file": {
                    "display_name": display_name,
                    "mime_type": mime_type,
                    "size_bytes": len(data),
                }
            },
        )
        upload_url = start.headers.get("X-Goog-Upload-URL", "")
        # The video goes only where the key would go: the API's own host.
        if not upload_url or download.origin_of(upload_url) != download.origin_of(self.base_url):
            raise VeoError("Google's Files API gave no usable upload address.", retryable=True)
        finished = self._files_call(
            "POST",
            upload_url,
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
            data=data,
        )
        file = file_of(transport.json_body(finished))
        give_up = time.monotonic() + FILE_ACTIVE_WAIT_SECONDS
        while file.get("state") != "ACTIVE":
            if file.get("state") == "FAILED" or time.monotonic() > give_up:
                raise VeoError(
                    "Google could not process the uploaded source video in time.",
                    retryable=file.get("state") != "FAILED",
                )
            time.sleep(FILE_POLL_SECONDS)
            name = file.get("name", "")
            answer = self._files_call(
                "GET", f"{self.base_url}/{self.version}/{name}", headers=self._headers()
            )
            file = file_of(transport.json_body(answer))
        if not file.get("uri"):
            raise VeoError("Google's Files API did not say where the upload is.", retryable=True)
        return file["uri"]

    def _files_call(self, method, url, **kwargs):
        """Make one Files API call (free and safe to repeat); a failure is retryable."""
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            logger.warning("A Files API call failed: %r", exc)
            reason = transport.failure_reason(exc, server="Google's Files API")
            raise VeoError(
                f"Uploading the source video failed: {reason}.", retryable=True
            ) from None
        if response.status_code != 200:
            error = transport.error_from_response(response, credential=self.credential)
            raise VeoError(
                f"Uploading the source video failed: {error.message}",
                retryable=error.retryable,
                retry_after=error.retry_after,
                code=error.code,
            )
        return response

    def _with_reachable_source(self, request):
        """Return request with a source Google can read: a kept interaction, else an upload."""
        source = request.source
        if request.task not in FROM_VIDEO or source is None:
            return request
        if source.api == "interactions" and source.reference and self._still_kept(source):
            return request
        source = replace(source, api="", reference="")
        if source.uri and source.uri.startswith("gs://") == self.vertex:
            # Vertex reads its own Cloud Storage objects; the Gemini API its Files API's.
            return replace(request, source=source)
        source = replace(source, uri="")
        if source.path is None or not Path(source.path).is_file():
            raise VeoError(
                "The video to start from is no longer stored here, and Google no longer "
                "keeps it, so it cannot be sent."
            )
        if not self.vertex:
            uri = self.upload_file(
                source.path, source.mime_type, display_name=f"{source.job_id}.mp4"
            )
            source = replace(source, uri=uri)
        return replace(request, source=source)

    def _still_kept(self, source):
        """Return whether Google still keeps the source's interaction (a free GET)."""
        try:
            self.poll(source.reference)
        except VeoError as exc:
            if exc.code in (404, 410):
                logger.info("Interaction %s is gone; uploading its video", source.reference)
                return False
            raise
        return True

    def reachable_models(self, names):
        """Return which models these credentials reach; a model's existence is the only signal.

        The Gemini API lists a key's models in one call (Omni is listed with methods it
        does not serve, so only its presence counts); Vertex is asked model by model.
        """
        if not self.vertex:
            listed = {
                model.get("name", "").removeprefix("models/")
                for model in self._get(f"{self.base_url}/v1beta/models?pageSize=1000").get(
                    "models", []
                )
            }
            return {name: "" if name in listed else NOT_OFFERED for name in names}
        result = {}
        for name in names:
            try:
                self._get(f"{self.base_url}/v1beta1/publishers/google/models/{name}")
                result[name] = ""
            except VeoError as exc:
                if exc.code != 404:
                    raise
                result[name] = NOT_OFFERED
        return result

    def _get(self, url) -> dict:
        try:
            response = self.session.get(url, headers=self._headers(), timeout=self.timeout)
        except requests.RequestException as exc:
            logger.warning("Asking %s for its models failed: %r", self.base_url, exc)
            reason = transport.failure_reason(exc, server="it")
            raise VeoError(f"Could not reach {self.base_url}: {reason}.") from None
        if response.status_code != 200:
            raise transport.error_from_response(response, credential=self.credential)
        return transport.json_body(response)


def media_url(uri):
    """Return a generated file's uri with alt=media, so the file server sends its bytes."""
    if "?" in uri and "alt=media" in uri.split("?", 1)[1].split("&"):
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}alt=media"


def file_of(data):
    """Return the file object of a Files API answer ({"file": {...}} or the file itself)."""
    return data.get("file") if isinstance(data.get("file"), dict) else data


# --- The request -----------------------------------------------------------------


def _image_part(image):
    return {
        "data": base64.b64encode(image.data).decode(),
        "mime_type": image.mime_type,
        "type": "image",
    }


def prompt_text(request: GenerationRequest) -> str:
    """Return the prompt with the images' roles tagged, and the negative prompt folded in.

    The Interactions API has no negative prompt: what to avoid is said in the prompt.
    """
    text = request.prompt.strip()
    if request.negative_prompt:
        text = f"{text} Avoid: {request.negative_prompt.strip().rstrip('.')}."
    if request.task == Task.IMAGE and request.image is not None:
        roles = "<FIRST_FRAME>@Image1"
        if request.last_frame is not None:
            roles += " <LAST_FRAME>@Image2"
        text = f"[# Sources {roles}] {text}"
    elif request.task == Task.REFERENCES and request.reference_images:
        refs = " ".join(
            f"<IMAGE_REF_{n}>@Image{n + 1}" for n in range(len(request.reference_images))
        )
        text = (
            f"[# References {refs}] {text} Use the given images as references for the "
            "video, not as its frames."
        )
    return text


def _images(request):
    if request.task == Task.IMAGE:
        return [image for image in (request.image, request.last_frame) if image is not None]
    if request.task == Task.REFERENCES:
        return list(request.reference_images)
    return []


def request_body(request: GenerationRequest, *, gcs_uri="", vertex_inline=False) -> dict:
    """Return the create body, snake_case, exactly as google-genai 3.6.1 sends it.

    `gcs_uri` (Vertex) is the bucket that uri delivery writes to; Vertex without one
    delivers the video inline (`vertex_inline`).
    """
    response_format = {"type": "video"}
    if request.task not in FROM_VIDEO:
        # An extend, edit or upscale keeps its source's aspect ratio.
        response_format["aspect_ratio"] = request.aspect_ratio
    response_format["resolution"] = request.resolution
    if request.task not in (Task.EDIT, Task.UPSCALE):
        # An edit and an upscale keep their source's length; an extend adds this much.
        response_format["duration"] = f"{request.duration_seconds}s"
    response_format["delivery"] = "inline" if vertex_inline else "uri"
    if gcs_uri:
        response_format["gcs_uri"] = gcs_uri
    generation_config = {"video_config": {"task": request.task.value}}
    if request.seed is not None:
        generation_config["seed"] = request.seed
    body = {
        "model": request.model,
        "background": True,
        "store": True,
        "generation_config": generation_config,
        "response_format": response_format,
    }
    text = prompt_text(request)
    parts = [_image_part(image) for image in _images(request)]
    source = request.source
    if request.task in FROM_VIDEO:
        if source is None:
            raise VeoError("An extend, edit or upscale needs the video it starts from.")
        if source.api == "interactions" and source.reference:
            body["previous_interaction_id"] = source.reference
        elif source.uri:
            parts.append({"mime_type": source.mime_type, "type": "video", "uri": source.uri})
        elif source.path is not None:
            data = base64.b64encode(Path(source.path).read_bytes()).decode()
            parts.append({"data": data, "mime_type": source.mime_type, "type": "video"})
        else:
            raise VeoError("The video to start from is no longer available to send.")
    if parts:
        body["input"] = [
            {"type": "user_input", "content": [*parts, {"text": text, "type": "text"}]}
        ]
    else:
        body["input"] = text
    return body


# --- The answer ------------------------------------------------------------------


def parse_interaction(data: dict, *, fallback_name="") -> Operation:
    """Turn an Interaction resource into an Operation.

    queued, in_progress and idle (and any status this client does not know) are still
    running; completed holds the video or is a failure; the rest are failures.
    """
    name = data.get("id") or fallback_name
    status = str(data.get("status") or "")
    tokens = video_tokens(data)
    if status == "completed":
        video = last_video(data)
        if video is None:
            said = " ".join(text_parts(data))[:300]
            message = "Google finished the generation without a video, so it was not billed."
            if said:
                message += f" Its answer: {said}"
            return Operation(
                name=name,
                done=True,
                error=VeoError(message, billed=False),
                video_tokens=tokens,
                done_at=timestamp(data.get("updated")),
                raw=data,
            )
        sample = Sample(
            uri=video.get("uri") or None,
            data=base64.b64decode(video["data"]) if video.get("data") else None,
            mime_type=video.get("mime_type") or "video/mp4",
        )
        return Operation(
            name=name,
            done=True,
            samples=(sample,),
            video_tokens=tokens,
            done_at=timestamp(data.get("updated")),
            raw=without_video(data),
        )
    if status in FAILED:
        return Operation(
            name=name,
            done=True,
            error=VeoError(failure_message(status, data), billed=False if not tokens else None),
            video_tokens=tokens,
            done_at=timestamp(data.get("updated")),
            raw=data,
        )
    return Operation(name=name, raw=data)


def timestamp(value) -> datetime | None:
    """Return an ISO 8601 time of Google's ("2026-07-23T10:21:43Z") as an aware datetime.

    None when it is missing or malformed, or carries no zone: a time it cannot place is
    no time at all.
    """
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def without_video(data):
    """Return the interaction with inline video bytes replaced by their size.

    The answer is kept in the job's metadata; a whole base64 video belongs in a file.
    """
    steps = []
    for step in data.get("steps") or []:
        if isinstance(step, dict) and isinstance(step.get("content"), list):
            step = {
                **step,
                "content": [
                    {**part, "data": f"<{len(part['data'])} base64 characters omitted>"}
                    if isinstance(part, dict) and isinstance(part.get("data"), str)
                    else part
                    for part in step["content"]
                ],
            }
        steps.append(step)
    return {**data, "steps": steps} if "steps" in data else data


def _model_outputs(data):
    return [
        step
        for step in data.get("steps") or []
        if isinstance(step, dict) and step.get("type") == "model_output"
    ]


def last_video(data):
    """Return the last video part of the interaction's model_output steps, or None."""
    for step in reversed(_model_outputs(data)):
        for part in reversed(step.get("content") or []):
            is_video = isinstance(part, dict) and part.get("type") == "video"
            if is_video and (part.get("uri") or part.get("data")):
                return part
    return None


def text_parts(data):
    return [
        str(part.get("text"))
        for step in _model_outputs(data)
        for part in step.get("content") or []
        if isinstance(part, dict) and part.get("type") == "text" and part.get("text")
    ]


def video_tokens(data) -> int | None:
    """Return usage.output_tokens_by_modality[video].tokens, or None when not reported."""
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    for entry in usage.get("output_tokens_by_modality") or []:
        if isinstance(entry, dict) and entry.get("modality") == "video":
            tokens = entry.get("tokens")
            return tokens if isinstance(tokens, int) and tokens >= 0 else None
    return None


_ENDED = {
    "failed": "Google could not generate the video",
    "cancelled": "Google cancelled the generation",
    "incomplete": "Google stopped the generation before it was complete",
    "budget_exceeded": "Google stopped the generation: it went over its budget",
}


def failure_message(status, data) -> str:
    """Say why Google ended the interaction, in a sentence with Google's own reason."""
    reasons = [
        str(error.get("message"))
        for error in data.get("errors") or []
        if isinstance(error, dict) and error.get("message")
    ]
    for step in _model_outputs(data):
        error = step.get("error")
        if isinstance(error, dict) and error.get("message"):
            reasons.append(str(error["message"]))
    opening = _ENDED.get(status, f"Google ended the generation ({status})")
    reason = " ".join(reasons)[:300].strip()
    return f"{opening}: {reason.rstrip('.')}." if reason else f"{opening}."
