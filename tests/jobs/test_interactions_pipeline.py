"""Gemini Omni jobs through the real pipeline, against the emulator's Interactions dialect.

Each task runs end to end over HTTP (create, polls, download, finish) and the emulator's
counters say how many creates Google would have billed: one per job under every fault.
"""

import base64
import io
import json
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import google.auth.transport.requests
import pytest
import requests
import responses
from django.test import TestCase
from django.utils import timezone
from PIL import Image

from jobs import pipeline, services, storage
from jobs.frames import Frame
from jobs.models import VideoCreationJob, VideoResource
from jobs.veo.base import Task
from jobs.veo.emulator import service_account_info
from jobs.veo.vertex import load_credentials_file
from tests.conftest import API_KEY, run_due_jobs
from tests.factories import make_job

pytestmark = pytest.mark.django_db

Status, Stage = VideoCreationJob.Status, VideoCreationJob.Stage
OMNI = "gemini-omni-1.2-flash"
OPTIONS = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 4}
# The built-in catalog's rate: $17.50 per million video tokens (5,792 a second at 720p).
RATE = Decimal("17.50")


@pytest.fixture(autouse=True)
def omni(settings, veo):
    """Offer the built-in catalog's Omni and point the studio at the emulator."""
    settings.VEO_CATALOG_FILE = ""
    settings.VEO_MODEL = OMNI
    settings.VEO_RETRY_BASE_SECONDS = 0.01
    settings.GEMINI_API_VERSION = "v1"
    return veo


def frame(colour):
    out = io.BytesIO()
    Image.new("RGB", (64, 36), colour).save(out, format="PNG")
    return Frame(data=out.getvalue(), mime_type="image/png", extension="png", width=64, height=36)


def run_job(user, prompt, *, task=Task.TEXT, parent=None, frames=(), references=(), **options):
    """Create an Omni job as every caller does, run it until nothing is due; return it."""
    first, last = [*frames, None, None][:2]
    with TestCase.captureOnCommitCallbacks(execute=True):
        job = services.job_create(
            owner=user,
            prompt_text=prompt,
            model=OMNI,
            options={**OPTIONS, **options},
            task=task,
            parent=parent,
            image=first,
            last_frame=last,
            reference_images=list(references),
        )
    run_due_jobs(timeout=30)
    job.refresh_from_db()
    return job


def output(data_dir, job):
    return data_dir / "videos" / job.pk / "output.mp4"


def tokens_of(job):
    return job.metadata["video_tokens"]


def token_cost(job):
    """Return what the job's video tokens cost at Omni's rate, to the column's 4 places."""
    return (RATE * tokens_of(job) / 1_000_000).quantize(Decimal("0.0001"))


def test_a_text_job_makes_one_create_and_is_billed_by_its_tokens(omni, user, data_dir):
    job = run_job(user, "Omni text fox")
    assert job.status == Status.COMPLETED, job.error
    assert output(data_dir, job).is_file()
    assert job.operation_name.startswith("v1_")
    assert omni.submits_for("Omni text fox") == 1
    assert omni.requests_for("Omni text fox") == 1
    assert tokens_of(job) == 4 * 5792
    assert job.actual_cost_usd == token_cost(job) == Decimal("0.4054")


def test_an_image_job_sends_its_first_and_last_frame(omni, user, data_dir):
    job = run_job(
        user,
        "Omni frames harbour",
        task=Task.IMAGE,
        frames=[frame("red"), frame("blue")],
    )
    assert job.status == Status.COMPLETED, job.error
    assert omni.submits_for("<FIRST_FRAME>@Image1 <LAST_FRAME>@Image2] Omni frames harbour") == 1


def test_a_references_job_sends_its_images_in_order(omni, user, data_dir):
    job = run_job(
        user,
        "Omni references beach",
        task=Task.REFERENCES,
        references=[frame("green"), frame("yellow")],
    )
    assert job.status == Status.COMPLETED, job.error
    assert omni.submits_for("<IMAGE_REF_0>@Image1 <IMAGE_REF_1>@Image2") == 1


@pytest.fixture
def finished(user, omni):
    job = run_job(user, "Omni source clip")
    assert job.status == Status.COMPLETED, job.error
    return job


@pytest.mark.parametrize("task", [Task.EXTEND, Task.EDIT])
def test_a_child_chains_on_the_parents_interaction(omni, user, data_dir, finished, task):
    prompt = f"Omni child {task.value}"
    child = run_job(user, prompt, task=task, parent=finished)
    assert child.status == Status.COMPLETED, child.error
    assert output(data_dir, child).is_file()
    assert omni.submits_for(prompt) == 1
    assert child.metadata["provider_response"]["previous_interaction_id"] == finished.operation_name


