"""Our Interactions create is the one google-genai 3.6.1 sends, task by task.

The SDK is given a mock transport (reference section 11), so it sends nothing; the body,
URL and auth header it would have sent are compared with what the studio's client sends
for the same GenerationRequest, on a Gemini API key and on Vertex AI.
"""

import base64
import json

import google.oauth2.credentials
import httpx2
import pytest
import responses
from google import genai
from google.genai import types

from jobs.veo.base import GenerationRequest, InputImage, SourceVideo, Task
from jobs.veo.interactions import InteractionsProvider, prompt_text, request_body

KEY = "test-key-not-secret"
TOKEN = "ya29.test-token"
MODEL = "gemini-omni-1.2-flash"
GEMINI = "https://generativelanguage.googleapis.com"
VERTEX = "https://aiplatform.googleapis.com"
VERTEX_PATH = "/v1beta1/projects/p/locations/global/interactions"
GCS = "gs://bucket/omni/"
PNG = InputImage(data=b"\x89PNG first", mime_type="image/png")
JPEG = InputImage(data=b"\xff\xd8 last", mime_type="image/jpeg")
FILE_URI = f"{GEMINI}/v1beta/files/abc123"


def sdk_capture(*, vertex=False):
    """Return (client, seen): an SDK client whose requests are recorded, never sent."""
    seen = []

    def handler(request):
        seen.append(request)
        return httpx2.Response(200, json={"id": "v1_test", "status": "in_progress"})

    http = types.HttpOptions(httpx_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    if vertex:
        credentials = google.oauth2.credentials.Credentials(token=TOKEN)
        client = genai.Client(
            vertexai=True,
            project="p",
            location="global",
            credentials=credentials,
            http_options=http,
        )
    else:
        client = genai.Client(api_key=KEY, http_options=http)
    return client, seen


def b64(image):
    return base64.b64encode(image.data).decode()


def image_part(image):
    return {"type": "image", "data": b64(image), "mime_type": image.mime_type}


def sdk_call(request, *, delivery="uri", gcs_uri=""):
    """Return the interactions.create arguments a person would write with the SDK."""
    response_format = {"type": "video", "delivery": delivery, "resolution": request.resolution}
    if request.task not in (Task.EXTEND, Task.EDIT, Task.UPSCALE):
        response_format["aspect_ratio"] = request.aspect_ratio
    if request.task not in (Task.EDIT, Task.UPSCALE):
        response_format["duration"] = f"{request.duration_seconds}s"
    if gcs_uri:
        response_format["gcs_uri"] = gcs_uri
    generation_config = {"video_config": {"task": request.task.value}}
    if request.seed is not None:
        generation_config["seed"] = request.seed
    kwargs = {
        "model": request.model,
        "background": True,
        "store": True,
        "generation_config": generation_config,
        "response_format": response_format,
    }
    images = {
        Task.IMAGE: [i for i in (request.image, request.last_frame) if i],
        Task.REFERENCES: list(request.reference_images),
    }.get(request.task, [])
    parts = [image_part(image) for image in images]
    source = request.source
    if source and source.api == "interactions":
        kwargs["previous_interaction_id"] = source.reference
    elif source:
        parts.append({"type": "video", "uri": source.uri, "mime_type": source.mime_type})
    text = prompt_text(request)
    kwargs["input"] = [*parts, {"type": "text", "text": text}] if parts else text
    return kwargs


def request(task, **fields):
    fields = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 8, **fields}
    return GenerationRequest(
        prompt="A red fox trots through fresh snow", model=MODEL, task=task, **fields
    )


PREVIOUS = SourceVideo(job_id="j1", reference="v1_ChdPREVIOUS", api="interactions")
UPLOADED = SourceVideo(job_id="j1", api="predict", uri=FILE_URI)
ON_GCS = SourceVideo(job_id="j1", api="predict", uri="gs://bucket/omni/j1/sample_0.mp4")

CASES = {
    "text": request(Task.TEXT, seed=42),
    "text with negative prompt": request(Task.TEXT, negative_prompt="dialogue, music"),
    "first frame": request(Task.IMAGE, image=PNG),
    "first and last frame": request(Task.IMAGE, image=PNG, last_frame=JPEG),
    "references": request(Task.REFERENCES, reference_images=(PNG, JPEG, PNG)),
    "extend by previous id": request(Task.EXTEND, source=PREVIOUS),
    "extend by uploaded file": request(Task.EXTEND, source=UPLOADED),
    "edit by previous id": request(Task.EDIT, source=PREVIOUS),
    "edit by uploaded file": request(Task.EDIT, source=UPLOADED),
    "upscale": request(Task.UPSCALE, source=PREVIOUS, resolution="4k"),
}


