"""Our Vertex AI predictLongRunning request is the one google-genai 3.6.1 sends.

The SDK's side is captured with an httpx2.MockTransport (no traffic leaves the machine);
ours with `responses`, through VertexProvider.submit and poll. Both must name the same URL
and send the same JSON for the same task and parameters.
"""

import io
import json

import google.oauth2.credentials
import httpx2
import pytest
import responses
from google import genai
from google.genai import types
from PIL import Image

from jobs.veo.base import GenerationRequest, InputImage, SourceVideo, Task
from jobs.veo.vertex import VertexProvider

PROJECT, LOCATION = "studio-proj", "us-central1"
MODEL = "veo-3.1-generate-001"
BASE = f"https://{LOCATION}-aiplatform.googleapis.com"
OPERATION = (
    f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{MODEL}/operations/op-1"
)


def png(color):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


RED, BLUE, GREEN = png("red"), png("blue"), png("green")
CLIP = b"\x00\x00\x00\x18ftypmp42 a short clip"


def sdk_capture(call):
    """Run call(client) against a mock transport; return the (method, url, body) sent."""
    seen = []

    def handler(request):
        seen.append((request.method, str(request.url), json.loads(request.content)))
        return httpx2.Response(200, json={"name": OPERATION})

    client = genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=google.oauth2.credentials.Credentials(token="x"),
        http_options=types.HttpOptions(
            httpx_client=httpx2.Client(transport=httpx2.MockTransport(handler))
        ),
    )
    call(client)
    return seen


@responses.activate
def our_capture(request, *, storage_uri="", poll=False):
    """Submit (and poll) request with VertexProvider; return the (method, url, body) sent."""
    responses.post(
        f"{BASE}/v1beta1/{OPERATION.split('/operations/')[0]}:predictLongRunning",
        json={"name": OPERATION},
    )
    responses.post(
        f"{BASE}/v1beta1/{OPERATION.split('/operations/')[0]}:fetchPredictOperation",
        json={"name": OPERATION},
    )
    provider = VertexProvider(
        project=PROJECT,
        location=LOCATION,
        storage_uri=storage_uri,
        credentials=google.oauth2.credentials.Credentials(token="x"),
    )
    name = provider.submit(request)
    if poll:
        provider.poll(name)
    return [
        (call.request.method, call.request.url, json.loads(call.request.body))
        for call in responses.calls
    ]


def sdk_image(data):
    return types.Image(image_bytes=data, mime_type="image/png")


def image(data):
    return InputImage(data=data, mime_type="image/png")


# The studio always sends the frame, duration and sample count; the SDK only what is set.
FRAME = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 8}


def sdk_config(**fields):
    return types.GenerateVideosConfig(**FRAME, number_of_videos=1, **fields)


CASES = {
    "text": (
        GenerationRequest(prompt="A heron at dawn", model=MODEL),
        lambda c: c.models.generate_videos(
            model=MODEL, prompt="A heron at dawn", config=sdk_config()
        ),
    ),
    "first frame": (
        GenerationRequest(prompt="It flies", model=MODEL, task=Task.IMAGE, image=image(RED)),
        lambda c: c.models.generate_videos(
            model=MODEL, prompt="It flies", image=sdk_image(RED), config=sdk_config()
        ),
    ),
    "first and last frame": (
        GenerationRequest(
            prompt="Red to blue",
            model=MODEL,
            task=Task.IMAGE,
            image=image(RED),
            last_frame=image(BLUE),
        ),
        lambda c: c.models.generate_videos(
            model=MODEL,
            prompt="Red to blue",
            image=sdk_image(RED),
            config=sdk_config(last_frame=sdk_image(BLUE)),
        ),
    ),
    "reference images": (
        GenerationRequest(
            prompt="These three meet",
            model=MODEL,
            task=Task.REFERENCES,
            reference_images=(image(RED), image(BLUE), image(GREEN)),
        ),
        lambda c: c.models.generate_videos(
            model=MODEL,
            prompt="These three meet",
            config=sdk_config(
                reference_images=[
                    types.VideoGenerationReferenceImage(
                        image=sdk_image(data),
                        reference_type=types.VideoGenerationReferenceType.ASSET,
                    )
                    for data in (RED, BLUE, GREEN)
                ]
            ),
        ),
    ),
    "extension of a stored video": (
        GenerationRequest(
            prompt="And then it rains",
            model=MODEL,
            task=Task.EXTEND,
            source=SourceVideo(
                job_id="j1", api="predict", uri="gs://studio-bucket/veo/op/sample_0.mp4"
            ),
        ),
        lambda c: c.models.generate_videos(
            model=MODEL,
            prompt="And then it rains",
            video=types.Video(uri="gs://studio-bucket/veo/op/sample_0.mp4", mime_type="video/mp4"),
            config=sdk_config(),
        ),
    ),
    "every parameter": (
        GenerationRequest(
            prompt="Everything set",
            model=MODEL,
            aspect_ratio="9:16",
            resolution="1080p",
            duration_seconds=8,
            sample_count=3,
            negative_prompt="no text",
            person_generation="disallow",
            seed=4294967295,
            generate_audio=False,
            enhance_prompt=False,
        ),
        lambda c: c.models.generate_videos(
            model=MODEL,
            prompt="Everything set",
            config=types.GenerateVideosConfig(
                aspect_ratio="9:16",
                resolution="1080p",
                duration_seconds=8,
                number_of_videos=3,
                negative_prompt="no text",
                person_generation="disallow",
                seed=4294967295,
                generate_audio=False,
                enhance_prompt=False,
            ),
        ),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_our_submit_is_the_sdks(case):
    request, call = CASES[case]
    assert our_capture(request) == sdk_capture(call)


def test_extension_of_a_local_video_sends_its_bytes_as_the_sdk_does(tmp_path):
    clip = tmp_path / "output.mp4"
    clip.write_bytes(CLIP)
    request = GenerationRequest(
        prompt="Longer",
        model=MODEL,
        task=Task.EXTEND,
        source=SourceVideo(job_id="j1", api="predict", path=clip),
    )
    sdk = sdk_capture(
        lambda c: c.models.generate_videos(
            model=MODEL,
            prompt="Longer",
            video=types.Video(video_bytes=CLIP, mime_type="video/mp4"),
            config=sdk_config(),
        )
    )
    assert our_capture(request) == sdk


def test_storage_uri_is_the_sdks_output_gcs_uri():
    request = GenerationRequest(prompt="Into the bucket", model=MODEL, seed=7, generate_audio=True)
    sdk = sdk_capture(
        lambda c: c.models.generate_videos(
            model=MODEL,
            prompt="Into the bucket",
            config=sdk_config(
                seed=7, generate_audio=True, output_gcs_uri="gs://studio-bucket/veo/"
            ),
        )
    )
    assert our_capture(request, storage_uri="gs://studio-bucket/veo/") == sdk


def test_our_poll_is_the_sdks_operations_get():
    def submit_and_get(client):
        operation = client.models.generate_videos(
            model=MODEL, prompt="Poll me", config=sdk_config()
        )
        client.operations.get(operation)

    sdk = sdk_capture(submit_and_get)
    ours = our_capture(GenerationRequest(prompt="Poll me", model=MODEL), poll=True)
    assert ours == sdk
    assert ours[1] == (
        "POST",
        f"{BASE}/v1beta1/{OPERATION.split('/operations/')[0]}:fetchPredictOperation",
        {"operationName": OPERATION},
    )
