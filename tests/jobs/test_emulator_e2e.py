"""Vertex AI and image-to-video end to end against the emulator over real HTTP."""

import io
import json

import pytest
from PIL import Image

from jobs import frames, services
from jobs.media import probe
from jobs.models import VideoCreationJob, VideoResource
from jobs.veo.emulator import service_account_info
from tests.conftest import run_due_jobs

pytestmark = pytest.mark.django_db

COMPLETED = VideoCreationJob.Status.COMPLETED


@pytest.fixture
def vertex_emulator(settings, veo, tmp_path):
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(service_account_info(veo.base_url + "/token")))
    settings.VEO_PROVIDER = "vertex"
    settings.VERTEX_PROJECT = "emulator-project"
    settings.VERTEX_LOCATION = "us-central1"
    settings.VERTEX_API_BASE_URL = veo.base_url
    settings.VERTEX_STORAGE_BASE_URL = veo.base_url
    settings.VERTEX_STORAGE_URI = "gs://studio-bucket/veo/"
    settings.GOOGLE_APPLICATION_CREDENTIALS = str(key_file)
    return veo


def run(user, capture, *, model, prompt, options=None, **extra):
    options = {
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration_seconds": 4,
        **(options or {}),
    }
    with capture(execute=True):
        job = services.job_create(
            owner=user, prompt_text=prompt, model=model, options=options, **extra
        )
    run_due_jobs()
    job.refresh_from_db()
    return job


def operation_stats(emulator, prompt):
    (stats,) = [op for op in emulator.stats()["operations"].values() if op["prompt"] == prompt]
    return stats


def test_vertex_job_through_cloud_storage_with_two_samples(
    vertex_emulator, user, data_dir, django_capture_on_commit_callbacks
):
    prompt = "Vertex lighthouse, two takes"
    job = run(
        user,
        django_capture_on_commit_callbacks,
        model="veo-3.1-fast-generate-001",
        prompt=prompt,
        options={"sample_count": 2},
    )
    assert job.status == COMPLETED, job.error
    assert job.operation_name.startswith("projects/emulator-project/locations/us-central1/")
    assert probe(data_dir / job.video_url).duration > 3
    second = VideoResource.objects.get(job=job, filename="sample-2.mp4")
    assert second.type == "video"
    assert probe(data_dir / second.file_path).duration > 3
    stats = operation_stats(vertex_emulator, prompt)
    assert stats["dialect"] == "vertex"
    assert stats["storage_uri"] == "gs://studio-bucket/veo/"
    assert vertex_emulator.submits_for(prompt) == 1


def test_vertex_job_with_the_video_inline(
    vertex_emulator, settings, user, data_dir, django_capture_on_commit_callbacks
):
    settings.VERTEX_STORAGE_URI = ""
    job = run(
        user, django_capture_on_commit_callbacks, model="veo-3.1-generate-001", prompt="Inline take"
    )
    assert job.status == COMPLETED, job.error
    assert probe(data_dir / job.video_url).duration > 3
    assert "base64 characters omitted" in json.dumps(job.metadata["provider_response"])


def test_vertex_safety_filter_through_the_emulator(
    vertex_emulator, user, django_capture_on_commit_callbacks
):
    job = run(
        user,
        django_capture_on_commit_callbacks,
        model="veo-3.1-fast-generate-001",
        prompt="Filtered [fault=safety]",
    )
    assert job.status == VideoCreationJob.Status.FAILED
    assert "You will not be charged" in job.error


class _Upload(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.size = len(data)


def png(color):
    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), color).save(buffer, format="PNG")
    return frames.read_frame(_Upload(buffer.getvalue()), max_bytes=1_000_000)


@pytest.mark.parametrize("provider", ["gemini", "vertex"])
def test_image_to_video_sends_both_frames_and_renders_from_them(
    request, veo, user, data_dir, django_capture_on_commit_callbacks, provider
):
    model = "veo-3.1-fast-generate-preview"
    if provider == "vertex":
        request.getfixturevalue("vertex_emulator")
        model = "veo-3.1-fast-generate-001"
    prompt = f"From a still, {provider}"
    job = run(
        user,
        django_capture_on_commit_callbacks,
        model=model,
        prompt=prompt,
        image=png((220, 40, 40)),
        last_frame=png((40, 40, 220)),
    )
    assert job.status == COMPLETED, job.error
    stats = operation_stats(veo, prompt)
    assert (stats["image"], stats["last_frame"]) == (True, True)
    names = set(VideoResource.objects.filter(job=job).values_list("filename", flat=True))
    assert {"first-frame.png", "last-frame.png", "poster.jpg"} <= names
