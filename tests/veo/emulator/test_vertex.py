"""The emulator's Vertex AI dialect, its token endpoint, Cloud Storage, and restarts."""

import base64
import functools
import io
import json
import shutil
import time
from urllib.parse import quote

import av
import google.auth.transport.requests
import google.oauth2.credentials
import pytest
import requests
from google.oauth2 import service_account
from PIL import Image

from jobs.veo.emulator import Emulator, service_account_info

FAST = "veo-3.1-fast-generate-001"
PROJECT, LOCATION = "studio-proj", "us-central1"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"


def encoded_image(image_format="PNG", color="red"):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), color).save(buffer, format=image_format)
    return base64.b64encode(buffer.getvalue()).decode()


PNG = {"bytesBase64Encoded": encoded_image(), "mimeType": "image/png"}


@functools.cache
def service_account_credentials():
    # Loading the RSA key takes ~40 ms; copies made with with_token_uri share it.
    info = service_account_info("http://unused.invalid/token")
    return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)


def access_token(emulator):
    """Mint a token through google-auth's service-account flow against emulator."""
    credentials = service_account_credentials().with_token_uri(f"{emulator.base_url}/token")
    credentials.refresh(google.auth.transport.requests.Request())
    return credentials.token


@pytest.fixture
def emulator(tmp_path):
    with Emulator(latency=0, data_dir=tmp_path) as emulator:
        yield emulator


@pytest.fixture
def auth(emulator):
    return {"Authorization": f"Bearer {access_token(emulator)}"}


@pytest.fixture(scope="module")
def refusing(tmp_path_factory):
    """Return one emulator and token for the tests whose requests are all refused."""
    with Emulator(latency=0, data_dir=tmp_path_factory.mktemp("refusing")) as emulator:
        yield emulator, {"Authorization": f"Bearer {access_token(emulator)}"}


def model_url(emulator, model=FAST, version="v1"):
    return (
        f"{emulator.base_url}/{version}/projects/{PROJECT}/locations/{LOCATION}"
        f"/publishers/google/models/{model}"
    )


def submit(emulator, auth, prompt, *, model=FAST, instance=None, version="v1", **parameters):
    body = {
        "instances": [instance if instance is not None else {"prompt": prompt}],
        "parameters": {"durationSeconds": 4, **parameters},
    }
    url = f"{model_url(emulator, model, version)}:predictLongRunning"
    return requests.post(url, json=body, headers=auth, timeout=10)


def fetch(emulator, auth, name, *, model=None):
    """POST fetchPredictOperation on the operation's own model, as the SDKs do, or on model."""
    url = model_url(emulator, model or name.split("/models/")[1].split("/")[0])
    return requests.post(
        f"{url}:fetchPredictOperation", json={"operationName": name}, headers=auth, timeout=10
    )


def wait_until_done(emulator, auth, name, *, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = fetch(emulator, auth, name)
        if response.status_code == 200 and response.json().get("done"):
            return response.json()
        time.sleep(0.05)
    raise AssertionError(f"{name} was not done after {timeout} s")


def submit_and_finish(emulator, auth, prompt, **parameters):
    response = submit(emulator, auth, prompt, **parameters)
    assert response.status_code == 200, response.text
    return wait_until_done(emulator, auth, response.json()["name"], timeout=60)


def storage_url(emulator, gcs_uri, *, prefix=""):
    bucket, _, name = gcs_uri.removeprefix("gs://").partition("/")
    return f"{emulator.base_url}{prefix}/storage/v1/b/{bucket}/o/{quote(name, safe='')}?alt=media"


def assert_error(response, code, status, *fragments):
    assert response.status_code == code, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (code, status)
    for fragment in fragments:
        assert fragment in error["message"]
    return error


def assert_mp4(data):
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 1280, 720)
        assert abs(container.duration / av.time_base - 4) <= 0.2