def test_an_upscale_asks_for_the_higher_resolution(omni, user, finished):
    child = run_job(user, "Omni upscale", task=Task.UPSCALE, parent=finished, resolution="1080p")
    assert child.status == Status.COMPLETED, child.error
    assert child.metadata["video"]["height"] == 1080


def test_an_extend_of_an_interaction_google_forgot_uploads_the_parents_video(
    omni, user, data_dir, finished
):
    gone = requests.delete(
        f"{omni.base_url}/v1/interactions/{finished.operation_name}",
        headers={"x-goog-api-key": API_KEY},
        timeout=5,
    )
    assert gone.status_code == 200
    child = run_job(user, "Omni extend uploaded", task=Task.EXTEND, parent=finished)
    assert child.status == Status.COMPLETED, child.error
    assert omni.submits_for("Omni extend uploaded") == 1
    assert "previous_interaction_id" not in child.metadata["provider_response"]


def test_from_a_bucket_the_parents_video_is_uploaded_from_a_local_copy(
    omni, bucket, user, data_dir
):
    parent = run_job(user, "Omni bucket source")
    assert parent.status == Status.COMPLETED, parent.error
    requests.delete(
        f"{omni.base_url}/v1/interactions/{parent.operation_name}",
        headers={"x-goog-api-key": API_KEY},
        timeout=5,
    ).raise_for_status()
    child = run_job(user, "Omni bucket extend", task=Task.EXTEND, parent=parent)
    assert child.status == Status.COMPLETED, child.error
    assert f"videos/{child.pk}/output.mp4" in bucket.names()
    assert not any(path.is_file() for path in data_dir.rglob("*"))  # the copy is gone


def test_a_cancelled_job_is_cancelled_at_google_once_and_still_says_it_may_bill(
    omni, user, django_capture_on_commit_callbacks
):
    job = make_job(user, prompt_text="Omni cancel [fault=slow]", model=OMNI, options=OPTIONS)
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert job.operation_name and job.stage == Stage.GENERATING
    with django_capture_on_commit_callbacks(execute=True):
        assert services.job_cancel(job=job)
    job.refresh_from_db()
    assert (job.status, job.error) == (Status.FAILED, services.CANCELLED_MESSAGE)
    assert job.actual_cost_usd is None  # Google may bill it
    answer = requests.get(
        f"{omni.base_url}/v1/interactions/{job.operation_name}",
        headers={"x-goog-api-key": API_KEY},
        timeout=5,
    ).json()
    assert answer["status"] == "cancelled"
    assert omni.submits_for("Omni cancel") == 1


COMPLETED, FAILED = Status.COMPLETED, Status.FAILED


@pytest.mark.parametrize(
    ("fault", "status", "message", "accepted", "cost"),
    [
        ("submit-429", FAILED, "rate limit was reached", 0, Decimal(0)),
        ("daily-quota", FAILED, "daily Veo quota is used up", 0, Decimal(0)),
        ("submit-500", FAILED, "may have gone through", 0, None),
        ("submit-503", FAILED, "may have gone through", 0, None),
        ("submit-500-accepted", FAILED, "may have gone through", 1, None),
        ("poll-503-once", COMPLETED, None, 1, "tokens"),
        ("done-error", FAILED, "Google could not generate the video", 1, Decimal(0)),
        ("safety", FAILED, "Google finished the generation without a video", 1, Decimal(0)),
        ("no-response", FAILED, "before it was complete", 1, Decimal(0)),
        ("expired", FAILED, "did not have the generated video", 1, "tokens"),
    ],
)
def test_every_fault_ends_right_with_one_create_at_most(
    omni, user, data_dir, fault, status, message, accepted, cost
):
    prompt = f"Omni fault {fault} [fault={fault}]"
    job = run_job(user, prompt)
    assert job.status == status, job.error
    if message:
        assert message in job.error
    assert omni.submits_for(prompt) == accepted
    # Only a 429 is sent again, as Google refused it: never a create that may have arrived.
    creates = omni.requests_for(prompt)
    assert creates == (pipeline.SUBMIT_ATTEMPTS if fault == "submit-429" else 1)
    if cost == "tokens":
        assert job.actual_cost_usd == token_cost(job)
    else:
        assert job.actual_cost_usd == cost
    if status == FAILED:
        assert not output(data_dir, job).exists()


def test_a_redirected_download_reaches_the_listed_host_without_the_key(omni, user, settings):
    port = urlsplit(omni.base_url).port
    settings.VEO_DOWNLOAD_HOSTS = [f"localhost:{port}"]
    leaks_before = omni.stats()["redirect_key_leaks"]
    job = run_job(user, "Omni redirect [fault=redirect]")
    assert job.status == COMPLETED, job.error
    assert omni.submits_for("Omni redirect") == 1
    assert omni.stats()["redirect_key_leaks"] == leaks_before


