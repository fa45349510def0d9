"""The Interactions client against Google's wire, faked with `responses` (unmatched URLs raise).

Every fault class of the reference's section 10 at the provider: the create is sent once
whatever happens after it leaves, polls are retried, a completed interaction without a video
is a failure, the key goes only to the API's host, a file not ready yet is tried again.
"""

import base64
import json

import google.oauth2.credentials
import pytest
import requests
import responses

from jobs.veo.base import (
    GenerationRequest,
    InputImage,
    Sample,
    SourceVideo,
    SubmitOutcomeUnknown,
    Task,
    VeoError,
)
from jobs.veo.interactions import InteractionsProvider, media_url, parse_interaction

KEY = "AIza-key-that-must-stay-home"
TOKEN = "ya29.token-that-must-stay-home"
GEMINI = "https://generativelanguage.googleapis.com"
CREATE = f"{GEMINI}/v1/interactions"
ID = "v1_ChdOdXRoYXJHTUxxS3l2ZElQMC1UcnlBcxIX"
GET = f"{CREATE}/{ID}"
FILE = f"{GEMINI}/v1/files/vid123:download"
MAX = 10 * 1024 * 1024
PNG = InputImage(data=b"\x89PNG frame", mime_type="image/png")


def provider(**kwargs):
    return InteractionsProvider(api_key=KEY, base_url=GEMINI, **kwargs)


def vertex_provider(**kwargs):
    credentials = google.oauth2.credentials.Credentials(token=TOKEN)
    return InteractionsProvider(credentials=credentials, project="proj", **kwargs)


def text_request(**fields):
    return GenerationRequest(prompt="A fox in snow", model="gemini-omni-1.2-flash", **fields)


def posts(url=CREATE):
    return [c for c in responses.calls if c.request.method == "POST" and c.request.url == url]


def completed(video, *, tokens=57920, **extra):
    answer = {
        "id": ID,
        "status": "completed",
        "object": "interaction",
        "steps": [
            {"type": "user_input", "content": [{"type": "text", "text": "A fox"}]},
            {"type": "thought", "signature": "Ep…", "content": []},
            {"type": "model_output", "content": [video] if video else []},
        ],
        **extra,
    }
    if tokens is not None:
        answer["usage"] = {
            "total_output_tokens": tokens,
            "output_tokens_by_modality": [{"modality": "video", "tokens": tokens}],
        }
    return answer


URI_VIDEO = {"type": "video", "uri": FILE, "mime_type": "video/mp4"}


# --- The create: sent once ----------------------------------------------------------


@responses.activate
def test_a_create_returns_the_interactions_id_and_sends_the_key_as_a_header():
    responses.post(CREATE, json={"id": ID, "status": "in_progress", "object": "interaction"})
    assert provider().submit(text_request()) == ID
    (call,) = posts()
    assert call.request.headers["x-goog-api-key"] == KEY
    assert "key=" not in call.request.url
    body = json.loads(call.request.body)
    assert (body["background"], body["store"]) == (True, True)
    assert body["response_format"]["delivery"] == "uri"


@responses.activate
def test_a_429_with_retry_after_ms_is_retryable_with_googles_wait_and_nothing_billed():
    responses.post(
        CREATE,
        status=429,
        headers={"retry-after-ms": "1500"},
        json={"error": {"code": 429, "message": "Slow down", "status": "RESOURCE_EXHAUSTED"}},
    )
    with pytest.raises(VeoError) as raised:
        provider().submit(text_request())
    assert raised.value.retryable and raised.value.retry_after == 1.5
    assert "nothing was billed" in raised.value.message
    assert len(posts()) == 1


@responses.activate
def test_a_429_with_retry_info_waits_as_long_as_google_asks():
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    responses.post(
        CREATE,
        status=429,
        json={"error": {"code": 429, "message": "Quota", "details": [retry]}},
    )
    with pytest.raises(VeoError) as raised:
        provider().submit(text_request())
    assert raised.value.retryable and raised.value.retry_after == 7.0
    assert len(posts()) == 1


@responses.activate
def test_a_used_up_daily_quota_is_final_and_says_when_it_resets():
    quota = {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel"}],
    }
    responses.post(
        CREATE, status=429, json={"error": {"code": 429, "message": "Quota", "details": [quota]}}
    )
    with pytest.raises(VeoError) as raised:
        provider().submit(text_request())
    assert not raised.value.retryable
    assert "daily Veo quota is used up" in raised.value.message


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
@responses.activate
def test_a_5xx_after_sending_is_outcome_unknown_and_not_sent_again(status):
    responses.post(CREATE, status=status, body="<html>Service Unavailable</html>")
    with pytest.raises(SubmitOutcomeUnknown) as raised:
        provider().submit(text_request())
    assert "may have gone through" in raised.value.message
    assert "not sent again" in raised.value.message
    assert len(posts()) == 1