def test_round_trip_through_cloud_storage_with_a_google_auth_token(emulator):
    info = service_account_info(emulator.base_url + "/token")
    credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    credentials.refresh(google.auth.transport.requests.Request())
    auth = {"Authorization": f"Bearer {credentials.token}"}

    response = submit(
        emulator, auth, "A heron [latency=1]", storageUri="gs://studio-bucket/out/", sampleCount=2
    )

    assert response.status_code == 200, response.text
    name = response.json()["name"]
    assert response.json() == {"name": name}
    resource, _, operation_id = name.partition("/operations/")
    assert resource == f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{FAST}"
    assert len(operation_id) == 36 and operation_id.count("-") == 4
    assert fetch(emulator, auth, name).json() == {"name": name}
    early = f"gs://studio-bucket/out/{operation_id}/sample_0.mp4"
    assert_error(
        requests.get(storage_url(emulator, early), headers=auth, timeout=10), 404, "NOT_FOUND"
    )

    operation = wait_until_done(emulator, auth, name)

    assert operation["response"] == {
        "@type": RESPONSE_TYPE,
        "raiMediaFilteredCount": 0,
        "videos": [
            {
                "gcsUri": f"gs://studio-bucket/out/{operation_id}/sample_{n}.mp4",
                "mimeType": "video/mp4",
            }
            for n in range(2)
        ],
    }
    downloads = []
    for video, prefix in zip(operation["response"]["videos"], ("", "/download"), strict=True):
        download = requests.get(
            storage_url(emulator, video["gcsUri"], prefix=prefix), headers=auth, timeout=10
        )
        assert download.status_code == 200
        assert download.headers["Content-Type"] == "video/mp4"
        assert int(download.headers["Content-Length"]) == len(download.content)
        downloads.append(download.content)
    assert_mp4(downloads[0])
    assert downloads[0] == downloads[1]
    stats = emulator.stats()
    assert stats["token_grants"] == 1
    assert stats["operations"][name]["downloads"] == 2
    assert stats["operations"][name]["dialect"] == "vertex"
    assert stats["operations"][name]["storage_uri"] == "gs://studio-bucket/out/"


def test_cloud_storage_needs_a_token_this_emulator_issued(emulator, auth):
    operation = submit_and_finish(emulator, auth, "Guarded", storageUri="gs://studio-bucket")
    uri = operation["response"]["videos"][0]["gcsUri"]
    assert uri.startswith("gs://studio-bucket/") and uri.endswith("/sample_0.mp4")
    url = storage_url(emulator, uri)

    missing = requests.get(url, timeout=10)
    foreign = requests.get(url, headers={"Authorization": "Bearer ya29.from-google"}, timeout=10)
    metadata = requests.get(url.removesuffix("?alt=media"), headers=auth, timeout=10)

    error = assert_error(missing, 401, "UNAUTHENTICATED", "missing required authentication")
    assert error["details"][0]["reason"] == "CREDENTIALS_MISSING"
    assert_error(foreign, 401, "UNAUTHENTICATED", "invalid authentication credentials")
    assert metadata.json()["name"] == uri.removeprefix("gs://studio-bucket/")
    assert int(metadata.json()["size"]) > 0
    other = storage_url(emulator, "gs://studio-bucket/someone-else.mp4")
    assert_error(requests.get(other, headers=auth, timeout=10), 404, "NOT_FOUND", "No such object")


def test_without_storage_uri_the_video_comes_inline(emulator, auth):
    operation = submit_and_finish(emulator, auth, "Inline [latency=0]")

    [video] = operation["response"]["videos"]
    assert video["mimeType"] == "video/mp4"
    assert set(video) == {"bytesBase64Encoded", "mimeType"}
    assert_mp4(base64.b64decode(video["bytesBase64Encoded"]))


def test_v1beta1_prefix_serves_the_same_dialect(emulator, auth):
    response = submit(emulator, auth, "Beta [fault=no-response]", version="v1beta1")

    assert response.status_code == 200, response.text
    resource, _, _ = response.json()["name"].partition("/operations/")
    fetched = requests.post(
        f"{emulator.base_url}/v1beta1/{resource}:fetchPredictOperation",
        json={"operationName": response.json()["name"]},
        headers=auth,
        timeout=10,
    )
    assert fetched.json()["done"] is True


def test_vertex_needs_a_bearer_token(refusing):
    emulator, _ = refusing
    missing = submit(emulator, {}, "ok")
    api_key = submit(emulator, {"x-goog-api-key": "test-key"}, "ok")
    foreign = submit(emulator, {"Authorization": "Bearer ya29.from-google"}, "ok")

    assert_error(missing, 401, "UNAUTHENTICATED", "Request is missing required authentication")
    assert_error(api_key, 401, "UNAUTHENTICATED")
    error = assert_error(foreign, 401, "UNAUTHENTICATED", "invalid authentication credentials")
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    assert foreign.headers["WWW-Authenticate"].startswith("Bearer")
    assert emulator.submits == 0


