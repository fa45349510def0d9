"""Vertex AI end to end through the pipeline, with google-auth's real token flow.

The first tests fake the wire with `responses` (the service-account JWT grant,
predictLongRunning, fetchPredictOperation and the Cloud Storage read); the rest run Veo
3.1's tasks against the emulator over HTTP, through VertexProvider and through the whole
pipeline, counting one submit per job.
"""

import base64
import io
import json
import time

import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ValidationError
from django.test import TestCase
from PIL import Image

from jobs import services
from jobs.frames import Frame
from jobs.media import probe
from jobs.models import VideoCreationJob, VideoResource
from jobs.veo.base import GenerationRequest, InputImage, SourceVideo, Task, VeoError
from jobs.veo.emulator import service_account_info
from jobs.veo.vertex import VertexProvider
from tests.conftest import run_due_jobs
from tests.factories import JOB_OPTIONS

pytestmark = pytest.mark.django_db

MODEL = "veo-3.1-fast-generate-001"
PREFIX = "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/studio-proj/locations/us-central1/publishers/google/models"
SUBMIT = f"{PREFIX}/{MODEL}:predictLongRunning"
FETCH = f"{PREFIX}/{MODEL}:fetchPredictOperation"
OPERATION = f"projects/studio-proj/locations/us-central1/publishers/google/models/{MODEL}/operations/0c33-uuid"
TOKEN_URI = "https://oauth2.googleapis.com/token"
STORAGE = "https://storage.googleapis.com/storage/v1/b/studio-bucket/o/out%2F0c33-uuid%2Fsample_0.mp4?alt=media"
TOKEN = "ya29.test-token"


@pytest.fixture(scope="session")
def service_account_file(tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path_factory.mktemp("gcp") / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "studio-proj",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "studio@studio-proj.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": TOKEN_URI,
            }
        )
    )
    return path


@pytest.fixture
def vertex(settings, service_account_file):
    settings.VEO_PROVIDER = "vertex"
    settings.VERTEX_PROJECT = "studio-proj"
    settings.VERTEX_LOCATION = "us-central1"
    settings.VERTEX_API_BASE_URL = ""
    settings.VERTEX_STORAGE_BASE_URL = "https://storage.googleapis.com"
    settings.VERTEX_STORAGE_URI = "gs://studio-bucket/out/"
    settings.GOOGLE_APPLICATION_CREDENTIALS = str(service_account_file)
    settings.VEO_POLL_INTERVAL = 0
    settings.VEO_RETRY_BASE_SECONDS = 0.01


def run(user, capture):
    with capture(execute=True):
        job = services.job_create(
            owner=user, prompt_text="Vertex dusk", model=MODEL, options=JOB_OPTIONS
        )
    run_due_jobs()
    job.refresh_from_db()
    return job


def calls_to(url):
    return [c for c in responses.calls if c.request.url == url]