@responses.activate
def test_a_timeout_after_sending_is_outcome_unknown_and_not_sent_again():
    responses.post(CREATE, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(SubmitOutcomeUnknown):
        provider().submit(text_request())
    assert len(posts()) == 1


@responses.activate
def test_an_answer_without_an_id_is_outcome_unknown():
    responses.post(CREATE, json={"status": "in_progress"})
    with pytest.raises(SubmitOutcomeUnknown):
        provider().submit(text_request())


@pytest.mark.parametrize(
    "envelope",
    [
        {"error": {"code": 400, "message": "Unknown name negative_prompt", "status": "INVALID"}},
        {"error": {"code": "invalid_request", "message": "Unknown name negative_prompt"}},
    ],
)
@responses.activate
def test_both_error_envelopes_give_googles_message_in_a_sentence(envelope):
    responses.post(CREATE, status=400, json=envelope)
    with pytest.raises(VeoError) as raised:
        provider().submit(text_request())
    assert raised.value.message == "Veo refused the request: Unknown name negative_prompt"
    assert not raised.value.retryable


@responses.activate
def test_a_string_code_envelope_keeps_the_canonical_status():
    responses.post(
        CREATE,
        status=403,
        json={"error": {"code": "PERMISSION_DENIED", "message": "Denied"}},
    )
    with pytest.raises(VeoError) as raised:
        provider().submit(text_request())
    assert "GEMINI_API_KEY is not allowed" in raised.value.message


@responses.activate
def test_a_refused_create_names_the_key():
    responses.post(
        CREATE,
        status=400,
        json={"error": {"code": 400, "message": "API key not valid. Please pass a valid API key."}},
    )
    with pytest.raises(VeoError, match="Check GEMINI_API_KEY"):
        provider().submit(text_request())


def test_no_key_is_a_configuration_error_before_anything_is_sent():
    with pytest.raises(VeoError, match="GEMINI_API_KEY"):
        InteractionsProvider(api_key="", base_url=GEMINI)


# --- Polls: free, retried -----------------------------------------------------------


@pytest.mark.parametrize("status", ["queued", "in_progress", "idle", "some_new_status"])
def test_running_and_unknown_statuses_keep_the_job_waiting(status):
    operation = parse_interaction({"id": ID, "status": status})
    assert (operation.name, operation.done, operation.error) == (ID, False, None)


@pytest.mark.parametrize("status", [500, 503])
@responses.activate
def test_a_5xx_on_a_poll_is_retryable(status):
    responses.get(GET, status=status, body="<html>oops</html>")
    with pytest.raises(VeoError) as raised:
        provider().poll(ID)
    assert raised.value.retryable


@responses.activate
def test_a_non_json_poll_answer_is_retryable():
    responses.get(GET, body="<html>proxy</html>", content_type="text/html")
    with pytest.raises(VeoError) as raised:
        provider().poll(ID)
    assert raised.value.retryable


@responses.activate
def test_a_completed_interaction_gives_the_last_video_and_its_tokens():
    earlier = {"type": "video", "uri": f"{GEMINI}/v1/files/old", "mime_type": "video/mp4"}
    answer = completed(URI_VIDEO, tokens=46336)
    answer["steps"].insert(2, {"type": "model_output", "content": [earlier]})
    responses.get(GET, json=answer)
    operation = provider().poll(ID)
    assert operation.done and operation.error is None
    assert operation.samples == (Sample(uri=FILE, mime_type="video/mp4"),)
    assert operation.video_tokens == 46336


def test_an_inline_video_is_decoded():
    data = base64.b64encode(b"\x00\x00\x00 ftypisom").decode()
    operation = parse_interaction(completed({"type": "video", "data": data}, tokens=None))
    assert operation.samples[0].data == b"\x00\x00\x00 ftypisom"
    assert operation.video_tokens is None
    # The answer kept in the job's metadata holds the video's size, not the video.
    kept = operation.raw["steps"][-1]["content"][0]["data"]
    assert kept == f"<{len(data)} base64 characters omitted>"


def test_completed_without_a_video_is_a_failure_that_says_so_and_keeps_googles_text():
    answer = completed(None, tokens=0)
    answer["steps"][-1]["content"] = [{"type": "text", "text": "I cannot make that video."}]
    operation = parse_interaction(answer)
    assert operation.done and not operation.samples
    assert operation.error.message.startswith("Google finished the generation without a video")
    assert "I cannot make that video." in operation.error.message
    assert operation.error.billed is False
    assert operation.raw["steps"][-1]["content"][0]["text"] == "I cannot make that video."


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            {"status": "failed", "errors": [{"code": "internal", "message": "Render crashed."}]},
            "Google could not generate the video: Render crashed.",
        ),
        (
            {
                "status": "failed",
                "steps": [
                    {"type": "model_output", "error": {"code": 3, "message": "Unsafe prompt"}}
                ],
            },
            "Google could not generate the video: Unsafe prompt.",
        ),
        ({"status": "cancelled"}, "Google cancelled the generation."),
        ({"status": "incomplete"}, "Google stopped the generation before it was complete."),
        ({"status": "budget_exceeded"}, "Google stopped the generation: it went over its budget."),
    ],
)
def test_a_failed_interaction_is_a_sentence_with_googles_reason(answer, message):
    operation = parse_interaction({"id": ID, **answer})
    assert operation.done
    assert operation.error.message == message
    assert operation.error.billed is False