def test_authorized_user_refresh_tokens_are_granted_too(emulator):
    credentials = google.oauth2.credentials.Credentials(
        token=None,
        refresh_token="1//emulator-refresh",
        client_id="studio.apps.googleusercontent.com",
        client_secret="not-secret",
        token_uri=f"{emulator.base_url}/token",
    )

    credentials.refresh(google.auth.transport.requests.Request())

    assert credentials.token.startswith("ya29.emulator-")
    auth = {"Authorization": f"Bearer {credentials.token}"}
    assert submit(emulator, auth, "Token [fault=no-response]").status_code == 200
    assert emulator.stats()["token_grants"] == 1


def jwt(claims):
    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password", "username": "studio"}, "unsupported_grant_type"),
        ({"grant_type": JWT_GRANT, "assertion": "not-a-jwt"}, "invalid_grant"),
        ({"grant_type": JWT_GRANT, "assertion": "a.!!!.c"}, "invalid_grant"),
        ({"grant_type": JWT_GRANT, "assertion": jwt({"scope": "x", "aud": "y"})}, "invalid_grant"),
        ({"grant_type": JWT_GRANT, "assertion": jwt({"iss": "studio@x"})}, "invalid_grant"),
        (
            {"grant_type": JWT_GRANT, "assertion": jwt({"iss": "a", "aud": "b", "exp": 1})},
            "invalid_grant",
        ),
        ({"grant_type": "refresh_token"}, "invalid_grant"),
    ],
)
def test_bad_grants_are_refused(refusing, form, error):
    emulator, _ = refusing
    grants = emulator.stats()["token_grants"]

    response = requests.post(f"{emulator.base_url}/token", data=form, timeout=10)

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert emulator.stats()["token_grants"] == grants


def test_a_jwt_naming_issuer_and_audience_is_granted(emulator):
    assertion = jwt({"iss": "studio@x", "aud": "https://oauth2.googleapis.com/token"})

    response = requests.post(
        f"{emulator.base_url}/token",
        data={"grant_type": JWT_GRANT, "assertion": assertion},
        timeout=10,
    )

    assert response.status_code == 200
    assert response.json()["expires_in"] == 3600
    assert response.json()["token_type"] == "Bearer"
    assert response.json()["access_token"].startswith("ya29.emulator-")


def test_service_account_info_is_a_usable_key_file():
    info = service_account_info("http://127.0.0.1:9/token")

    assert info["type"] == "service_account"
    assert info["project_id"] == "emulator-project"
    assert info["client_email"] == "studio@emulator-project.iam.gserviceaccount.com"
    assert info["token_uri"] == "http://127.0.0.1:9/token"
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert service_account_info("http://other/token")["private_key"] == info["private_key"]
    credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    assert credentials.service_account_email == info["client_email"]


@pytest.mark.parametrize(
    ("model", "version"),
    [
        ("veo-3.0-generate-001", "v1"),
        ("veo-3.0-fast-generate-001", "v1"),
        ("veo-2.0-generate-001", "v1"),
        ("veo-3.1-generate-preview", "v1"),
        ("veo-9-imaginary", "v1beta1"),
    ],
)
def test_other_models_are_not_found(refusing, model, version):
    emulator, auth = refusing
    response = submit(emulator, auth, "ok", model=model, version=version)
    resource = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{model}"

    assert_error(
        response,
        404,
        "NOT_FOUND",
        f"Publisher Model `{resource}` was not found or your project does not have access to it.",
    )
    probe = fetch(emulator, auth, f"{resource}/operations/00000000", model=model)
    assert_error(probe, 404, "NOT_FOUND", "Publisher Model")


