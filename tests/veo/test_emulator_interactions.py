"""The emulator's Interactions dialect over real HTTP: create, get, cancel, delete, every task."""

import base64
import io
import sys
import time
import types

import av
import pytest
import requests
from PIL import Image

from tests.conftest import API_KEY

KEY = {"x-goog-api-key": API_KEY}
MODEL = "gemini-omni-1.2-flash"
# Small and short, so that each render takes a fraction of a second.
SMALL = {"type": "video", "duration": "3s", "resolution": "360p"}


def png(color="red", size=(64, 36)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def create(emulator, prompt="A red fox in snow", *, task="text_to_video", headers=KEY, **body):
    payload = {
        "model": MODEL,
        "input": prompt,
        "background": True,
        "response_format": SMALL,
        "generation_config": {"video_config": {"task": task}},
        **body,
    }
    url = f"{emulator.base_url}/v1/interactions"
    return requests.post(url, json=payload, headers=headers, timeout=30)


def get(emulator, interaction_id, *, version="v1"):
    url = f"{emulator.base_url}/{version}/interactions/{interaction_id}"
    return requests.get(url, params={"stream": "false"}, headers=KEY, timeout=30)


def finished(emulator, interaction_id, *, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resource = get(emulator, interaction_id).json()
        if resource["status"] != "in_progress":
            return resource
        time.sleep(0.05)
    raise AssertionError(f"{interaction_id} still in progress after {timeout}s")


def video_part(resource):
    output = resource["steps"][-1]
    assert output["type"] == "model_output"
    return output["content"][-1]


def duration_of(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        return container.duration / av.time_base


def frame_size(data: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return stream.width, stream.height


def inline_video(resource) -> bytes:
    return base64.b64decode(video_part(resource)["data"])


def test_background_create_answers_in_progress_and_counts_one_submit(emulator):
    submits = emulator.submits
    response = create(emulator, "background fox")
    assert response.status_code == 200
    resource = response.json()
    assert resource["status"] == "in_progress"
    assert resource["object"] == "interaction"
    assert resource["id"].startswith("v1_")
    assert resource["model"] == MODEL
    assert "steps" not in resource
    assert emulator.submits == submits + 1
    assert emulator.submits_for("background fox") == 1


def test_completed_interaction_holds_a_playable_inline_video_and_video_tokens(emulator):
    resource = finished(emulator, create(emulator, "inline fox").json()["id"])
    assert resource["status"] == "completed"
    assert [step["type"] for step in resource["steps"]] == ["user_input", "thought", "model_output"]
    part = video_part(resource)
    assert part["type"] == "video"
    assert part["mime_type"] == "video/mp4"
    data = inline_video(resource)
    assert duration_of(data) == pytest.approx(3, abs=0.2)
    assert frame_size(data) == (640, 360)
    usage = resource["usage"]
    assert usage["output_tokens_by_modality"] == [{"modality": "video", "tokens": 3 * 1931}]
    assert usage["total_output_tokens"] == 3 * 1931


def test_foreground_create_holds_until_the_video_is_done(emulator):
    response = create(emulator, "foreground fox", background=False)
    resource = response.json()
    assert resource["status"] == "completed"
    assert duration_of(inline_video(resource)) == pytest.approx(3, abs=0.2)


def test_v1beta_serves_the_same_resource(emulator):
    url = f"{emulator.base_url}/v1beta/interactions"
    body = {"model": MODEL, "input": "beta fox", "background": True, "response_format": SMALL}
    created = requests.post(url, json=body, headers=KEY, timeout=30).json()
    assert get(emulator, created["id"], version="v1beta").json()["id"] == created["id"]


def test_cancel_of_a_running_interaction_answers_cancelled(emulator):
    created = create(emulator, "cancel me [latency=60]").json()
    url = f"{emulator.base_url}/v1/interactions/{created['id']}/cancel"
    response = requests.post(url, headers=KEY, timeout=30)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert get(emulator, created["id"]).json()["status"] == "cancelled"


def test_cancel_of_a_finished_interaction_is_refused_in_the_envelope(emulator):
    resource = finished(emulator, create(emulator, "done before cancel").json()["id"])
    url = f"{emulator.base_url}/v1/interactions/{resource['id']}/cancel"
    response = requests.post(url, headers=KEY, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert get(emulator, resource["id"]).json()["status"] == "completed"


def test_delete_answers_empty_and_the_interaction_is_gone(emulator):
    created = create(emulator, "delete me").json()
    url = f"{emulator.base_url}/v1/interactions/{created['id']}"
    response = requests.delete(url, headers=KEY, timeout=30)
    assert (response.status_code, response.json()) == (200, {})
    assert get(emulator, created["id"]).status_code == 404
    assert requests.delete(url, headers=KEY, timeout=30).status_code == 404


def test_unknown_interaction_is_404(emulator):
    response = get(emulator, "v1_doesnotexist")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 403), ({"x-goog-api-key": "wrong"}, 401)],
    ids=["missing", "wrong"],
)
def test_a_bad_key_is_refused_and_nothing_is_counted(emulator, headers, status):
    submits = emulator.submits
    response = create(emulator, "keyless fox", headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["message"]
    assert emulator.submits == submits


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"negative_prompt": "blur"}, 400, 'Unknown name "negative_prompt"'),
        ({"input": []}, 400, "input must not be empty"),
        ({"model": "gemini-omni-9-flash"}, 404, "models/gemini-omni-9-flash"),
        ({"model": "gemini-omni-flash-preview"}, 404, "no longer available"),
        ({"previous_interaction_id": "v1_nothing"}, 404, "v1_nothing"),
        ({"response_format": {"type": "video", "fps": 30}}, 400, 'Unknown name "fps"'),
        ({"response_format": {"type": "video", "duration": "60s"}}, 400, "duration"),
        ({"response_format": {"type": "video", "resolution": "8k"}}, 400, "resolution"),
        ({"generation_config": {"video_config": {"task": "dance"}}}, 400, "task"),
        ({"generation_config": {"seed": "x"}}, 400, "seed"),
        ({"stream": True}, 400, "stream"),
    ],
    ids=[
        "unknown-key",
        "empty-input",
        "unknown-model",
        "retired-model",
        "unknown-previous",
        "unknown-format-key",
        "long-duration",
        "bad-resolution",
        "bad-task",
        "bad-seed",
        "stream",
    ],
)
def test_invalid_creates_are_refused_in_the_envelope_and_not_counted(emulator, body, status, words):
    submits = emulator.submits
    payload = {"model": MODEL, "input": "refused fox", "background": True, **body}
    url = f"{emulator.base_url}/v1/interactions"
    response = requests.post(url, json=payload, headers=KEY, timeout=30)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status
    assert words in error["message"]
    assert emulator.submits == submits