GEMINI = "https://generativelanguage.googleapis.com"


@responses.activate
def test_a_completed_job_without_usage_has_an_unknown_cost(settings, user, mp4_bytes):
    settings.TRANSCRIBE_MODEL = ""  # the only POSTs counted are the video's
    settings.VEO_API_BASE_URL = GEMINI
    interaction = "v1_NoUsage"
    file = f"{GEMINI}/v1/files/nousage"
    responses.post(f"{GEMINI}/v1/interactions", json={"id": interaction, "status": "in_progress"})
    video = {"type": "video", "uri": file, "mime_type": "video/mp4"}
    responses.get(
        f"{GEMINI}/v1/interactions/{interaction}",
        json={
            "id": interaction,
            "status": "completed",
            "steps": [{"type": "model_output", "content": [video]}],
        },
    )
    responses.get(f"{file}?alt=media", body=mp4_bytes, content_type="video/mp4")
    job = run_job(user, "Omni no usage")
    assert job.status == COMPLETED, job.error
    assert "video_tokens" not in job.metadata
    assert job.actual_cost_usd is None  # unknown, so the estimate counts against budgets
    assert len([c for c in responses.calls if c.request.method == "POST"]) == 1


# --- Omni on Vertex: the same client, a bearer token, the global location ---------------


@pytest.fixture
def vertex(settings, omni, tmp_path):
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(service_account_info(omni.base_url + "/token")))
    settings.VEO_PROVIDER = "vertex"
    settings.VERTEX_PROJECT = "emulator-project"
    settings.VERTEX_LOCATION = "us-central1"  # Omni goes to global whatever this says
    settings.VERTEX_API_BASE_URL = omni.base_url
    settings.VERTEX_STORAGE_BASE_URL = omni.base_url
    settings.VERTEX_STORAGE_URI = "gs://studio-bucket/omni/"
    settings.GOOGLE_APPLICATION_CREDENTIALS = str(key_file)
    return omni


def test_omni_on_vertex_writes_to_the_bucket_and_an_extend_reads_it_in_place(
    vertex, user, settings, data_dir
):
    parent = run_job(user, "Vertex Omni parent")
    assert parent.status == Status.COMPLETED, parent.error
    (part,) = parent.metadata["provider_response"]["steps"][-1]["content"]
    assert part["uri"].startswith("gs://studio-bucket/omni/")
    assert vertex.submits_for("Vertex Omni parent") == 1
    assert parent.actual_cost_usd == token_cost(parent)
    # Gone from Google's interactions, the parent's video is still in the bucket.
    gone = requests.delete(
        f"{vertex.base_url}/v1beta1/projects/emulator-project/locations/global/interactions/"
        f"{parent.operation_name}",
        headers={"Authorization": f"Bearer {vertex_token(settings)}"},
        timeout=5,
    )
    assert gone.status_code == 200
    # Nor is the studio's own copy needed: Vertex reads the object where it wrote it.
    (data_dir / "videos" / parent.pk / "output.mp4").unlink()
    child = run_job(user, "Vertex Omni extend", task=Task.EXTEND, parent=parent)
    assert child.status == Status.COMPLETED, child.error
    assert vertex.submits_for("Vertex Omni extend") == 1
    assert "previous_interaction_id" not in child.metadata["provider_response"]


def test_omni_on_vertex_without_a_bucket_takes_the_video_inline(vertex, user, settings):
    settings.VERTEX_STORAGE_URI = ""
    job = run_job(user, "Vertex Omni inline")
    assert job.status == Status.COMPLETED, job.error
    (part,) = job.metadata["provider_response"]["steps"][-1]["content"]
    assert "uri" not in part or not part["uri"]


def vertex_token(settings):
    """Return a token from the emulator's token service, as google-auth gets one."""
    credentials = load_credentials_file(settings.GOOGLE_APPLICATION_CREDENTIALS)
    credentials.refresh(google.auth.transport.requests.Request())
    return credentials.token


