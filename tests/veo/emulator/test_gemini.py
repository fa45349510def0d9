import base64
import io
import json
import logging
import socket
import struct
import threading
import time

import av
import pytest
import requests
from PIL import Image

from jobs.media import probe
from jobs.veo.emulator import Emulator
from jobs.veo.emulator.errors import ApiError
from jobs.veo.emulator.gemini import parse_submit
from jobs.veo.emulator.media import pad_with_free_box, render_mp4

KEY = {"x-goog-api-key": "test-key"}
FAST = "veo-3.1-fast-generate-preview"
MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def encoded_image(image_format="PNG", color="red"):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), color).save(buffer, format=image_format)
    return base64.b64encode(buffer.getvalue()).decode()


PNG = {"bytesBase64Encoded": encoded_image(), "mimeType": "image/png"}


@pytest.fixture
def emulator(tmp_path):
    with Emulator(latency=0, data_dir=tmp_path) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def refusing(tmp_path_factory):
    """Return one emulator for the tests whose requests are all refused."""
    with Emulator(latency=0, data_dir=tmp_path_factory.mktemp("refusing")) as emulator:
        yield emulator


def submit(emulator, prompt, *, model=FAST, headers=KEY, instance=None, **parameters):
    body = {
        "instances": [instance if instance is not None else {"prompt": prompt}],
        "parameters": {"durationSeconds": 4, **parameters},
    }
    url = f"{emulator.base_url}/v1beta/models/{model}:predictLongRunning"
    return requests.post(url, json=body, headers=headers, timeout=10)


def poll(emulator, name, *, base_url=None):
    return requests.get(f"{base_url or emulator.base_url}/v1beta/{name}", headers=KEY, timeout=10)