def test_unknown_operations_are_not_found(refusing):
    emulator, auth = refusing
    resource = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{FAST}"
    standard = resource.replace(FAST, "veo-3.1-generate-001")

    unknown = fetch(emulator, auth, f"{resource}/operations/00000000-0000-0000-0000-000000000000")
    elsewhere = fetch(emulator, auth, f"{standard}/operations/00000000", model=FAST)
    nameless = requests.post(
        f"{model_url(emulator)}:fetchPredictOperation", json={}, headers=auth, timeout=10
    )

    error = assert_error(unknown, 404, "NOT_FOUND")
    assert "Publisher Model" not in error["message"]
    assert_error(elsewhere, 400, "INVALID_ARGUMENT", "operationName")
    assert_error(nameless, 400, "INVALID_ARGUMENT", "operationName")


@pytest.mark.parametrize(
    ("instance", "parameters", "field"),
    [
        ({}, {}, "prompt"),
        ({"prompt": "x" * 4097}, {}, "prompt"),
        ({"prompt": "ok"}, {"sampleCount": 5}, "sampleCount"),
        ({"prompt": "ok"}, {"sampleCount": 0}, "sampleCount"),
        ({"prompt": "ok"}, {"sampleCount": "2"}, "sampleCount"),
        ({"prompt": "ok"}, {"personGeneration": "allow_all"}, "personGeneration"),
        ({"prompt": "ok"}, {"storageUri": "s3://bucket/out/"}, "storageUri"),
        ({"prompt": "ok"}, {"storageUri": "gs://"}, "storageUri"),
        ({"prompt": "ok"}, {"seed": -1}, "seed"),
        ({"prompt": "ok"}, {"seed": 2**32}, "seed"),
        ({"prompt": "ok"}, {"generateAudio": "yes"}, "generateAudio"),
        ({"prompt": "ok"}, {"compressionQuality": "best"}, "compressionQuality"),
        ({"prompt": "ok"}, {"enhancePrompt": "no"}, "enhancePrompt"),
        ({"prompt": "ok"}, {"fps": 24}, "fps"),
        ({"prompt": "ok"}, {"durationSeconds": 5}, "durationSeconds"),
        ({"prompt": "ok"}, {"resolution": "1080p"}, "durationSeconds"),
        ({"prompt": "ok"}, {"aspectRatio": "1:1"}, "aspectRatio"),
        ({"prompt": "ok", "lastFrame": PNG}, {}, "instances[0].lastFrame"),
        (
            {"prompt": "ok", "image": {"inlineData": {"mimeType": "image/png", "data": "AA=="}}},
            {},
            "inlineData",
        ),
        (
            {"prompt": "ok", "image": {**PNG, "mimeType": "image/gif"}},
            {},
            "instances[0].image.mimeType",
        ),
        (
            {"prompt": "ok", "image": {**PNG, "bytesBase64Encoded": encoded_image("JPEG")}},
            {},
            "instances[0].image.bytesBase64Encoded",
        ),
        (
            {"prompt": "ok", "image": {"gcsUri": "gs://bucket", "mimeType": "image/png"}},
            {},
            "instances[0].image.gcsUri",
        ),
        (
            {"prompt": "ok", "image": {**PNG, "gcsUri": "gs://bucket/a.png"}},
            {},
            "instances[0].image",
        ),
    ],
)
def test_invalid_submits_are_refused_naming_the_field(refusing, instance, parameters, field):
    emulator, auth = refusing
    response = submit(emulator, auth, None, instance=instance, **parameters)

    assert_error(response, 400, "INVALID_ARGUMENT", field)
    assert emulator.submits == 0


def test_accepted_parameters_and_images_are_recorded(emulator, auth):
    gcs_image = {"gcsUri": "gs://studio-bucket/frames/first.png", "mimeType": "image/png"}
    parameters = {
        "aspectRatio": "9:16",
        "resolution": "1080p",
        "durationSeconds": 8,
        "sampleCount": 4,
        "negativePrompt": "blur",
        "personGeneration": "disallow",
        "generateAudio": False,
        "seed": 2**32 - 1,
        "enhancePrompt": True,
        "compressionQuality": "lossless",
    }
    text = submit(emulator, auth, "Text only [fault=no-response]", **parameters)
    bytes_form = submit(
        emulator, auth, None, instance={"image": PNG, "lastFrame": PNG, "prompt": "[fault=safety]"}
    )
    gcs_form = submit(
        emulator, auth, None, instance={"image": gcs_image, "prompt": "[fault=safety]"}
    )

    for response in (text, bytes_form, gcs_form):
        assert response.status_code == 200, response.text
    operations = emulator.stats()["operations"]
    assert operations[text.json()["name"]]["parameters"] == parameters
    assert operations[text.json()["name"]]["sample_count"] == 4
    flags = [
        (operations[r.json()["name"]]["image"], operations[r.json()["name"]]["last_frame"])
        for r in (text, bytes_form, gcs_form)
    ]
    assert flags == [(False, False), (True, True), (True, False)]


