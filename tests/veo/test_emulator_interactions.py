"""The emulator's Interactions dialect over real HTTP: create, get, cancel, delete, every task."""

import base64
import io
import time

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