# --- Cancel: best effort ------------------------------------------------------------


@responses.activate
def test_cancel_posts_once_to_the_interactions_cancel():
    responses.post(f"{GET}/cancel", json={"id": ID, "status": "cancelled"})
    provider().cancel(ID)
    (call,) = responses.calls
    assert call.request.url == f"{GET}/cancel"
    assert call.request.headers["x-goog-api-key"] == KEY


@responses.activate
def test_a_failed_cancel_is_only_logged():
    responses.post(f"{GET}/cancel", status=400, json={"error": {"code": 400, "message": "done"}})
    provider().cancel(ID)  # no exception
    responses.replace(responses.POST, f"{GET}/cancel", body=requests.ConnectionError("reset"))
    provider().cancel(ID)
    assert len(responses.calls) == 2


# --- Download: the key stays home, a file not ready yet is tried again ---------------


def test_alt_media_is_added_once():
    assert media_url(FILE) == f"{FILE}?alt=media"
    assert media_url(f"{FILE}?x=1") == f"{FILE}?x=1&alt=media"
    assert media_url(f"{FILE}?alt=media") == f"{FILE}?alt=media"


@responses.activate
def test_the_video_is_fetched_from_its_uri_with_alt_media_and_the_key(tmp_path):
    responses.get(f"{FILE}?alt=media", body=b"video-bytes")
    size = provider().download(Sample(uri=FILE), tmp_path / "out.mp4", max_bytes=MAX)
    assert size == 11 and (tmp_path / "out.mp4").read_bytes() == b"video-bytes"
    assert responses.calls[0].request.headers["x-goog-api-key"] == KEY


@responses.activate
def test_a_redirect_to_another_host_does_not_carry_the_key(tmp_path):
    cdn = "https://cdn.example/video/123.mp4"
    responses.get(f"{FILE}?alt=media", status=302, headers={"Location": cdn})
    responses.get(cdn, body=b"video-bytes")
    client = provider(download_hosts=("cdn.example",))
    client.download(Sample(uri=FILE), tmp_path / "out.mp4", max_bytes=MAX)
    api_call, cdn_call = responses.calls
    assert api_call.request.headers["x-goog-api-key"] == KEY
    assert "x-goog-api-key" not in cdn_call.request.headers
    assert "Authorization" not in cdn_call.request.headers


@pytest.mark.parametrize("status", [404, 409, 410])
@responses.activate
def test_a_file_not_there_right_after_completion_is_tried_again_later(status, tmp_path):
    responses.get(f"{FILE}?alt=media", status=status)
    with pytest.raises(VeoError) as raised:
        provider().download(Sample(uri=FILE), tmp_path / "out.mp4", max_bytes=MAX)
    assert raised.value.retryable
    assert "did not have the generated video" in raised.value.message


# --- Source videos: the previous interaction, else the Files API ---------------------


def extend_request(source):
    return text_request(task=Task.EXTEND, source=source)


@responses.activate
def test_an_extend_of_a_kept_interaction_chains_on_its_id():
    responses.get(f"{CREATE}/v1_prev", json={"id": "v1_prev", "status": "completed"})
    responses.post(CREATE, json={"id": ID, "status": "in_progress"})
    source = SourceVideo(job_id="j1", reference="v1_prev", api="interactions")
    provider().submit(extend_request(source))
    body = json.loads(posts()[0].request.body)
    assert body["previous_interaction_id"] == "v1_prev"
    assert body["input"] == "A fox in snow"
    assert body["generation_config"]["video_config"]["task"] == "extend"