@pytest.mark.parametrize(
    ("fault", "code", "status", "fragment"),
    [
        ("submit-429", 429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com"),
        ("daily-quota", 429, "RESOURCE_EXHAUSTED", "Quota exceeded"),
        ("submit-500", 500, "INTERNAL", "internal error"),
        ("submit-503", 503, "UNAVAILABLE", "overloaded"),
        ("submit-504", 504, "DEADLINE_EXCEEDED", "Deadline"),
        ("permission", 403, "PERMISSION_DENIED", "aiplatform.endpoints.predict"),
        ("billing", 403, "PERMISSION_DENIED", "requires billing to be enabled"),
    ],
)
def test_refusing_faults_are_not_counted(refusing, fault, code, status, fragment):
    emulator, auth = refusing
    response = submit(emulator, auth, f"refused [fault={fault}]")

    assert_error(response, code, status, fragment)
    assert emulator.submits == 0
    if fault == "submit-429":
        assert response.headers["Retry-After"] == "2"


def test_accepted_500_still_runs_the_operation(emulator, auth):
    response = submit(emulator, auth, "ghost [fault=submit-500-accepted]")

    assert_error(response, 500, "INTERNAL")
    [name] = emulator.stats()["operations"]
    assert name.startswith(f"projects/{PROJECT}/")
    assert "videos" in wait_until_done(emulator, auth, name)["response"]


def test_done_with_error(emulator, auth):
    operation = submit_and_finish(emulator, auth, "broken [fault=done-error]")

    assert operation["error"]["code"] == 13
    assert "response" not in operation


def test_done_with_the_vertex_safety_filter_shape(emulator, auth):
    operation = submit_and_finish(emulator, auth, "filtered [fault=safety]")

    assert operation["response"] == {
        "@type": RESPONSE_TYPE,
        "raiMediaFilteredCount": 1,
        "raiMediaFilteredReasons": [
            "Veo could not generate 1 videos based on the prompt provided. You will not be "
            "charged for this request. Try rephrasing the prompt. If you think this was an "
            "error, send feedback. Support codes: 42237218"
        ],
    }


def test_done_with_neither_response_nor_error(emulator, auth):
    operation = submit_and_finish(emulator, auth, "empty [fault=no-response]")

    assert set(operation) == {"name", "done"}


def test_first_fetch_after_done_answers_503_once(emulator, auth):
    name = submit(emulator, auth, "flaky [fault=poll-503-once]").json()["name"]
    deadline = time.monotonic() + 15
    while (response := fetch(emulator, auth, name)).status_code == 200:
        assert "done" not in response.json()
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert_error(response, 503, "UNAVAILABLE")
    assert fetch(emulator, auth, name).json()["done"] is True


@pytest.mark.parametrize("fault", ["expired", "html", "truncated"])
def test_download_faults_apply_to_cloud_storage(emulator, auth, fault):
    operation = submit_and_finish(
        emulator, auth, f"[fault={fault}]", storageUri="gs://studio-bucket/o/"
    )
    url = storage_url(emulator, operation["response"]["videos"][0]["gcsUri"])

    response = requests.get(url, headers=auth, stream=True, timeout=10)

    if fault == "expired":
        assert_error(response, 404, "NOT_FOUND", "No such object")
    elif fault == "html":
        assert response.headers["Content-Type"].startswith("text/html")
    else:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            response.content  # noqa: B018


def test_operations_survive_a_restart_and_finish_after_it(tmp_path):
    first = Emulator(latency=0, data_dir=tmp_path).start()
    auth = {"Authorization": f"Bearer {access_token(first)}"}
    image = {"bytesBase64Encoded": encoded_image(color=(200, 30, 30)), "mimeType": "image/png"}
    vertex = submit(first, auth, None, instance={"prompt": "Across [latency=1]", "image": image})
    gemini = requests.post(
        f"{first.base_url}/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning",
        json={"instances": [{"prompt": "Gemini side [fault=no-response]"}]},
        headers={"x-goog-api-key": "k"},
        timeout=10,
    )
    first.stop()

    with Emulator(latency=0, data_dir=tmp_path) as second:
        # The token issued before the restart still works.
        operation = wait_until_done(second, auth, vertex.json()["name"])
        polled = requests.get(
            f"{second.base_url}/v1beta/{gemini.json()['name']}",
            headers={"x-goog-api-key": "k"},
            timeout=10,
        )
        stats = second.stats()

    data = base64.b64decode(operation["response"]["videos"][0]["bytesBase64Encoded"])
    assert_mp4(data)
    with av.open(io.BytesIO(data)) as container:
        red, green, blue = next(container.decode(video=0)).to_image().getpixel((960, 400))
    assert red > 150 and green < 80 and blue < 80
    assert polled.json() == {"name": gemini.json()["name"], "done": True}
    assert (stats["submits"], stats["token_grants"]) == (2, 1)
    assert stats["operations"][vertex.json()["name"]]["image"] is True


def test_a_render_lost_with_the_old_process_is_redone(tmp_path):
    with Emulator(latency=0, data_dir=tmp_path) as first:
        auth = {"Authorization": f"Bearer {access_token(first)}"}
        operation = submit_and_finish(first, auth, "Lost", storageUri="gs://studio-bucket/")
    for video in tmp_path.glob("*.mp4"):
        video.unlink()

    with Emulator(latency=0, data_dir=tmp_path) as second:
        again = wait_until_done(second, auth, operation["name"])
        download = requests.get(
            storage_url(second, again["response"]["videos"][0]["gcsUri"]), headers=auth, timeout=10
        )

    assert again == operation
    assert_mp4(download.content)


def test_nothing_is_saved_without_a_data_dir():
    with Emulator(latency=0) as emulator:
        auth = {"Authorization": f"Bearer {access_token(emulator)}"}
        assert submit(emulator, auth, "Gone [fault=no-response]").status_code == 200

        assert not (emulator.data_dir / "state.json").exists()
    shutil.rmtree(emulator.data_dir)


# --- Veo 3.1 GA: reference images, extension, audio and seed -----------------------------

LITE = "veo-3.1-lite-generate-001"


def reference(color="red", kind="ASSET"):
    image = {"bytesBase64Encoded": encoded_image(color=color), "mimeType": "image/png"}
    return {"image": image, "referenceType": kind}


def inline_video(operation):
    return base64.b64decode(operation["response"]["videos"][0]["bytesBase64Encoded"])


def streams(data):
    with av.open(io.BytesIO(data)) as container:
        kinds = sorted({stream.type for stream in container.streams})
        return kinds, container.duration / av.time_base


def test_reference_images_are_taken_in_the_sdks_and_the_docs_spelling(emulator, auth):
    instance = {
        "prompt": "Three friends",
        "referenceImages": [reference(), reference("blue", "asset"), reference("green")],
    }

    done = submit_and_finish_instance(emulator, auth, instance, durationSeconds=8)

    assert streams(inline_video(done))[0] == ["audio", "video"]
    (stats,) = emulator.stats()["operations"].values()
    assert stats["prompt"] == "Three friends"


def submit_and_finish_instance(emulator, auth, instance, **parameters):
    response = submit(emulator, auth, None, instance=instance, **parameters)
    assert response.status_code == 200, response.text
    # Longer renders on a busy machine take a while.
    return wait_until_done(emulator, auth, response.json()["name"], timeout=90)


@pytest.mark.parametrize(
    ("model", "instance", "field"),
    [
        (FAST, {"prompt": "ok", "referenceImages": [reference()] * 4}, "at most 3"),
        (LITE, {"prompt": "ok", "referenceImages": [reference()]}, "not supported by " + LITE),
        (FAST, {"prompt": "ok", "referenceImages": [reference(kind="STYLE")]}, "referenceType"),
        (FAST, {"prompt": "ok", "referenceImages": [{"referenceType": "asset"}]}, "[0].image"),
        (
            FAST,
            {"prompt": "ok", "referenceImages": [{**reference(), "mask": {}}]},
            "referenceImages[0]",
        ),
        (
            FAST,
            {"prompt": "ok", "referenceImages": [reference()], "video": {"gcsUri": "gs://b/v.mp4"}},
            "instances[0].video",
        ),
        (
            FAST,
            {"prompt": "ok", "video": {"gcsUri": "gs://studio-bucket/none.mp4"}},
            "no such object",
        ),
        (FAST, {"prompt": "ok", "video": {"bytesBase64Encoded": "bm90IGEgdmlkZW8="}}, "MP4"),
        (FAST, {"prompt": "ok", "video": {"bytesBase64Encoded": "!!"}}, "base64"),
        (FAST, {"prompt": "ok", "video": {"gcsUri": "gs://b/v.mp4", "uri": "x"}}, ".video'"),
        (
            FAST,
            {"prompt": "ok", "video": {"gcsUri": "gs://b/v.mp4", "mimeType": "video/webm"}},
            "mimeType",
        ),
    ],
)
def test_bad_references_and_videos_are_refused_naming_the_field(refusing, model, instance, field):
    emulator, auth = refusing
    response = submit(emulator, auth, None, model=model, instance=instance, durationSeconds=8)

    assert_error(response, 400, "INVALID_ARGUMENT", field)
    assert emulator.submits == 0


def test_extending_a_stored_video_adds_seven_seconds_to_it(emulator, auth):
    first = submit_and_finish(
        emulator, auth, "A boat sets out", storageUri="gs://studio-bucket/veo/"
    )
    source = first["response"]["videos"][0]["gcsUri"]

    instance = {
        "prompt": "It reaches the island",
        "video": {"gcsUri": source, "mimeType": "video/mp4"},
    }
    extended = submit_and_finish_instance(
        emulator, auth, instance, durationSeconds=8, storageUri="gs://studio-bucket/veo/"
    )

    url = storage_url(emulator, extended["response"]["videos"][0]["gcsUri"])
    video = requests.get(url, headers=auth, timeout=10)
    assert video.status_code == 200
    assert abs(streams(video.content)[1] - 11) <= 0.2


@pytest.mark.parametrize("parameters", [{"durationSeconds": 4}, {"resolution": "1080p"}])
def test_an_extension_is_made_at_8_seconds_and_720p(refusing, parameters):
    emulator, auth = refusing
    instance = {"prompt": "ok", "video": {"gcsUri": "gs://b/v.mp4"}}
    response = submit(
        emulator, auth, None, instance=instance, **{"durationSeconds": 8, **parameters}
    )

    assert_error(response, 400, "INVALID_ARGUMENT", "durationSeconds 8 and resolution 720p")
    assert emulator.submits == 0


def test_extending_inline_bytes_adds_seven_seconds_to_them(emulator, auth):
    first = inline_video(submit_and_finish(emulator, auth, "A kite rises"))

    instance = {
        "prompt": "It loops",
        "video": {"bytesBase64Encoded": base64.b64encode(first).decode(), "mimeType": "video/mp4"},
    }
    extended = submit_and_finish_instance(emulator, auth, instance, durationSeconds=8)

    assert abs(streams(inline_video(extended))[1] - 11) <= 0.2


def test_audio_off_gives_a_video_without_an_audio_track(emulator, auth):
    silent = inline_video(submit_and_finish(emulator, auth, "Quiet pond", generateAudio=False))
    sound = inline_video(submit_and_finish(emulator, auth, "Loud pond", generateAudio=True))

    assert streams(silent)[0] == ["video"]
    assert streams(sound)[0] == ["audio", "video"]


def test_a_seed_makes_the_same_request_render_the_same_bytes(emulator, auth):
    first = inline_video(submit_and_finish(emulator, auth, "Same sea", seed=42))
    again = inline_video(submit_and_finish(emulator, auth, "Same sea", seed=42))
    other = inline_video(submit_and_finish(emulator, auth, "Same sea", seed=43))

    assert first == again
    assert first != other


def test_lite_serves_text_and_frames_but_not_4k(refusing):
    emulator, auth = refusing
    response = submit(emulator, auth, "ok", model=LITE, resolution="4k", durationSeconds=8)

    assert_error(response, 400, "INVALID_ARGUMENT", "resolution")