def wait_until_done(emulator, name, *, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = poll(emulator, name)
        if response.status_code == 200 and response.json().get("done"):
            return response.json()
        time.sleep(0.05)
    raise AssertionError(f"{name} was not done after {timeout} s")


def video_uri(operation):
    return operation["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]


def submit_and_finish(emulator, prompt, **parameters):
    response = submit(emulator, prompt, **parameters)
    assert response.status_code == 200, response.text
    return wait_until_done(emulator, response.json()["name"])


def assert_error(response, code, status, *fragments):
    assert response.status_code == code, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (code, status)
    for fragment in fragments:
        assert fragment in error["message"]
    return error


def test_submit_poll_and_download_a_playable_video(emulator):
    response = submit(emulator, "A heron over a misty lake [latency=1]")

    assert response.status_code == 200
    name = response.json()["name"]
    assert response.json() == {"name": name}
    model, opid = name.removeprefix("models/").split("/operations/")
    assert model == FAST
    assert len(opid) == 12 and opid.isalnum() and opid.islower()

    pending = poll(emulator, name)
    assert pending.status_code == 200
    assert pending.json() == {"name": name}

    operation = wait_until_done(emulator, name)
    assert operation["response"]["@type"] == (
        "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
    )
    uri = video_uri(operation)
    assert uri.startswith(f"{emulator.base_url}/v1beta/files/")
    assert uri.endswith(":download?alt=media")

    download = requests.get(uri, headers=KEY, timeout=10)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "video/mp4"
    assert int(download.headers["Content-Length"]) == len(download.content)
    with av.open(io.BytesIO(download.content)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 1280, 720)
        assert container.streams.audio[0].codec_context.name == "aac"
        assert abs(container.duration / av.time_base - 4) <= 0.2


def test_video_uri_uses_the_host_the_client_called(emulator):
    name = submit(emulator, "Host check").json()["name"]
    localhost_url = emulator.base_url.replace("127.0.0.1", "localhost")
    deadline = time.monotonic() + 15
    while not (operation := poll(emulator, name, base_url=localhost_url).json()).get("done"):
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert video_uri(operation).startswith(f"{localhost_url}/v1beta/files/")


def test_latency_marker_overrides_the_server_latency(tmp_path):
    with Emulator(latency=600, data_dir=tmp_path) as emulator:
        slow_name = submit(emulator, "Default latency").json()["name"]
        operation = submit_and_finish(emulator, "No waiting [latency=0]")

        assert (
            "uri" in operation["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]
        )
        assert poll(emulator, slow_name).json() == {"name": slow_name}


def test_models_lists_the_served_veo_models(emulator):
    response = requests.get(f"{emulator.base_url}/v1beta/models", headers=KEY, timeout=10)

    assert response.status_code == 200
    names = {model["name"] for model in response.json()["models"]}
    assert names == {
        "models/veo-3.1-generate-preview",
        "models/veo-3.1-fast-generate-preview",
        "models/veo-3.1-lite-generate-preview",
    }
    for model in response.json()["models"]:
        assert model["supportedGenerationMethods"] == ["predictLongRunning"]


@pytest.mark.parametrize(
    ("instance", "parameters", "field"),
    [
        ({}, {}, "prompt"),
        ({"prompt": None}, {}, "prompt"),
        ({"prompt": "   "}, {}, "prompt"),
        ({"prompt": 42}, {}, "prompt"),
        ({"prompt": "word " * 1025}, {}, "prompt"),
        ({"prompt": "x" * 4097}, {}, "prompt"),
        ({"prompt": "ok"}, {"aspectRatio": "4:3"}, "aspectRatio"),
        ({"prompt": "ok"}, {"resolution": "480p"}, "resolution"),
        ({"prompt": "ok"}, {"durationSeconds": 5}, "durationSeconds"),
        ({"prompt": "ok"}, {"durationSeconds": "5"}, "durationSeconds"),
        ({"prompt": "ok"}, {"resolution": "1080p", "durationSeconds": 4}, "durationSeconds"),
        ({"prompt": "ok"}, {"resolution": "4k", "durationSeconds": 6}, "durationSeconds"),
        ({"prompt": "ok"}, {"sampleCount": 2}, "sampleCount"),
        ({"prompt": "ok"}, {"generateAudio": True}, "generateAudio"),
        ({"prompt": "ok"}, {"personGeneration": "allow_adult"}, "personGeneration"),
        ({"prompt": "ok", "mask": {}}, {}, "mask"),
    ],
)
def test_invalid_submits_are_refused_naming_the_field(refusing, instance, parameters, field):
    response = submit(refusing, None, instance=instance, **parameters)

    assert_error(response, 400, "INVALID_ARGUMENT", field)
    assert refusing.submits == 0


def test_4k_is_refused_on_lite(refusing):
    response = submit(
        refusing, "ok", model="veo-3.1-lite-generate-preview", resolution="4k", durationSeconds=8
    )

    assert_error(response, 400, "INVALID_ARGUMENT", "resolution")


def test_malformed_json_is_refused(refusing):
    url = f"{refusing.base_url}/v1beta/models/{FAST}:predictLongRunning"
    response = requests.post(url, data=b"{not json", headers=KEY, timeout=10)

    assert_error(response, 400, "INVALID_ARGUMENT", "Invalid JSON payload")


@pytest.mark.parametrize("seconds", [4, "6", 8])
def test_duration_is_accepted_as_number_or_numeric_string(emulator, seconds):
    response = submit(emulator, "Duration [fault=no-response]", durationSeconds=seconds)

    assert response.status_code == 200, response.text


def test_prompt_is_optional_when_an_image_is_given(emulator):
    image = {"bytesBase64Encoded": "iVBORw0KGgo=", "mimeType": "image/png"}

    response = submit(emulator, None, instance={"image": image}, personGeneration="allow_adult")

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("form", "image_format"), [("sdk", "PNG"), ("sdk", "JPEG"), ("sdk", "WEBP"), ("docs", "PNG")]
)
def test_image_and_last_frame_are_accepted_in_the_sdk_and_the_docs_form(
    emulator, form, image_format
):
    data, mime_type = encoded_image(image_format), MIME_TYPES[image_format]
    if form == "sdk":
        image = {"bytesBase64Encoded": data, "mimeType": mime_type}
    else:
        image = {"inlineData": {"mimeType": mime_type, "data": data}}
    instance = {"prompt": "Pan across [fault=no-response]", "image": image, "lastFrame": image}

    response = submit(emulator, None, instance=instance, personGeneration="allow_adult")

    assert response.status_code == 200, response.text
    [operation] = emulator.stats()["operations"].values()
    assert (operation["image"], operation["last_frame"]) == (True, True)
    assert operation["parameters"] == {"durationSeconds": 4, "personGeneration": "allow_adult"}


def test_image_is_drawn_behind_the_prompt_in_every_frame(emulator):
    image = {"bytesBase64Encoded": encoded_image(color=(200, 30, 30)), "mimeType": "image/png"}
    response = submit(
        emulator, None, instance={"prompt": "Red", "image": image}, personGeneration="allow_adult"
    )
    uri = video_uri(wait_until_done(emulator, response.json()["name"]))

    download = requests.get(uri, headers=KEY, timeout=10)

    with av.open(io.BytesIO(download.content)) as container:
        frames = container.decode(video=0)
        first, second = next(frames).to_image(), next(frames).to_image()
    # The 64x36 picture is scaled up to fill the frame; sample away from the text and the bar.
    for frame in (first, second):
        red, green, blue = frame.getpixel((960, 400))
        assert red > 150 and green < 80 and blue < 80


@pytest.mark.parametrize(
    ("instance", "field"),
    [
        (
            {
                "prompt": "ok",
                "image": {"bytesBase64Encoded": "not base64!", "mimeType": "image/png"},
            },
            "instances[0].image.bytesBase64Encoded",
        ),
        (
            {
                "prompt": "ok",
                "image": {
                    "bytesBase64Encoded": base64.b64encode(b"plain text").decode(),
                    "mimeType": "image/png",
                },
            },
            "instances[0].image.bytesBase64Encoded",
        ),
        (
            {
                "prompt": "ok",
                "image": {"bytesBase64Encoded": encoded_image("JPEG"), "mimeType": "image/png"},
            },
            "instances[0].image.bytesBase64Encoded",
        ),
        (
            {"prompt": "ok", "image": {**PNG, "mimeType": "image/gif"}},
            "instances[0].image.mimeType",
        ),
        (
            {"prompt": "ok", "image": {"bytesBase64Encoded": PNG["bytesBase64Encoded"]}},
            "instances[0].image.mimeType",
        ),
        (
            {"prompt": "ok", "image": {"gcsUri": "gs://bucket/frame.png", "mimeType": "image/png"}},
            "instances[0].image.gcsUri",
        ),
        (
            {"prompt": "ok", "image": {"inlineData": {"mimeType": "image/png"}}},
            "instances[0].image.inlineData.data",
        ),
        ({"prompt": "ok", "image": PNG["bytesBase64Encoded"]}, "instances[0].image"),
        ({"prompt": "ok", "lastFrame": PNG}, "instances[0].lastFrame"),
        (
            {"prompt": "ok", "image": PNG, "lastFrame": {**PNG, "bytesBase64Encoded": ""}},
            "instances[0].lastFrame.bytesBase64Encoded",
        ),
    ],
)
def test_invalid_images_are_refused_naming_the_field(refusing, instance, field):
    response = submit(refusing, None, instance=instance, personGeneration="allow_adult")

    assert_error(response, 400, "INVALID_ARGUMENT", field)
    assert refusing.submits == 0


def test_images_over_20_mb_are_refused():
    data = b"\x89PNG\r\n\x1a\n" + bytes(20 * 1024 * 1024)
    image = {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": "image/png"}
    body = {"instances": [{"image": image}], "parameters": {"personGeneration": "allow_adult"}}

    with pytest.raises(ApiError) as caught:
        parse_submit(FAST, json.dumps(body).encode())

    assert caught.value.code == 400
    assert "instances[0].image" in caught.value.message
    assert "20 MB" in caught.value.message


def test_image_to_video_allows_only_allow_adult(refusing):
    response = submit(
        refusing, None, instance={"prompt": "ok", "image": PNG}, personGeneration="allow_all"
    )

    assert_error(response, 400, "INVALID_ARGUMENT", "personGeneration", "allow_adult")


def test_frame_size_follows_resolution_and_aspect_ratio():
    def size(**parameters):
        body = {"instances": [{"prompt": "ok"}], "parameters": parameters}
        request = parse_submit(FAST, json.dumps(body).encode())
        return request.width, request.height, request.seconds

    assert size() == (1280, 720, 8)
    assert size(aspectRatio="9:16", durationSeconds=4) == (720, 1280, 4)
    assert size(resolution="1080p", durationSeconds=8) == (1920, 1080, 8)
    assert size(resolution="4k", aspectRatio="9:16") == (1080, 1920, 8)


def test_retired_models_are_no_longer_available(refusing):
    for model in ("veo-2.0-generate-001", "veo-3.0-generate-001", "veo-3.0-fast-generate-001"):
        response = submit(refusing, "ok", model=model)

        assert_error(response, 404, "NOT_FOUND", f"models/{model} is no longer available")
    assert refusing.submits == 0


def test_unknown_model_is_not_found(refusing):
    response = submit(refusing, "ok", model="veo-9-imaginary")

    assert_error(
        response,
        404,
        "NOT_FOUND",
        "models/veo-9-imaginary is not found for API version v1beta",
        "Call ListModels",
    )


def test_missing_key_is_permission_denied(refusing):
    response = submit(refusing, "ok", headers={})

    assert_error(response, 403, "PERMISSION_DENIED", "unregistered callers")
    assert refusing.submits == 0


def test_wrong_key_is_refused_when_the_emulator_has_one(tmp_path):
    with Emulator(latency=0, data_dir=tmp_path, api_key="right-key") as emulator:
        response = submit(emulator, "ok", headers={"x-goog-api-key": "wrong-key"})

        error = assert_error(response, 400, "INVALID_ARGUMENT", "API key not valid")
        assert error["details"][0]["reason"] == "API_KEY_INVALID"
        models = requests.get(f"{emulator.base_url}/v1beta/models?key=right-key", timeout=10)
        assert models.status_code == 200


def test_api_key_never_reaches_the_log(emulator, caplog):
    caplog.set_level(logging.INFO, logger="jobs.veo.emulator")

    requests.get(f"{emulator.base_url}/v1beta/models?key=very-secret-key", timeout=10)

    assert "key=<redacted>" in caplog.text
    assert "very-secret-key" not in caplog.text


def test_submits_are_counted_per_accepted_request(emulator):
    submit(emulator, "first clip [fault=no-response]")
    submit(emulator, "second clip [fault=no-response]")
    submit(emulator, "refused clip [fault=submit-503]")

    stats = requests.get(f"{emulator.base_url}/emulator/stats", timeout=10).json()
    assert emulator.submits == 2
    assert stats["submits"] == 2
    assert sorted(op["prompt"] for op in stats["operations"].values()) == [
        "first clip [fault=no-response]",
        "second clip [fault=no-response]",
    ]
    assert all(op["submits"] == 1 for op in stats["operations"].values())
    for op in stats["operations"].values():
        assert (op["dialect"], op["image"], op["last_frame"]) == ("gemini", False, False)
        assert op["parameters"] == {"durationSeconds": 4}
    assert emulator.submits_for("first clip") == 1
    assert emulator.submits_for("refused clip") == 0


def test_unknown_fault_marker_is_refused(refusing):
    response = submit(refusing, "typo [fault=submit-42]")

    assert_error(response, 400, "INVALID_ARGUMENT", "submit-42")


def test_rate_limit_asks_to_retry_after_two_seconds(refusing):
    response = submit(refusing, "busy [fault=submit-429]")

    error = assert_error(response, 429, "RESOURCE_EXHAUSTED", "exceeded your current quota")
    assert response.headers["Retry-After"] == "2"
    details = {detail["@type"].rpartition(".")[2]: detail for detail in error["details"]}
    assert details["RetryInfo"]["retryDelay"] == "2s"
    quota_id = details["QuotaFailure"]["violations"][0]["quotaId"]
    assert quota_id == "GenerateRequestsPerMinutePerProjectPerModel"
    assert refusing.submits == 0


def test_daily_quota_names_the_per_day_quota(refusing):
    response = submit(refusing, "spent [fault=daily-quota]")

    error = assert_error(response, 429, "RESOURCE_EXHAUSTED")
    quota_ids = [
        violation["quotaId"]
        for detail in error["details"]
        for violation in detail.get("violations", [])
    ]
    assert quota_ids == ["GenerateRequestsPerDayPerProjectPerModel"]
    assert refusing.submits == 0


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [
        ("submit-500", 500, "INTERNAL"),
        ("submit-503", 503, "UNAVAILABLE"),
        ("submit-504", 504, "DEADLINE_EXCEEDED"),
        ("permission", 403, "PERMISSION_DENIED"),
        ("billing", 400, "FAILED_PRECONDITION"),
    ],
)
def test_refusing_faults_are_not_counted_as_submits(refusing, fault, code, status):
    response = submit(refusing, f"refused [fault={fault}]")

    assert_error(response, code, status)
    assert refusing.submits == 0


def test_accepted_500_still_runs_the_operation(emulator):
    response = submit(emulator, "ghost [fault=submit-500-accepted]")

    assert_error(response, 500, "INTERNAL")
    assert emulator.submits == 1
    stats = requests.get(f"{emulator.base_url}/emulator/stats", timeout=10).json()
    [name] = stats["operations"]
    assert (
        "generatedSamples" in wait_until_done(emulator, name)["response"]["generateVideoResponse"]
    )


def test_first_poll_after_done_answers_503_once(emulator):
    name = submit(emulator, "flaky poll [fault=poll-503-once]").json()["name"]
    deadline = time.monotonic() + 15
    while (response := poll(emulator, name)).status_code == 200:
        assert "done" not in response.json()
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert_error(response, 503, "UNAVAILABLE")
    assert poll(emulator, name).json()["done"] is True


def test_done_with_error(emulator):
    operation = submit_and_finish(emulator, "broken [fault=done-error]")

    assert operation["error"] == {
        "code": 13,
        "message": "Internal error while generating the video.",
    }
    assert "response" not in operation


def test_done_with_safety_filter_and_no_samples(emulator):
    operation = submit_and_finish(emulator, "filtered [fault=safety]")

    result = operation["response"]["generateVideoResponse"]
    assert result["raiMediaFilteredCount"] == 1
    assert "You have not been charged" in result["raiMediaFilteredReasons"][0]
    assert "generatedSamples" not in result


def test_done_with_neither_response_nor_error(emulator):
    operation = submit_and_finish(emulator, "empty [fault=no-response]")

    assert set(operation) == {"name", "done"}


def test_slow_operation_stays_pending_after_rendering(emulator, tmp_path):
    name = submit(emulator, "slow [fault=slow]").json()["name"]
    deadline = time.monotonic() + 15
    while not list(tmp_path.glob("*.mp4")):
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert poll(emulator, name).json() == {"name": name}


def test_redirected_download_counts_a_key_that_follows_it(emulator):
    uri = video_uri(submit_and_finish(emulator, "moved [fault=redirect]"))

    first = requests.get(uri, headers=KEY, allow_redirects=False, timeout=10)
    assert first.status_code == 302
    location = first.headers["Location"]
    assert location.startswith(emulator.base_url.replace("127.0.0.1", "localhost"))
    assert "/emulator/redirected/" in location

    keyless = requests.get(location, timeout=10)
    assert keyless.status_code == 200
    assert keyless.headers["Content-Type"] == "video/mp4"
    assert stats_leaks(emulator) == 0

    # requests re-sends a custom header to the new host, which is the leak to catch.
    followed = requests.get(uri, headers=KEY, timeout=10)
    assert followed.content == keyless.content
    assert stats_leaks(emulator) == 1


def stats_leaks(emulator):
    return requests.get(f"{emulator.base_url}/emulator/stats", timeout=10).json()[
        "redirect_key_leaks"
    ]


def test_html_download(emulator):
    uri = video_uri(submit_and_finish(emulator, "html [fault=html]"))

    response = requests.get(uri, headers=KEY, timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text == "<html>error</html>"


def test_truncated_download_breaks_off_before_its_content_length(emulator, tmp_path):
    uri = video_uri(submit_and_finish(emulator, "cut [fault=truncated]"))
    [video] = tmp_path.glob("*.mp4")

    response = requests.get(uri, headers=KEY, stream=True, timeout=10)
    assert int(response.headers["Content-Length"]) == video.stat().st_size
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        response.content  # noqa: B018


def test_expired_download_is_not_found(emulator):
    uri = video_uri(submit_and_finish(emulator, "old [fault=expired]"))

    response = requests.get(uri, headers=KEY, timeout=10)

    assert_error(response, 404, "NOT_FOUND", "File not found or expired")


def test_unknown_operation_and_file_are_not_found(refusing):
    operation = poll(refusing, f"models/{FAST}/operations/abcdefghijkl")
    file = requests.get(
        f"{refusing.base_url}/v1beta/files/abcdefghijkl:download?alt=media", headers=KEY, timeout=10
    )

    assert_error(operation, 404, "NOT_FOUND")
    assert_error(file, 404, "NOT_FOUND")


def test_download_needs_the_key(emulator):
    uri = video_uri(submit_and_finish(emulator, "keyed [latency=0]"))

    assert_error(requests.get(uri, timeout=10), 403, "PERMISSION_DENIED")


def test_pad_marker_grows_the_video_by_a_free_box_and_it_still_probes(emulator, tmp_path):
    size = 3 * 1024 * 1024
    uri = video_uri(submit_and_finish(emulator, "Padded [pad-mb=3]"))
    padded = requests.get(uri, headers=KEY, timeout=10).content

    box = padded[-size:]
    assert box[:8] == struct.pack(">I4s", size, b"free")
    assert box[8:] == bytes(size - 8)
    whole, original = tmp_path / "padded.mp4", tmp_path / "original.mp4"
    whole.write_bytes(padded)
    original.write_bytes(padded[:-size])
    assert probe(whole) == probe(original)
    assert abs(probe(whole).duration - 4) <= 0.2


def test_pads_from_4_gib_on_take_the_64_bit_box_form(tmp_path):
    video = tmp_path / "video.mp4"
    render_mp4(video, prompt="Large", width=320, height=180, seconds=1)
    before, size = video.stat().st_size, 2**32 + 16

    pad_with_free_box(video, size)

    with video.open("rb") as data:
        data.seek(before)
        assert data.read(16) == struct.pack(">I4sQ", 1, b"free", size)
    assert video.stat().st_size == before + size
    assert abs(probe(video).duration - 1) <= 0.2


def test_pad_over_the_limit_is_refused(refusing):
    response = submit(refusing, "Huge [pad-mb=9000]")

    assert_error(response, 400, "INVALID_ARGUMENT", "8192 MiB")


def test_submit_delay_counts_the_submit_at_once_and_holds_the_answer(emulator):
    prompt = "Held answer [submit-delay=1]"
    answers = []
    sender = threading.Thread(target=lambda: answers.append(submit(emulator, prompt)))
    started = time.monotonic()
    sender.start()
    deadline = started + 5
    while emulator.submits_for("Held answer") == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert emulator.submits_for("Held answer") == 1
    assert not answers  # counted, and the caller is still waiting for the answer
    sender.join(timeout=10)
    assert time.monotonic() - started >= 1
    assert answers[0].status_code == 200 and answers[0].json()["name"]


def test_a_submit_whose_body_never_finished_is_not_counted(emulator):
    body = json.dumps({"instances": [{"prompt": "Cut off"}], "parameters": {}}).encode()
    host, port = emulator.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"POST /v1beta/models/{FAST}:predictLongRunning HTTP/1.1\r\nHost: {host}\r\n"
            f"x-goog-api-key: {KEY['x-goog-api-key']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:-1]
        )
    time.sleep(0.5)
    assert emulator.submits_for("Cut off") == 0