def image_part(color="red"):
    return {"type": "image", "data": png(color), "mime_type": "image/png"}


def text_part(text):
    return {"type": "text", "text": text}


def steps_input(*parts):
    return [{"type": "user_input", "content": list(parts)}]


def upload(emulator, data: bytes, mime_type="video/mp4", *, headers=KEY):
    start = requests.post(
        f"{emulator.base_url}/upload/v1/files",
        json={
            "file": {"display_name": "clip.mp4", "mime_type": mime_type, "size_bytes": len(data)}
        },
        headers={
            **headers,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
            "X-Goog-Upload-Header-Content-Type": mime_type,
        },
        timeout=30,
    )
    assert start.status_code == 200, start.text
    finalize = requests.post(
        start.headers["X-Goog-Upload-URL"],
        data=data,
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        timeout=30,
    )
    assert finalize.status_code == 200, finalize.text
    assert finalize.headers["X-Goog-Upload-Status"] == "final"
    return finalize.json()["file"]


def test_image_to_video_draws_the_first_frame_behind_the_prompt(emulator):
    blue = {"type": "image", "data": png("blue", (640, 360)), "mime_type": "image/png"}
    body = steps_input(blue, image_part("red"), text_part("<FIRST_FRAME> blue harbour"))
    resource = finished(emulator, create(emulator, body, task="image_to_video").json()["id"])
    assert resource["status"] == "completed"
    with av.open(io.BytesIO(inline_video(resource))) as container:
        frame = next(container.decode(video=0)).to_image()
    red, _, blue_value = frame.getpixel((620, 200))
    assert blue_value > 200 and red < 60
    stats = emulator.stats()["operations"][resource["id"]]
    assert (stats["task"], stats["image"], stats["last_frame"]) == ("image_to_video", True, True)