@responses.activate
def test_a_cancel_reaches_google_once_and_no_create_is_sent(settings, user):
    settings.VEO_API_BASE_URL = GEMINI
    interaction = "v1_Cancel"
    job = make_job(
        user,
        model=OMNI,
        options=OPTIONS,
        status=Status.PROCESSING,
        stage=Stage.GENERATING,
        operation_name=interaction,
        submitted_at=timezone.now(),
    )
    cancel = responses.post(
        f"{GEMINI}/v1/interactions/{interaction}/cancel",
        json={"id": interaction, "status": "cancelled"},
    )
    responses.get(
        f"{GEMINI}/v1/interactions/{interaction}", json={"id": interaction, "status": "cancelled"}
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert services.job_cancel(job=job)
    assert cancel.call_count == 1
    assert not [c for c in responses.calls if c.request.url == f"{GEMINI}/v1/interactions"]
    job.refresh_from_db()
    assert job.error == services.CANCELLED_MESSAGE
    assert not job.resources.filter(filename="late-result.mp4").exists()


def google_answers(*, steps_after=0, status="completed", tokens=10_000, mp4=b""):
    """Fake Google's Interactions wire: a create, polls running steps_after times, a file."""
    interaction, file = "v1_Wire", f"{GEMINI}/v1/files/wire"
    create = responses.post(
        f"{GEMINI}/v1/interactions", json={"id": interaction, "status": "in_progress"}
    )
    for _ in range(steps_after):
        responses.get(
            f"{GEMINI}/v1/interactions/{interaction}",
            json={"id": interaction, "status": "in_progress"},
        )
    video = {"type": "video", "uri": file, "mime_type": "video/mp4"}
    done = {
        "id": interaction,
        "status": status,
        "steps": [{"type": "model_output", "content": [video]}],
        "usage": {"output_tokens_by_modality": [{"modality": "video", "tokens": tokens}]},
    }
    responses.get(f"{GEMINI}/v1/interactions/{interaction}", json=done)
    responses.get(f"{file}?alt=media", body=mp4, content_type="video/mp4")
    return create


@responses.activate
def test_the_cost_is_the_tokens_google_counted_not_the_estimate(settings, user, mp4_bytes):
    settings.TRANSCRIBE_MODEL = ""  # the only POSTs counted are the video's
    settings.VEO_API_BASE_URL = GEMINI
    create = google_answers(tokens=10_000, mp4=mp4_bytes)
    job = run_job(user, "Omni tokens")
    assert job.status == COMPLETED, job.error
    assert job.actual_cost_usd == Decimal("0.1750")  # 10,000 tokens at $17.50 a million
    assert job.estimated_cost_usd != job.actual_cost_usd
    assert create.call_count == 1


@responses.activate
def test_a_slow_generation_is_polled_until_done_with_one_create(settings, user, mp4_bytes):
    settings.VEO_API_BASE_URL = GEMINI
    settings.VEO_POLL_INTERVAL = 0
    create = google_answers(steps_after=3, mp4=mp4_bytes)
    job = run_job(user, "Omni slow")
    assert job.status == COMPLETED, job.error
    polls = [
        c for c in responses.calls if c.request.method == "GET" and "interactions" in c.request.url
    ]
    assert len(polls) >= 4
    assert create.call_count == 1


@responses.activate
def test_an_unknown_status_waits_until_the_deadline_then_times_out(settings, user):
    settings.VEO_API_BASE_URL = GEMINI
    interaction = "v1_Odd"
    job = make_job(
        user,
        model=OMNI,
        options=OPTIONS,
        status=Status.PROCESSING,
        stage=Stage.GENERATING,
        operation_name=interaction,
        submitted_at=timezone.now(),
    )
    responses.get(
        f"{GEMINI}/v1/interactions/{interaction}",
        json={"id": interaction, "status": "a_status_from_next_year"},
    )
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert job.status == Status.PROCESSING and job.next_run_at is not None
    deadline = timedelta(minutes=settings.VEO_JOB_DEADLINE_MINUTES + 1)
    VideoCreationJob.objects.filter(pk=job.pk).update(submitted_at=timezone.now() - deadline)
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert job.status == FAILED
    assert job.error.startswith("Timed out")
    assert not [c for c in responses.calls if c.request.method == "POST"]


@responses.activate
def test_reference_images_are_sent_in_their_order(settings, user, mp4_bytes, data_dir):
    settings.VEO_API_BASE_URL = GEMINI
    create = google_answers(mp4=mp4_bytes)
    job = make_job(user, model=OMNI, options=OPTIONS, task=Task.REFERENCES.value)
    # Stored out of order: the pipeline orders them by their number, not by the rows.
    for index, colour in ((1, "blue"), (0, "red")):
        image = frame(colour)
        relative = storage.relative_resource(job.pk, "image", f"reference-{index}.png")
        storage.store_bytes(relative, image.data)
        services.resource_add(
            job_id=job.pk,
            kind=VideoResource.Type.IMAGE,
            filename=f"reference-{index}.png",
            file_path=relative,
        )
    pipeline.run(job.pk)
    run_due_jobs(timeout=30)
    body = json.loads(create.calls[0].request.body)
    first, second, text = body["input"][0]["content"]
    assert base64.b64decode(first["data"]) == frame("red").data
    assert base64.b64decode(second["data"]) == frame("blue").data
    assert text["text"].startswith("[# References <IMAGE_REF_0>@Image1 <IMAGE_REF_1>@Image2]")