def ours(provider, generation):
    """Return (method, url, headers, body) the studio's client sends for generation."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        # Asked first, for free: Google still keeps the previous interaction.
        previous = {"id": PREVIOUS.reference, "status": "completed"}
        mock.get(f"{provider.interactions_url}/{PREVIOUS.reference}", json=previous)
        mock.post(provider.interactions_url, json={"id": "v1_test", "status": "in_progress"})
        provider.submit(generation)
        (call,) = [c for c in mock.calls if c.request.method == "POST"]
    return (
        call.request.method,
        call.request.url,
        call.request.headers,
        json.loads(call.request.body),
    )


@pytest.mark.parametrize("case", CASES)
def test_the_gemini_api_create_is_the_sdks(case):
    generation = CASES[case]
    client, seen = sdk_capture()
    client.interactions.create(**sdk_call(generation))
    (sent,) = seen
    provider = InteractionsProvider(api_key=KEY, base_url=GEMINI)
    method, url, headers, body = ours(provider, generation)
    assert request_body(generation) == json.loads(sent.content) == body
    assert (method, url) == (sent.method, str(sent.url)) == ("POST", f"{GEMINI}/v1/interactions")
    assert headers["x-goog-api-key"] == sent.headers["x-goog-api-key"] == KEY
    assert "Authorization" not in headers


VERTEX_CASES = {
    **{name: CASES[name] for name in ("text", "first and last frame", "references", "upscale")},
    "extend from its gs:// object": request(Task.EXTEND, source=ON_GCS),
    "edit from its gs:// object": request(Task.EDIT, source=ON_GCS),
}


@pytest.mark.parametrize("case", VERTEX_CASES)
def test_the_vertex_create_is_the_sdks(case):
    generation = VERTEX_CASES[case]
    client, seen = sdk_capture(vertex=True)
    client.interactions.create(**sdk_call(generation, gcs_uri=GCS))
    (sent,) = seen
    credentials = google.oauth2.credentials.Credentials(token=TOKEN)
    provider = InteractionsProvider(
        credentials=credentials, project="p", base_url=VERTEX, storage_uri=GCS
    )
    method, url, headers, body = ours(provider, generation)
    assert request_body(generation, gcs_uri=GCS) == json.loads(sent.content) == body
    assert (method, url) == (sent.method, str(sent.url)) == ("POST", f"{VERTEX}{VERTEX_PATH}")
    assert headers["Authorization"] == sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-goog-api-key" not in headers


def test_vertex_without_a_bucket_asks_for_the_video_inline_as_the_sdk_would():
    generation = CASES["text"]
    client, seen = sdk_capture(vertex=True)
    client.interactions.create(**sdk_call(generation, delivery="inline"))
    credentials = google.oauth2.credentials.Credentials(token=TOKEN)
    provider = InteractionsProvider(credentials=credentials, project="p", base_url=VERTEX)
    assert ours(provider, generation)[3] == json.loads(seen[0].content)


def test_the_vertex_quota_project_is_named_as_the_sdk_names_it():
    credentials = google.oauth2.credentials.Credentials(token=TOKEN, quota_project_id="billing-p")
    client, seen = sdk_capture(vertex=True)
    client._api_client._credentials = credentials  # the SDK reads the quota project here
    client.interactions.create(**sdk_call(CASES["text"], gcs_uri=GCS))
    provider = InteractionsProvider(
        credentials=credentials, project="p", base_url=VERTEX, storage_uri=GCS
    )
    headers = ours(provider, CASES["text"])[2]
    assert headers["x-goog-user-project"] == seen[0].headers["x-goog-user-project"] == "billing-p"


def test_the_cancel_and_the_get_go_where_the_sdk_sends_them():
    client, seen = sdk_capture()
    client.interactions.get(id="v1_test")
    client.interactions.cancel(id="v1_test")
    provider = InteractionsProvider(api_key=KEY, base_url=GEMINI)
    with responses.RequestsMock() as mock:
        mock.get(f"{GEMINI}/v1/interactions/v1_test", json={"id": "v1_test", "status": "queued"})
        mock.post(f"{GEMINI}/v1/interactions/v1_test/cancel", json={"id": "v1_test"})
        provider.poll("v1_test")
        provider.cancel("v1_test")
        ours_sent = [(c.request.method, c.request.url.split("?")[0]) for c in mock.calls]
    assert ours_sent == [(r.method, str(r.url).split("?")[0]) for r in seen]