@pytest.mark.parametrize(
    ("task", "parts", "words"),
    [
        ("image_to_video", [], "1 or 2 images"),
        ("image_to_video", [image_part()] * 3, "1 or 2 images"),
        ("reference_to_video", [], "reference images"),
        ("reference_to_video", [image_part()] * 11, "reference images"),
        ("text_to_video", [image_part()], "takes no images"),
        ("extend", [], "exactly one video"),
        ("edit", [], "exactly one video"),
    ],
    ids=[
        "i2v-none",
        "i2v-three",
        "ref-none",
        "ref-eleven",
        "t2v-image",
        "extend-none",
        "edit-none",
    ],
)
def test_a_task_without_the_inputs_it_needs_is_refused(emulator, task, parts, words):
    submits = emulator.submits
    response = create(emulator, steps_input(*parts, text_part("task fox")), task=task)
    assert response.status_code == 400
    assert words in response.json()["error"]["message"]
    assert emulator.submits == submits


def test_reference_to_video_takes_several_images(emulator):
    parts = [image_part(color) for color in ("red", "green", "blue", "white")]
    body = steps_input(*parts, text_part("a woman <IMAGE_REF_0> and a dog <IMAGE_REF_1>"))
    resource = finished(emulator, create(emulator, body, task="reference_to_video").json()["id"])
    assert resource["status"] == "completed"


def test_an_image_that_is_not_what_its_type_says_is_refused(emulator):
    bad = {
        "type": "image",
        "data": base64.b64encode(b"not a png").decode(),
        "mime_type": "image/png",
    }
    response = create(emulator, steps_input(bad, text_part("x")), task="image_to_video")
    assert response.status_code == 400
    assert "input.content[0]" in response.json()["error"]["message"]


def test_extend_chain_grows_and_stops_at_the_models_limit(emulator):
    first = finished(emulator, create(emulator, "chain start").json()["id"])
    response_format = {"type": "video", "duration": "10s"}
    extended = create(
        emulator,
        "chain on",
        task="extend",
        previous_interaction_id=first["id"],
        response_format=response_format,
    )
    second = finished(emulator, extended.json()["id"])
    assert duration_of(inline_video(second)) == pytest.approx(13, abs=0.2)
    assert second["usage"]["total_output_tokens"] == 10 * 1931
    assert frame_size(inline_video(second)) == (640, 360)
    third = finished(
        emulator,
        create(
            emulator,
            "chain more",
            task="extend",
            previous_interaction_id=second["id"],
            response_format=response_format,
        ).json()["id"],
    )
    submits = emulator.submits
    refused = create(
        emulator,
        "chain too far",
        task="extend",
        previous_interaction_id=third["id"],
        response_format=response_format,
    )
    assert refused.status_code == 400
    assert "over gemini-omni-1.2-flash's limit of 30 seconds" in refused.json()["error"]["message"]
    assert emulator.submits == submits


def test_extend_of_an_unfinished_interaction_is_refused(emulator):
    running = create(emulator, "still running [latency=60]").json()
    response = create(emulator, "go on", task="extend", previous_interaction_id=running["id"])
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_files_api_upload_then_processing_then_active(emulator, mp4_bytes):
    file = upload(emulator, mp4_bytes)
    assert file["state"] == "PROCESSING"
    assert file["name"].startswith("files/")
    assert file["sizeBytes"] == str(len(mp4_bytes))
    url = f"{emulator.base_url}/v1/files/{file['name'].removeprefix('files/')}"
    assert requests.get(url, headers=KEY, timeout=30).json()["state"] == "PROCESSING"
    active = requests.get(url, headers=KEY, timeout=30).json()
    assert active["state"] == "ACTIVE"
    assert active["videoMetadata"] == {"videoDuration": "1s"}
    download = requests.get(f"{url}:download", params={"alt": "media"}, headers=KEY, timeout=30)
    assert download.content == mp4_bytes
    assert requests.get(url, timeout=30).status_code == 403