@responses.activate
def test_vertex_job_uses_oauth_fetch_predict_operation_and_cloud_storage(
    vertex, user, mp4_bytes, django_capture_on_commit_callbacks
):
    responses.post(TOKEN_URI, json={"access_token": TOKEN, "expires_in": 3600})
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.post(FETCH, json={"name": OPERATION})
    responses.post(
        FETCH,
        json={
            "name": OPERATION,
            "done": True,
            "response": {
                "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
                "raiMediaFilteredCount": 0,
                "videos": [
                    {
                        "gcsUri": "gs://studio-bucket/out/0c33-uuid/sample_0.mp4",
                        "mimeType": "video/mp4",
                    }
                ],
            },
        },
    )
    responses.get(STORAGE, body=mp4_bytes, content_type="video/mp4")

    job = run(user, django_capture_on_commit_callbacks)

    assert job.status == VideoCreationJob.Status.COMPLETED, job.error
    assert job.operation_name == OPERATION
    assert len(calls_to(TOKEN_URI)) == 1
    assert b"jwt-bearer" in calls_to(TOKEN_URI)[0].request.body
    (submit,) = calls_to(SUBMIT)
    assert submit.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(submit.request.body) == {
        "instances": [{"prompt": "Vertex dusk"}],
        "parameters": {
            "aspectRatio": "16:9",
            "resolution": "720p",
            "durationSeconds": 4,
            "sampleCount": 1,
            "storageUri": "gs://studio-bucket/out/",
        },
    }
    for call in calls_to(FETCH):
        assert json.loads(call.request.body) == {"operationName": OPERATION}
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert calls_to(STORAGE)[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


@responses.activate
def test_inline_video_lands_on_disk_but_not_in_the_jobs_metadata(
    vertex, settings, user, mp4_bytes, data_dir, django_capture_on_commit_callbacks
):
    settings.VERTEX_STORAGE_URI = ""
    encoded = base64.b64encode(mp4_bytes).decode()
    responses.post(TOKEN_URI, json={"access_token": TOKEN, "expires_in": 3600})
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.post(
        FETCH,
        json={
            "name": OPERATION,
            "done": True,
            "response": {"videos": [{"bytesBase64Encoded": encoded, "mimeType": "video/mp4"}]},
        },
    )
    job = run(user, django_capture_on_commit_callbacks)
    assert job.status == VideoCreationJob.Status.COMPLETED, job.error
    assert (data_dir / job.video_url).read_bytes() == mp4_bytes
    stored = json.dumps(job.metadata)
    assert encoded[:200] not in stored
    assert f"<{len(encoded)} base64 characters omitted>" in stored


@responses.activate
def test_vertex_safety_filter_reason_reaches_the_person(
    vertex, user, django_capture_on_commit_callbacks
):
    reason = "Veo could not generate 1 videos based on the prompt provided. You will not be charged for this request."
    responses.post(TOKEN_URI, json={"access_token": TOKEN, "expires_in": 3600})
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.post(
        FETCH,
        json={
            "name": OPERATION,
            "done": True,
            "response": {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [reason]},
        },
    )
    job = run(user, django_capture_on_commit_callbacks)
    assert job.status == VideoCreationJob.Status.FAILED
    assert reason in job.error


@responses.activate
def test_missing_credentials_file_fails_before_anything_is_sent(
    vertex, settings, user, django_capture_on_commit_callbacks
):
    settings.GOOGLE_APPLICATION_CREDENTIALS = "/nonexistent/service-account.json"
    job = run(user, django_capture_on_commit_callbacks)
    assert job.status == VideoCreationJob.Status.FAILED
    assert "GOOGLE_APPLICATION_CREDENTIALS" in job.error
    assert "/nonexistent" not in job.error and "Errno" not in job.error  # no server paths
    assert len(responses.calls) == 0


@responses.activate
def test_unreachable_token_service_is_told_in_a_sentence_and_logged_in_detail(
    vertex, user, caplog, django_capture_on_commit_callbacks
):
    raw = "HTTPSConnectionPool(host='oauth2.googleapis.com'): [Errno 111] Connection refused"
    responses.post(TOKEN_URI, body=requests.ConnectionError(raw))
    job = run(user, django_capture_on_commit_callbacks)
    assert job.status == VideoCreationJob.Status.FAILED
    assert job.error.startswith("Could not reach Google's token service.")
    assert "Errno" not in job.error and "HTTPSConnectionPool" not in job.error
    assert "Connection refused" in caplog.text
    assert calls_to(SUBMIT) == []


@responses.activate
def test_refused_service_account_is_explained(vertex, user, django_capture_on_commit_callbacks):
    responses.post(
        TOKEN_URI,
        status=400,
        json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
    )
    job = run(user, django_capture_on_commit_callbacks)
    assert job.status == VideoCreationJob.Status.FAILED
    assert job.error == ("Google refused the service account's credentials: Invalid JWT Signature.")
    assert "invalid_grant" not in job.error and "{" not in job.error  # no raw exception text
    assert calls_to(SUBMIT) == []


@responses.activate
def test_model_the_project_cannot_reach_is_a_final_error(
    vertex, user, django_capture_on_commit_callbacks
):
    responses.post(TOKEN_URI, json={"access_token": TOKEN, "expires_in": 3600})
    responses.post(
        SUBMIT,
        status=404,
        json={
            "error": {
                "code": 404,
                "status": "NOT_FOUND",
                "message": f"Publisher Model `projects/studio-proj/locations/us-central1/publishers/google/models/{MODEL}` was not found or your project does not have access to it.",
            }
        },
    )
    job = run(user, django_capture_on_commit_callbacks)
    assert job.status == VideoCreationJob.Status.FAILED
    assert "does not offer this model to this account" in job.error
    assert len(calls_to(SUBMIT)) == 1


# --- Veo 3.1 GA's tasks against the emulator over HTTP ----------------------------------
#
# VertexProvider itself, with a real token from the emulator: each task is submitted once,
# polled until done and downloaded, as the pipeline does.

EMULATOR_PROJECT = "emulator-project"
BUCKET = "gs://studio-bucket/tasks/"


@pytest.fixture
def emulator_provider(emulator, tmp_path):
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(service_account_info(emulator.base_url + "/token")))

    def provider(storage_uri=BUCKET):
        return VertexProvider(
            project=EMULATOR_PROJECT,
            location="us-central1",
            credentials_file=str(key_file),
            base_url=emulator.base_url,
            storage_base_url=emulator.base_url,
            storage_uri=storage_uri,
        )

    return provider


