"""The official google-genai SDK drives the emulator's Vertex AI dialect over HTTP.

Proof that the emulator answers as Vertex does for Veo 3.1: the SDK (vertexai=True, a bearer
token from the emulator's token endpoint) submits each task with generate_videos, polls with
operations.get until done, and reads the videos it got, from Cloud Storage or inline.
"""

import io
import time

import google.auth.transport.requests
import google.oauth2.credentials
import pytest
import requests
from google import genai
from google.genai import types
from google.oauth2 import service_account
from PIL import Image

from jobs.media import probe
from jobs.veo.emulator import service_account_info
from jobs.veo.vertex import storage_url

PROJECT, LOCATION = "emulator-project", "us-central1"
FAST, LITE = "veo-3.1-fast-generate-001", "veo-3.1-lite-generate-001"
BUCKET = "gs://sdk-bucket/veo/"


def png(color):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), color).save(buffer, format="PNG")
    return types.Image(image_bytes=buffer.getvalue(), mime_type="image/png")


@pytest.fixture(scope="module")
def token(emulator):
    info = service_account_info(emulator.base_url + "/token")
    credentials = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    credentials.refresh(google.auth.transport.requests.Request())
    return credentials.token


@pytest.fixture(scope="module")
def client(emulator, token):
    sdk = genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=google.oauth2.credentials.Credentials(token=token),
        http_options=types.HttpOptions(base_url=emulator.base_url),
    )
    sdk.emulator = emulator  # The tests check what the emulator counted.
    return sdk


def generate(client, *, model=FAST, timeout=90, **arguments):
    """Submit with generate_videos and poll with operations.get until the operation is done."""
    operation = client.models.generate_videos(model=model, **arguments)
    assert operation.name.startswith(f"projects/{PROJECT}/locations/{LOCATION}/")
    assert client.emulator.stats()["operations"][operation.name]["dialect"] == "vertex"
    deadline = time.monotonic() + timeout
    while not operation.done:
        assert time.monotonic() < deadline, f"{operation.name} was not done in {timeout} s"
        time.sleep(0.1)
        operation = client.operations.get(operation)
    assert operation.error is None, operation.error
    videos = operation.response.generated_videos
    assert videos, operation
    return videos


def read(emulator, token, video, tmp_path):
    """Return a generated video's local copy: its bytes inline, or read from Cloud Storage."""
    path = tmp_path / f"video-{time.monotonic_ns()}.mp4"
    if video.video_bytes:
        path.write_bytes(video.video_bytes)
    else:
        assert video.uri.startswith(BUCKET)
        url = storage_url(video.uri, base_url=emulator.base_url)
        answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert answer.status_code == 200, answer.text
        path.write_bytes(answer.content)
    return path


def config(**fields):
    return types.GenerateVideosConfig(duration_seconds=4, **fields)


def test_text_to_video_inline(client, emulator, token, tmp_path):
    (video,) = generate(client, prompt="SDK: a heron at dawn", config=config())

    assert video.video.mime_type == "video/mp4"
    assert abs(probe(read(emulator, token, video.video, tmp_path)).duration - 4) <= 0.3


def test_text_to_video_in_cloud_storage_with_every_parameter(client, emulator, token, tmp_path):
    videos = generate(
        client,
        prompt="SDK: everything set",
        config=types.GenerateVideosConfig(
            aspect_ratio="9:16",
            resolution="1080p",
            duration_seconds=8,
            number_of_videos=2,
            negative_prompt="no text",
            person_generation="disallow",
            seed=7,
            generate_audio=False,
            enhance_prompt=False,
            output_gcs_uri=BUCKET,
        ),
    )

    assert len(videos) == 2
    for video in videos:
        media = probe(read(emulator, token, video.video, tmp_path))
        assert (media.width, media.height) == (1080, 1920)
        assert not media.has_audio


def test_image_to_video_first_frame_and_first_and_last(client, emulator, token, tmp_path):
    (first,) = generate(client, prompt="SDK: red wakes", image=png("red"), config=config())
    (both,) = generate(
        client,
        prompt="SDK: red to blue",
        image=png("red"),
        config=config(last_frame=png("blue"), output_gcs_uri=BUCKET),
    )

    for video in (first, both):
        assert probe(read(emulator, token, video.video, tmp_path)).duration > 3


def test_reference_images(client, emulator, token, tmp_path):
    references = [
        types.VideoGenerationReferenceImage(
            image=png(color), reference_type=types.VideoGenerationReferenceType.ASSET
        )
        for color in ("red", "green", "blue")
    ]
    (video,) = generate(
        client,
        prompt="SDK: three friends meet",
        config=types.GenerateVideosConfig(duration_seconds=8, reference_images=references),
    )

    assert probe(read(emulator, token, video.video, tmp_path)).duration > 7


def test_extension_from_cloud_storage_and_from_bytes(client, emulator, token, tmp_path):
    (source,) = generate(
        client, prompt="SDK: a boat sets out", config=config(output_gcs_uri=BUCKET)
    )
    extension = types.GenerateVideosConfig(duration_seconds=8, resolution="720p")
    (from_storage,) = generate(
        client,
        prompt="SDK: it reaches the island",
        video=types.Video(uri=source.video.uri, mime_type="video/mp4"),
        config=extension.model_copy(update={"output_gcs_uri": BUCKET}),
    )
    local = read(emulator, token, source.video, tmp_path)
    (from_bytes,) = generate(
        client,
        prompt="SDK: and sails home",
        video=types.Video(video_bytes=local.read_bytes(), mime_type="video/mp4"),
        config=extension,
    )

    # Veo adds seven seconds to the four it was given.
    for video in (from_storage, from_bytes):
        assert abs(probe(read(emulator, token, video.video, tmp_path)).duration - 11) <= 0.3


def test_lite_takes_text_and_refuses_references_through_the_sdk(client, emulator, token, tmp_path):
    (video,) = generate(client, model=LITE, prompt="SDK: a lite kite", config=config())
    assert probe(read(emulator, token, video.video, tmp_path)).duration > 3

    reference = types.VideoGenerationReferenceImage(image=png("red"), reference_type="asset")
    with pytest.raises(genai.errors.ClientError) as refused:
        client.models.generate_videos(
            model=LITE,
            prompt="SDK: lite with a reference",
            config=types.GenerateVideosConfig(duration_seconds=8, reference_images=[reference]),
        )
    assert refused.value.code == 400
    assert "referenceImages" in refused.value.message