def files_api(*, states=("PROCESSING", "ACTIVE"), upload_url=None):
    upload_url = upload_url or f"{GEMINI}/upload/v1/files?upload_id=u1"
    responses.post(
        f"{GEMINI}/upload/v1/files",
        headers={"X-Goog-Upload-URL": upload_url},
        json={},
    )
    file = {"name": "files/vid9", "uri": f"{GEMINI}/v1/files/vid9", "mimeType": "video/mp4"}
    responses.post(upload_url, json={"file": {**file, "state": states[0]}})
    for state in states[1:]:
        responses.get(f"{GEMINI}/v1/files/vid9", json={**file, "state": state})
    return file["uri"]


@responses.activate
def test_an_extend_of_an_interaction_google_no_longer_keeps_uploads_the_local_copy(
    tmp_path, monkeypatch
):
    monkeypatch.setattr("jobs.veo.interactions.FILE_POLL_SECONDS", 0)
    clip = tmp_path / "output.mp4"
    clip.write_bytes(b"local mp4 bytes")
    responses.get(
        f"{CREATE}/v1_gone",
        status=404,
        json={"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}},
    )
    uri = files_api()
    responses.post(CREATE, json={"id": ID, "status": "in_progress"})
    source = SourceVideo(job_id="j1", reference="v1_gone", api="interactions", path=clip)
    assert provider().submit(extend_request(source)) == ID
    start, upload = (
        posts(f"{GEMINI}/upload/v1/files"),
        posts(f"{GEMINI}/upload/v1/files?upload_id=u1"),
    )
    assert start[0].request.headers["X-Goog-Upload-Command"] == "start"
    assert start[0].request.headers["X-Goog-Upload-Header-Content-Length"] == "15"
    assert json.loads(start[0].request.body)["file"]["mime_type"] == "video/mp4"
    assert upload[0].request.headers["X-Goog-Upload-Command"] == "upload, finalize"
    assert upload[0].request.body == b"local mp4 bytes"
    assert "x-goog-api-key" not in upload[0].request.headers
    body = json.loads(posts()[0].request.body)
    assert "previous_interaction_id" not in body
    video, text = body["input"][0]["content"]
    assert video == {"mime_type": "video/mp4", "type": "video", "uri": uri}
    assert text == {"text": "A fox in snow", "type": "text"}
    assert len(posts()) == 1


@responses.activate
def test_an_upload_address_off_the_api_host_is_refused_and_nothing_is_created(tmp_path):
    clip = tmp_path / "output.mp4"
    clip.write_bytes(b"local mp4 bytes")
    files_api(upload_url="https://uploads.example/u1")
    source = SourceVideo(job_id="j1", api="predict", path=clip)
    with pytest.raises(VeoError) as raised:
        provider().submit(extend_request(source))
    assert raised.value.retryable
    assert not posts() and not posts("https://uploads.example/u1")


@responses.activate
def test_a_source_neither_kept_nor_stored_is_refused_before_anything_is_created():
    source = SourceVideo(job_id="j1", api="predict")
    with pytest.raises(VeoError, match="no longer stored here"):
        provider().submit(extend_request(source))
    assert not responses.calls


# --- Vertex: a bearer token, the global location, its own bucket --------------------

VERTEX = "https://aiplatform.googleapis.com/v1beta1/projects/proj/locations/global/interactions"


@responses.activate
def test_vertex_creates_with_a_bearer_token_in_global_and_writes_to_its_bucket():
    responses.post(VERTEX, json={"id": ID, "status": "in_progress"})
    vertex_provider(storage_uri="gs://bucket/omni/").submit(
        text_request(task=Task.IMAGE, image=PNG)
    )
    (call,) = posts(VERTEX)
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "x-goog-api-key" not in call.request.headers
    body = json.loads(call.request.body)
    assert body["response_format"]["gcs_uri"] == "gs://bucket/omni/"
    assert body["response_format"]["delivery"] == "uri"


@responses.activate
def test_a_vertex_gs_video_is_read_through_cloud_storage_with_the_token(tmp_path):
    url = "https://storage.googleapis.com/storage/v1/b/bucket/o/omni%2F1%2Fsample_0.mp4?alt=media"
    responses.get(url, body=b"gcs-bytes")
    sample = Sample(uri="gs://bucket/omni/1/sample_0.mp4")
    vertex_provider().download(sample, tmp_path / "out.mp4", max_bytes=MAX)
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


@responses.activate
def test_an_extend_on_vertex_sends_its_gs_object_without_uploading():
    responses.post(VERTEX, json={"id": ID, "status": "in_progress"})
    source = SourceVideo(job_id="j1", api="predict", uri="gs://bucket/omni/1/sample_0.mp4")
    vertex_provider(storage_uri="gs://bucket/omni/").submit(extend_request(source))
    (call,) = responses.calls
    video = json.loads(call.request.body)["input"][0]["content"][0]
    assert video["uri"] == "gs://bucket/omni/1/sample_0.mp4"