def generate(provider, request, dest_dir, *, timeout=90):
    """Submit once, poll until done, download every sample; return the operation and files."""
    name = provider.submit(request)
    deadline = time.monotonic() + timeout
    while not (operation := provider.poll(name)).done:
        assert time.monotonic() < deadline, f"{name} was not done in {timeout} s"
        time.sleep(0.05)
    assert operation.error is None, operation.error
    paths = []
    for number, sample in enumerate(operation.samples):
        path = dest_dir / f"{name.rpartition('/')[2]}-{number}.mp4"
        provider.download(sample, path, max_bytes=50_000_000)
        paths.append(path)
    return operation, paths


def png_image(color):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), color).save(buffer, format="PNG")
    return InputImage(data=buffer.getvalue(), mime_type="image/png")


def task_request(prompt, **fields):
    return GenerationRequest(
        prompt=prompt, model=MODEL, duration_seconds=fields.pop("duration_seconds", 4), **fields
    )


def sent(emulator, prompt):
    (stats,) = [op for op in emulator.stats()["operations"].values() if op["prompt"] == prompt]
    return stats


@pytest.mark.parametrize(
    "fields",
    [
        {"task": Task.TEXT},
        {"task": Task.IMAGE, "image": png_image("red")},
        {"task": Task.IMAGE, "image": png_image("red"), "last_frame": png_image("blue")},
        {
            "task": Task.REFERENCES,
            "reference_images": (png_image("red"), png_image("green"), png_image("blue")),
            "duration_seconds": 8,
        },
    ],
    ids=["text", "first frame", "first and last", "references"],
)
def test_each_task_is_submitted_once_and_lands_as_a_video(
    emulator, emulator_provider, tmp_path, fields
):
    prompt = f"Vertex task {fields['task']} {len(fields)}"
    request = task_request(prompt, **fields)

    operation, (path,) = generate(emulator_provider(), request, tmp_path)

    assert operation.samples[0].uri.startswith(BUCKET)
    assert probe(path).duration == pytest.approx(request.duration_seconds, abs=0.3)
    assert emulator.submits_for(prompt) == 1
    stats = sent(emulator, prompt)
    assert (stats["image"], stats["last_frame"]) == ("image" in fields, "last_frame" in fields)
    assert stats["references"] == len(fields.get("reference_images", ()))


def test_extension_of_a_stored_video_reads_it_in_place_and_adds_seven_seconds(
    emulator, emulator_provider, tmp_path
):
    provider = emulator_provider()
    parent, _ = generate(provider, task_request("Vertex boat sets out"), tmp_path)
    source = SourceVideo(
        job_id="parent", api="predict", uri=parent.samples[0].uri, duration_seconds=4
    )
    assert source.uri.startswith(BUCKET)

    prompt = "Vertex boat reaches the island"
    request = task_request(prompt, task=Task.EXTEND, source=source, duration_seconds=8)
    _, (path,) = generate(provider, request, tmp_path)

    assert probe(path).duration == pytest.approx(11, abs=0.3)
    assert emulator.submits_for(prompt) == 1


