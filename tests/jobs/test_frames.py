"""Uploaded first and last frames: checked by content, stored in the seed's layout."""

import base64
import io
import json

import pytest
import responses
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from jobs.models import VideoCreationJob, VideoResource
from tests.conftest import API_KEY
from tests.factories import FORM, MODEL

pytestmark = pytest.mark.django_db

BASE = "https://generativelanguage.googleapis.com/v1beta"


def image_bytes(fmt="PNG", size=(320, 180), color=(200, 30, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def upload(name, data, content_type="image/png"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def post(client, **files):
    form = {**FORM, "prompt_text": "The still comes alive", **files}
    return client.post(reverse("jobs:index"), form)


def test_first_and_last_frames_are_stored_as_image_resources(
    logged_in, data_dir, django_capture_on_commit_callbacks
):
    first, last = image_bytes(), image_bytes("JPEG", color=(0, 0, 200))
    with django_capture_on_commit_callbacks():
        response = post(
            logged_in,
            image=upload("holiday.png", first),
            last_frame=upload("../../etc/passwd.jpg", last, "image/jpeg"),
        )
    assert response.status_code == 302
    job = VideoCreationJob.objects.get()
    resources = {r.filename: r for r in VideoResource.objects.filter(job=job)}
    assert set(resources) == {"first-frame.png", "last-frame.jpg"}
    assert (
        resources["first-frame.png"].file_path
        == f"videos/{job.pk}/resources/images/first-frame.png"
    )
    assert (data_dir / resources["first-frame.png"].file_path).read_bytes() == first
    assert (data_dir / resources["last-frame.jpg"].file_path).read_bytes() == last


@pytest.mark.parametrize(
    ("files", "field", "message"),
    [
        (
            {"image": ("x.png", b"<html>not an image</html>", "image/png")},
            "image",
            "not a PNG, JPEG or WebP",
        ),
        ({"image": ("x.gif", None, "image/gif")}, "image", "GIF images are not accepted"),
        (
            {"image": ("tiny.png", (16, 16), "image/png")},
            "image",
            "each side must be between 64 and 4096",
        ),
        ({"last_frame": ("x.png", (320, 180), "image/png")}, "last_frame", "needs a first frame"),
    ],
)
def test_bad_frames_are_refused_and_nothing_is_written(logged_in, data_dir, files, field, message):
    prepared = {}
    for name, (filename, content, kind) in files.items():
        if content is None:
            content = image_bytes("GIF")
        elif isinstance(content, tuple):
            content = image_bytes(size=content)
        prepared[name] = upload(filename, content, kind)
    response = post(logged_in, **prepared)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert VideoCreationJob.objects.count() == 0
    assert not (data_dir / "videos").exists()


def test_oversized_frame_is_refused(logged_in, settings):
    settings.VEO_IMAGE_MAX_BYTES = 2048
    response = post(logged_in, image=upload("big.png", image_bytes(size=(800, 800)) + b"\0" * 4096))
    assert "the limit is" in " ".join(response.context["form"].errors["image"])


@responses.activate
def test_frames_are_sent_base64_encoded_as_the_sdk_does(
    gemini, logged_in, django_capture_on_commit_callbacks
):
    first = image_bytes()
    operation = f"models/{MODEL}/operations/op1"
    responses.post(f"{BASE}/models/{MODEL}:predictLongRunning", json={"name": operation})
    responses.get(
        f"{BASE}/{operation}",
        json={"name": operation, "done": True, "error": {"code": 13, "message": "stop here"}},
    )
    with django_capture_on_commit_callbacks(execute=True):
        post(logged_in, image=upload("a.png", first))
    body = json.loads(responses.calls[0].request.body)
    assert body["instances"][0]["image"] == {
        "bytesBase64Encoded": base64.b64encode(first).decode(),
        "mimeType": "image/png",
    }
    assert "lastFrame" not in body["instances"][0]
    assert responses.calls[0].request.headers["x-goog-api-key"] == API_KEY