def test_a_file_still_processing_cannot_be_used(emulator, mp4_bytes):
    file = upload(emulator, mp4_bytes)
    video = {"type": "video", "uri": file["uri"], "mime_type": "video/mp4"}
    response = create(emulator, steps_input(video, text_part("too soon")), task="edit")
    assert response.status_code == 400
    assert "not in an ACTIVE state" in response.json()["error"]["message"]


def test_edit_of_an_uploaded_video_keeps_its_length(emulator, mp4_bytes):
    file = upload(emulator, mp4_bytes)
    requests.get(f"{emulator.base_url}/v1/{file['name']}", headers=KEY, timeout=30)
    video = {"type": "video", "uri": file["uri"], "mime_type": "video/mp4"}
    body = steps_input(video, text_part("golden hour"))
    resource = finished(
        emulator,
        create(emulator, body, task="edit", response_format={"type": "video"}).json()["id"],
    )
    assert resource["status"] == "completed"
    assert duration_of(inline_video(resource)) == pytest.approx(1, abs=0.2)
    assert frame_size(inline_video(resource)) == (320, 180)


def test_an_unknown_file_is_refused(emulator):
    uri = f"{emulator.base_url}/v1/files/nosuchfile"
    video = {"type": "video", "uri": uri, "mime_type": "video/mp4"}
    response = create(emulator, steps_input(video, text_part("x")), task="edit")
    assert response.status_code == 403


def test_upscale_needs_a_higher_resolution(emulator):
    source = finished(emulator, create(emulator, "draft to upscale").json()["id"])
    same = create(
        emulator,
        "no higher",
        task="upscale",
        previous_interaction_id=source["id"],
        response_format={"type": "video", "resolution": "360p"},
    )
    assert same.status_code == 400
    assert "not above the video's 360p" in same.json()["error"]["message"]
    upscaled = finished(
        emulator,
        create(
            emulator,
            "up",
            task="upscale",
            previous_interaction_id=source["id"],
            response_format={"type": "video"},
        ).json()["id"],
    )
    assert frame_size(inline_video(upscaled)) == (1280, 720)
    assert upscaled["usage"]["total_output_tokens"] == 3 * 5792


def uri_interaction(emulator, prompt):
    response_format = {**SMALL, "delivery": "uri"}
    resource = finished(
        emulator, create(emulator, prompt, response_format=response_format).json()["id"]
    )
    part = video_part(resource)
    assert "data" not in part
    return part["uri"]


def test_uri_delivery_is_a_file_of_this_host_that_needs_the_key(emulator):
    uri = uri_interaction(emulator, "by uri")
    assert uri.startswith(f"{emulator.base_url}/v1/files/")
    download = requests.get(uri, params={"alt": "media"}, headers=KEY, timeout=30)
    assert download.status_code == 200
    assert duration_of(download.content) == pytest.approx(3, abs=0.2)
    assert requests.get(uri, params={"alt": "media"}, timeout=30).status_code == 403
    assert requests.get(uri, headers=KEY, timeout=30).json()["state"] == "ACTIVE"


def test_expired_uri_answers_404(emulator):
    uri = uri_interaction(emulator, "gone soon [fault=expired]")
    download = requests.get(uri, params={"alt": "media"}, headers=KEY, timeout=30)
    assert download.status_code == 404
    assert download.json()["error"]["status"] == "NOT_FOUND"


def test_redirect_to_another_host_counts_a_key_that_follows(emulator):
    uri = uri_interaction(emulator, "moved [fault=redirect]")
    leaks = emulator.redirect_key_leaks
    hop = requests.get(uri, params={"alt": "media"}, headers=KEY, timeout=30, allow_redirects=False)
    assert hop.status_code == 302
    location = hop.headers["Location"]
    assert location.split("/")[2] != uri.split("/")[2]
    assert requests.get(location, timeout=30).status_code == 200
    assert emulator.redirect_key_leaks == leaks
    requests.get(location, headers=KEY, timeout=30)
    assert emulator.redirect_key_leaks == leaks + 1


def test_429_carries_retry_info_and_retry_after_ms_and_is_not_counted(emulator):
    submits = emulator.submits
    response = create(emulator, "busy [fault=submit-429]")
    assert response.status_code == 429
    assert response.headers["retry-after-ms"] == "2000"
    error = response.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    retry = [d for d in error["details"] if d["@type"].endswith("RetryInfo")]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]
    assert emulator.submits == submits
    assert emulator.requests_for("busy [fault=submit-429]") == 1