def test_extension_of_a_local_video_sends_its_bytes(emulator, emulator_provider, tmp_path):
    provider = emulator_provider(storage_uri="")
    parent, (parent_path,) = generate(provider, task_request("Vertex kite rises"), tmp_path)
    assert parent.samples[0].data is not None and parent.samples[0].uri is None
    source = SourceVideo(job_id="parent", api="predict", path=parent_path, duration_seconds=4)

    prompt = "Vertex kite loops"
    _, (path,) = generate(
        provider,
        task_request(prompt, task=Task.EXTEND, source=source, duration_seconds=8),
        tmp_path,
    )

    assert probe(path).duration == pytest.approx(11, abs=0.3)
    assert emulator.submits_for(prompt) == 1


def test_seed_audio_enhance_and_samples_reach_vertex(emulator, emulator_provider, tmp_path):
    prompt = "Vertex, every knob"
    request = task_request(
        prompt,
        sample_count=3,
        seed=42,
        generate_audio=False,
        enhance_prompt=True,
        negative_prompt="text",
        person_generation="disallow",
    )

    _, paths = generate(emulator_provider(), request, tmp_path)

    assert len(paths) == 3
    assert [probe(path).has_audio for path in paths] == [False] * 3
    assert sent(emulator, prompt)["parameters"] == {
        "aspectRatio": "16:9",
        "resolution": "720p",
        "durationSeconds": 4,
        "sampleCount": 3,
        "seed": 42,
        "generateAudio": False,
        "enhancePrompt": True,
        "negativePrompt": "text",
        "personGeneration": "disallow",
        "storageUri": BUCKET,
    }
    assert emulator.submits_for(prompt) == 1


def test_refused_references_and_a_lost_source_are_sentences(emulator, emulator_provider):
    provider = emulator_provider()
    too_many = task_request(
        "Vertex four faces",
        task=Task.REFERENCES,
        reference_images=(png_image("red"),) * 4,
        duration_seconds=8,
    )
    with pytest.raises(VeoError) as refused:
        provider.submit(too_many)
    assert "at most 3" in refused.value.message
    assert emulator.submits_for("Vertex four faces") == 0

    gone = SourceVideo(job_id="parent", api="predict")
    with pytest.raises(VeoError) as lost:
        provider.submit(task_request("Vertex lost", task=Task.EXTEND, source=gone))
    assert lost.value.message == (
        "The video this job starts from is no longer stored, so it cannot be sent."
    )
    assert emulator.submits_for("Vertex lost") == 0


# --- Each Veo 3.1 task through the real pipeline, against the emulator ------------------


@pytest.fixture
def vertex_studio(settings, veo, tmp_path):
    """The studio on Vertex AI with the built-in catalog, its Vertex calls to the emulator."""
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(service_account_info(veo.base_url + "/token")))
    settings.VEO_CATALOG_FILE = ""
    settings.VEO_PROVIDER = "vertex"
    settings.VEO_MODEL = "veo-3.1-fast-generate-001"
    settings.VERTEX_PROJECT = EMULATOR_PROJECT
    settings.VERTEX_LOCATION = "us-central1"
    settings.VERTEX_API_BASE_URL = veo.base_url
    settings.VERTEX_STORAGE_BASE_URL = veo.base_url
    settings.VERTEX_STORAGE_URI = BUCKET
    settings.GOOGLE_APPLICATION_CREDENTIALS = str(key_file)
    settings.VEO_RETRY_BASE_SECONDS = 0.01
    return veo


def frame(colour):
    out = io.BytesIO()
    Image.new("RGB", (64, 36), colour).save(out, format="PNG")
    return Frame(data=out.getvalue(), mime_type="image/png", extension="png", width=64, height=36)


def run_job(prompt, user, *, model=MODEL, frames=(), references=(), **fields):
    """Create a Vertex job as every caller does and run it until nothing is due."""
    first, last = [*frames, None, None][:2]
    options = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 4}
    options |= fields.pop("options", {})
    with TestCase.captureOnCommitCallbacks(execute=True):
        job = services.job_create(
            owner=user,
            prompt_text=prompt,
            model=model,
            options=options,
            image=first,
            last_frame=last,
            reference_images=list(references),
            **fields,
        )
    run_due_jobs(timeout=120)
    job.refresh_from_db()
    return job


def finished(job, data_dir, emulator):
    """Assert the job completed on one submit; return its video's facts."""
    assert job.status == VideoCreationJob.Status.COMPLETED, job.error
    assert emulator.submits_for(job.prompt_text) == 1
    return probe(data_dir / job.video_url)


def test_text_and_frames_jobs_on_vertex(vertex_studio, user, data_dir):
    text = run_job("Vertex job: a heron", user)
    first = run_job("Vertex job: from red", user, frames=[frame("red")])
    both = run_job("Vertex job: red to blue", user, frames=[frame("red"), frame("blue")])

    for job in (text, first, both):
        assert finished(job, data_dir, vertex_studio).duration == pytest.approx(4, abs=0.3)
    assert (first.task, both.task) == (Task.IMAGE, Task.IMAGE)
    stats = sent(vertex_studio, both.prompt_text)
    assert (stats["image"], stats["last_frame"]) == (True, True)


def test_a_reference_images_job_on_vertex(vertex_studio, user, data_dir):
    job = run_job(
        "Vertex job: three friends",
        user,
        references=[frame("red"), frame("green"), frame("blue")],
        options={"duration_seconds": 8},
    )

    assert job.task == Task.REFERENCES
    assert finished(job, data_dir, vertex_studio).duration == pytest.approx(8, abs=0.3)
    assert sent(vertex_studio, job.prompt_text)["references"] == 3


@pytest.mark.parametrize("storage_uri", [BUCKET, ""], ids=["kept in storage", "inline"])
def test_an_extend_job_makes_the_parents_video_seven_seconds_longer(
    vertex_studio, settings, user, data_dir, storage_uri
):
    settings.VERTEX_STORAGE_URI = storage_uri
    kept = "kept" if storage_uri else "inline"
    parent = run_job(f"Vertex job ({kept}): a boat sets out", user)
    finished(parent, data_dir, vertex_studio)
    if storage_uri:
        # Vertex reads its own object in place: the local copy is not needed.
        (data_dir / parent.video_url).unlink()

    child = run_job(
        f"Vertex job ({kept}): it reaches the island",
        user,
        task=Task.EXTEND,
        parent=parent,
        options={"duration_seconds": 8},
    )

    assert finished(child, data_dir, vertex_studio).duration == pytest.approx(11, abs=0.3)
    assert child.parent == parent


def test_seed_audio_off_enhance_and_three_samples_on_vertex(vertex_studio, user, data_dir):
    job = run_job(
        "Vertex job: every knob",
        user,
        options={"seed": 42, "generate_audio": False, "enhance_prompt": True, "sample_count": 3},
    )

    assert not finished(job, data_dir, vertex_studio).has_audio
    samples = VideoResource.objects.filter(job=job, filename__startswith="sample-")
    assert sorted(samples.values_list("filename", flat=True)) == ["sample-2.mp4", "sample-3.mp4"]
    parameters = sent(vertex_studio, job.prompt_text)["parameters"]
    assert (parameters["seed"], parameters["generateAudio"], parameters["enhancePrompt"]) == (
        42,
        False,
        True,
    )
    assert parameters["sampleCount"] == 3


def test_lite_refuses_references_before_anything_is_sent(vertex_studio, user):
    with pytest.raises(ValidationError) as refused:
        run_job(
            "Vertex job: lite with a face",
            user,
            model="veo-3.1-lite-generate-001",
            references=[frame("red")],
            options={"duration_seconds": 8},
        )

    assert "task" in refused.value.message_dict
    assert vertex_studio.submits_for("Vertex job: lite with a face") == 0