def test_daily_quota_names_the_per_day_quota(emulator):
    response = create(emulator, "enough today [fault=daily-quota]")
    assert response.status_code == 429
    violation = response.json()["error"]["details"][0]["violations"][0]
    assert violation["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel"


def test_500_after_accepting_is_counted_and_the_interaction_runs(emulator):
    submits = emulator.submits
    response = create(emulator, "accepted anyway [fault=submit-500-accepted]")
    assert response.status_code == 500
    assert response.json()["error"]["status"] == "INTERNAL"
    assert emulator.submits == submits + 1
    [name] = [
        name
        for name, op in emulator.stats()["operations"].items()
        if op["prompt"].startswith("accepted anyway")
    ]
    assert finished(emulator, name)["status"] == "completed"


def test_failed_interaction_carries_errors_and_model_output_error(emulator):
    resource = finished(emulator, create(emulator, "broken [fault=done-error]").json()["id"])
    assert resource["status"] == "failed"
    assert resource["errors"][0]["message"]
    assert isinstance(resource["errors"][0]["code"], str)
    output = resource["steps"][-1]
    assert output["content"] == []
    assert output["error"]["code"] == 13
    assert resource["usage"]["total_output_tokens"] == 0


def test_completed_without_a_video_bills_no_tokens(emulator):
    resource = finished(emulator, create(emulator, "filtered [fault=safety]").json()["id"])
    assert resource["status"] == "completed"
    assert resource["steps"][-1]["content"] == []
    assert resource["usage"]["total_output_tokens"] == 0


def test_no_response_is_incomplete(emulator):
    resource = finished(emulator, create(emulator, "cut short [fault=no-response]").json()["id"])
    assert resource["status"] == "incomplete"


def test_slow_stays_in_progress_and_a_poll_can_fail_once(emulator):
    slow = create(emulator, "slow one [fault=slow]").json()
    time.sleep(0.5)
    assert get(emulator, slow["id"]).json()["status"] == "in_progress"
    flaky = create(emulator, "flaky poll [fault=poll-503-once]").json()
    deadline = time.monotonic() + 30
    answers = []
    while time.monotonic() < deadline and 200 not in answers[-1:]:
        response = get(emulator, flaky["id"])
        if response.status_code == 200 and response.json()["status"] == "in_progress":
            time.sleep(0.05)
            continue
        answers.append(response.status_code)
    assert answers == [503, 200]


def test_a_transcription_model_without_the_transcribe_module_is_404(emulator, monkeypatch):
    monkeypatch.setitem(sys.modules, "jobs.veo.emulator.transcribe", None)
    payload = {"model": "gemini-3.5-transcribe", "input": "x"}
    url = f"{emulator.base_url}/v1/interactions"
    response = requests.post(url, json=payload, headers=KEY, timeout=30)
    assert response.status_code == 404
    assert "gemini-3.5-transcribe" in response.json()["error"]["message"]


def test_a_transcription_model_is_answered_by_the_transcribe_module(emulator, monkeypatch):
    seen = []

    def answer(body):
        seen.append(body)
        return {"id": "v1_transcript", "status": "completed", "object": "interaction"}

    module = types.ModuleType("jobs.veo.emulator.transcribe")
    module.answer = answer
    monkeypatch.setitem(sys.modules, "jobs.veo.emulator.transcribe", module)
    submits = emulator.submits
    payload = {"model": "gemini-3.5-transcribe", "input": "narration"}
    url = f"{emulator.base_url}/v1/interactions"
    response = requests.post(url, json=payload, headers=KEY, timeout=30)
    assert response.json() == {
        "id": "v1_transcript",
        "status": "completed",
        "object": "interaction",
    }
    assert seen == [payload]
    assert emulator.submits == submits


def test_an_ended_interaction_is_announced_to_the_hooks_module(emulator, monkeypatch):
    events = []
    module = types.ModuleType("jobs.veo.emulator.hooks")
    module.notify = lambda event_type, data: events.append((event_type, data))
    monkeypatch.setitem(sys.modules, "jobs.veo.emulator.hooks", module)
    done = finished(emulator, create(emulator, "announced").json()["id"])
    failed = finished(
        emulator, create(emulator, "announced failure [fault=done-error]").json()["id"]
    )
    cancelled = create(emulator, "announced never [latency=60]").json()
    requests.post(
        f"{emulator.base_url}/v1/interactions/{cancelled['id']}/cancel", headers=KEY, timeout=30
    )
    deadline = time.monotonic() + 10
    while len(events) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert sorted(events) == sorted(
        [
            ("interaction.completed", {"id": done["id"]}),
            ("interaction.failed", {"id": failed["id"]}),
        ]
    )


def vertex_url(emulator, location="global", rest=""):
    return (
        f"{emulator.base_url}/v1beta1/projects/emulator-project/locations/{location}"
        f"/interactions{rest}"
    )


@pytest.fixture
def bearer(emulator):
    token = "ya29.emulator-interactions-test"
    emulator.operations.add_token(token, time.time() + 3600)
    return {"Authorization": f"Bearer {token}"}


def test_vertex_interactions_take_a_granted_bearer_token(emulator, bearer):
    body = {"model": MODEL, "input": "vertex fox", "background": True, "response_format": SMALL}
    assert requests.post(vertex_url(emulator), json=body, timeout=30).status_code == 401
    forged = {"Authorization": "Bearer ya29.forged"}
    assert (
        requests.post(vertex_url(emulator), json=body, headers=forged, timeout=30).status_code
        == 401
    )
    created = requests.post(vertex_url(emulator), json=body, headers=bearer, timeout=30).json()
    assert created["status"] == "in_progress"
    # The two APIs keep their interactions apart.
    assert get(emulator, created["id"]).status_code == 404
    url = vertex_url(emulator, rest=f"/{created['id']}")
    deadline = time.monotonic() + 30
    while (resource := requests.get(url, headers=bearer, timeout=30).json())[
        "status"
    ] == "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert resource["status"] == "completed"
    assert inline_video(resource)[4:8] == b"ftyp"


def test_vertex_is_global_only_and_uri_delivery_needs_a_bucket(emulator, bearer):
    body = {"model": MODEL, "input": "regional", "background": True, "response_format": SMALL}
    regional = requests.post(
        vertex_url(emulator, "us-central1"), json=body, headers=bearer, timeout=30
    )
    assert regional.status_code == 404
    assert "global" in regional.json()["error"]["message"]
    body["response_format"] = {**SMALL, "delivery": "uri"}
    bucketless = requests.post(vertex_url(emulator), json=body, headers=bearer, timeout=30)
    assert bucketless.status_code == 400
    assert "gcs_uri" in bucketless.json()["error"]["message"]


def test_vertex_uri_delivery_is_read_from_cloud_storage(emulator, bearer):
    response_format = {**SMALL, "delivery": "uri", "gcs_uri": "gs://studio-out/videos/"}
    body = {
        "model": MODEL,
        "input": "bucketed",
        "background": True,
        "response_format": response_format,
    }
    created = requests.post(vertex_url(emulator), json=body, headers=bearer, timeout=30).json()
    url = vertex_url(emulator, rest=f"/{created['id']}")
    deadline = time.monotonic() + 30
    while (resource := requests.get(url, headers=bearer, timeout=30).json())[
        "status"
    ] == "in_progress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    uri = video_part(resource)["uri"]
    assert uri == f"gs://studio-out/videos/{created['id']}/sample_0.mp4"
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    media = requests.get(
        f"{emulator.base_url}/storage/v1/b/{bucket}/o/{requests.utils.quote(name, safe='')}",
        params={"alt": "media"},
        headers=bearer,
        timeout=30,
    )
    assert media.status_code == 200
    assert duration_of(media.content) == pytest.approx(3, abs=0.2)


def test_a_streamed_get_is_refused(emulator):
    created = create(emulator, "no streams").json()
    url = f"{emulator.base_url}/v1/interactions/{created['id']}"
    response = requests.get(url, params={"stream": "true"}, headers=KEY, timeout=30)
    assert response.status_code == 400
    assert "stream" in response.json()["error"]["message"]
