"""The pipeline end to end: against the emulator over HTTP, and against `responses`."""

import json
import re
from datetime import timedelta

import av
import pytest
import responses
from django.utils import timezone
from responses import matchers

from jobs import pipeline, services
from jobs.media import probe
from jobs.models import VideoCreationJob, VideoResource
from jobs.veo.emulator.media import render_mp4
from tests.conftest import API_KEY, JOB_OPTIONS, run_due_jobs

pytestmark = pytest.mark.django_db

Status = VideoCreationJob.Status
Stage = VideoCreationJob.Stage

MODEL = "veo-3.1-fast-generate-preview"
BASE = "https://generativelanguage.googleapis.com/v1beta"
SUBMIT = f"{BASE}/models/{MODEL}:predictLongRunning"
OPERATION = f"models/{MODEL}/operations/op123abc"
POLL = f"{BASE}/{OPERATION}"
FILE = f"{BASE}/files/file123:download?alt=media"


@pytest.fixture(scope="session")
def mp4_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("mp4") / "clip.mp4"
    render_mp4(path, prompt="fixture clip", width=320, height=180, seconds=1)
    return path.read_bytes()


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.VEO_RETRY_BASE_SECONDS = 0.01


def create_job(user, django_capture_on_commit_callbacks, prompt="A lighthouse at dusk"):
    """Create a job through the service and run its tasks (django-q2 sync mode) to the end."""
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(owner=user, prompt_text=prompt, model=MODEL, options=JOB_OPTIONS)
    run_due_jobs()
    job.refresh_from_db()
    return job


def done_body(uri=FILE):
    return {
        "name": OPERATION,
        "done": True,
        "response": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]},
        },
    }


def submit_calls():
    return [c for c in responses.calls if c.request.url == SUBMIT]


# --- Against the emulator, over real HTTP --------------------------------------------


def test_prompt_becomes_a_playable_video_in_the_seed_layout(
    veo, user, data_dir, django_capture_on_commit_callbacks
):
    job = create_job(user, django_capture_on_commit_callbacks, prompt="A red kite over hills")

    assert job.status == Status.COMPLETED, job.error
    assert job.progress == 100
    assert job.completed_at is not None
    assert job.operation_name.startswith(f"models/{MODEL}/operations/")
    assert job.video_url == f"videos/{job.pk}/output.mp4"
    job_dir = data_dir / "videos" / job.pk
    info = probe(job_dir / "output.mp4")
    assert abs(info.duration - 4) < 0.3
    assert (info.width, info.height) == (1280, 720)
    resources = {r.filename: r for r in VideoResource.objects.filter(job=job)}
    assert set(resources) == {"poster.jpg", "audio.m4a"}
    poster, audio = resources["poster.jpg"], resources["audio.m4a"]
    assert poster.type == "image"
    assert poster.file_path == f"videos/{job.pk}/resources/images/poster.jpg"
    assert (data_dir / poster.file_path).read_bytes()[:3] == b"\xff\xd8\xff"
    assert job.metadata["poster_url"] == poster.url  # job lists show it from the row
    assert audio.type == "audio"
    assert audio.file_path == f"videos/{job.pk}/resources/audio/audio.m4a"
    with av.open(str(data_dir / audio.file_path)) as track:
        assert [s.type for s in track.streams] == ["audio"]
        assert abs(float(track.duration / av.time_base) - 4) < 0.3
    metadata = json.loads((job_dir / "metadata.json").read_text())
    assert metadata["id"] == job.pk
    assert metadata["status"] == "completed"
    assert API_KEY not in (job_dir / "metadata.json").read_text()
    assert veo.submits_for("A red kite over hills") == 1
    assert not list(job_dir.rglob(".tmp-*"))


# --- Against responses: the wire, each outcome ---------------------------------------


@responses.activate
def test_submit_sends_gemini_wire_names_and_the_key_header(
    gemini, user, mp4_bytes, django_capture_on_commit_callbacks
):
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.get(POLL, json={"name": OPERATION})  # pending: no "done" at all
    responses.get(POLL, json=done_body())
    responses.get(FILE, body=mp4_bytes, content_type="video/mp4")

    job = create_job(user, django_capture_on_commit_callbacks)

    assert job.status == Status.COMPLETED, job.error
    (submit,) = submit_calls()
    assert submit.request.headers["x-goog-api-key"] == API_KEY
    assert json.loads(submit.request.body) == {
        "instances": [{"prompt": "A lighthouse at dusk"}],
        "parameters": {
            "aspectRatio": "16:9",
            "resolution": "720p",
            "durationSeconds": 4,
            "sampleCount": 1,
        },
    }
    assert job.metadata["provider_response"]["done"] is True


@responses.activate
def test_safety_filtered_result_fails_with_googles_reason(
    gemini, user, django_capture_on_commit_callbacks
):
    reason = "We encountered an issue with the audio for your prompt. You have not been charged."
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.get(
        POLL,
        json={
            "name": OPERATION,
            "done": True,
            "response": {
                "generateVideoResponse": {
                    "raiMediaFilteredCount": 1,
                    "raiMediaFilteredReasons": [reason],
                }
            },
        },
    )
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.FAILED
    assert "safety filters" in job.error
    assert reason in job.error


@responses.activate
def test_operation_done_with_error_fails_the_job(gemini, user, django_capture_on_commit_callbacks):
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.get(
        POLL, json={"name": OPERATION, "done": True, "error": {"code": 13, "message": "Internal."}}
    )
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.FAILED
    assert job.error == "Veo could not generate the video: Internal."


@responses.activate
def test_server_error_on_submit_is_outcome_unknown_and_never_resent(
    gemini, user, django_capture_on_commit_callbacks
):
    responses.post(SUBMIT, status=500, json={"error": {"code": 500, "status": "INTERNAL"}})
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.FAILED
    assert "may have gone through" in job.error
    assert len(submit_calls()) == 1


@responses.activate
def test_rate_limited_submit_waits_as_google_asks_then_goes_through(
    gemini, user, mp4_bytes, django_capture_on_commit_callbacks
):
    responses.post(
        SUBMIT,
        status=429,
        json={
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "message": "You exceeded your current quota.",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.05s"}
                ],
            }
        },
    )
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.get(POLL, json=done_body())
    responses.get(FILE, body=mp4_bytes, content_type="video/mp4")
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.COMPLETED, job.error
    assert len(submit_calls()) == 2


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (
            400,
            {
                "status": "INVALID_ARGUMENT",
                "message": "API key not valid. Please pass a valid API key.",
                "details": [{"reason": "API_KEY_INVALID"}],
            },
            "The API key is not valid. Check GEMINI_API_KEY.",
        ),
        (
            404,
            {"status": "NOT_FOUND", "message": f"models/{MODEL} is no longer available."},
            "retired by Google",
        ),
        (403, {"status": "PERMISSION_DENIED", "message": "denied"}, "not allowed to use Veo"),
        (
            429,
            {
                "status": "RESOURCE_EXHAUSTED",
                "message": "quota",
                "details": [
                    {"violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel"}]}
                ],
            },
            "daily Veo quota",
        ),
    ],
)
@responses.activate
def test_final_errors_fail_at_once_with_a_message_a_person_understands(
    gemini, user, django_capture_on_commit_callbacks, status, error, message
):
    responses.post(SUBMIT, status=status, json={"error": {"code": status, **error}})
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.FAILED
    assert message in job.error
    assert len(submit_calls()) == 1


@responses.activate
def test_poll_failures_are_retried_without_resubmitting(
    gemini, user, mp4_bytes, django_capture_on_commit_callbacks
):
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.get(POLL, status=503, body="<html>unavailable</html>")
    responses.get(POLL, json=done_body())
    responses.get(FILE, body=mp4_bytes, content_type="video/mp4")
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.COMPLETED, job.error
    assert len(submit_calls()) == 1


@responses.activate
def test_download_redirect_to_another_host_never_carries_the_key(
    gemini, settings, user, mp4_bytes, django_capture_on_commit_callbacks
):
    settings.VEO_DOWNLOAD_HOSTS = ["videos.example.test"]
    target = "https://videos.example.test/blob/123"
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.get(POLL, json=done_body())
    responses.get(FILE, status=302, headers={"Location": target})
    responses.get(target, body=mp4_bytes, content_type="video/mp4")
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.COMPLETED, job.error
    (first,) = [c for c in responses.calls if c.request.url == FILE]
    (second,) = [c for c in responses.calls if c.request.url == target]
    assert first.request.headers["x-goog-api-key"] == API_KEY
    assert "x-goog-api-key" not in second.request.headers
    assert API_KEY not in second.request.url


@pytest.mark.parametrize(
    "trick",
    [
        "https://evil.example\\@generativelanguage.googleapis.com/v1beta/files/file123:download",
        "http://generativelanguage.googleapis.com:443/v1beta/files/file123:download",
    ],
)
@responses.activate
def test_a_tricky_video_address_fails_the_job_and_never_carries_the_key(
    gemini, user, data_dir, django_capture_on_commit_callbacks, trick
):
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.get(POLL, json=done_body(uri=trick))
    responses.get(re.compile(r"https?://evil\.example/.*"), body=b"stolen")
    responses.get(re.compile(r"http://generativelanguage\.googleapis\.com.*"), body=b"x")
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.FAILED
    assert job.error in (
        "The video address is malformed, so it was not fetched.",
        "Refused to download the video over plain http from generativelanguage.googleapis.com.",
    )
    downloads = [c for c in responses.calls if c.request.method == "GET" and c.request.url != POLL]
    assert downloads == []
    assert not (data_dir / "videos" / job.pk / "output.mp4").exists()


@responses.activate
def test_download_redirect_to_a_loopback_address_is_refused(
    gemini, user, django_capture_on_commit_callbacks
):
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.get(POLL, json=done_body())
    responses.get(FILE, status=302, headers={"Location": "https://127.0.0.1/metadata"})
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.FAILED
    assert "private or local address" in job.error
    assert not [c for c in responses.calls if "127.0.0.1" in c.request.url]


@responses.activate
def test_html_instead_of_a_video_never_becomes_output(
    gemini, user, data_dir, django_capture_on_commit_callbacks
):
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.get(POLL, json=done_body())
    responses.get(FILE, body="<html>Sign in</html>", content_type="text/html")
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.FAILED
    assert "not a playable video" in job.error
    assert not (data_dir / "videos" / job.pk / "output.mp4").exists()
    assert not list((data_dir / "videos" / job.pk).rglob(".tmp-*"))


# --- Re-runs: a task delivered again never submits again -----------------------------


def _job_in(user, **fields):
    return VideoCreationJob.objects.create(
        owner=user, prompt_text="Resume me", model=MODEL, options=JOB_OPTIONS, **fields
    )


@responses.activate
def test_rerun_with_a_saved_operation_polls_it_and_never_submits(gemini, user, mp4_bytes):
    job = _job_in(
        user,
        status=Status.PROCESSING,
        stage=Stage.GENERATING,
        operation_name=OPERATION,
        submitted_at=timezone.now(),
    )
    responses.get(POLL, json=done_body())
    responses.get(FILE, body=mp4_bytes, content_type="video/mp4")
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert job.status == Status.COMPLETED, job.error
    assert submit_calls() == []


@responses.activate
def test_rerun_after_a_crash_mid_submit_fails_as_outcome_unknown(gemini, user):
    long_ago = timezone.now() - timedelta(minutes=10)
    job = _job_in(
        user,
        status=Status.PROCESSING,
        stage=Stage.SUBMITTING,
        submitted_at=long_ago,
        heartbeat_at=long_ago,
    )
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert "may have gone through" in job.error
    assert len(responses.calls) == 0


@responses.activate
def test_a_submit_still_in_flight_elsewhere_is_left_alone(gemini, user):
    job = _job_in(
        user,
        status=Status.PROCESSING,
        stage=Stage.SUBMITTING,
        submitted_at=timezone.now(),
        heartbeat_at=timezone.now(),
        lease_expires_at=timezone.now() + timedelta(seconds=60),
    )
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert (job.status, job.stage) == (Status.PROCESSING, Stage.SUBMITTING)
    assert len(responses.calls) == 0


@responses.activate
def test_cancelled_job_is_never_sent(gemini, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = services.job_create(owner=user, prompt_text="x", model=MODEL, options=JOB_OPTIONS)
    assert services.job_cancel(job=job)
    for callback in callbacks:
        callback()
    job.refresh_from_db()
    assert (job.status, job.error) == (Status.FAILED, "Cancelled by user")
    assert len(responses.calls) == 0


@responses.activate
def test_generation_past_the_deadline_ends_timed_out(gemini, settings, user):
    settings.VEO_JOB_DEADLINE_MINUTES = 30
    job = _job_in(
        user,
        status=Status.PROCESSING,
        stage=Stage.GENERATING,
        operation_name=OPERATION,
        submitted_at=timezone.now() - timedelta(minutes=31),
    )
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error.startswith("Timed out")


@responses.activate
def test_long_generation_hands_the_worker_back_and_resumes(
    gemini, settings, user, mp4_bytes, django_capture_on_commit_callbacks
):
    """Each poll is its own task: the worker is free between them."""
    settings.VEO_POLL_INTERVAL = 0.1
    responses.post(SUBMIT, json={"name": OPERATION})
    for _ in range(4):
        responses.get(POLL, json={"name": OPERATION})
    responses.get(
        POLL, json=done_body(), match=[matchers.header_matcher({"x-goog-api-key": API_KEY})]
    )
    responses.get(FILE, body=mp4_bytes, content_type="video/mp4")
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.COMPLETED, job.error
    assert len(submit_calls()) == 1
    from django_q.models import Task

    assert Task.objects.filter(func="jobs.tasks.run_job").count() == 5  # one a poll


@responses.activate
def test_a_run_polls_once_and_leaves_the_next_poll_to_the_ticker(gemini, settings, user):
    """A run never sleeps for a poll interval: it stores when the next poll is due."""
    settings.VEO_POLL_INTERVAL = 5
    settings.VEO_TASK_SLICE_SECONDS = 3
    polls = []

    def answer(request):
        polls.append(request)
        if len(polls) < 4:
            return 200, {}, json.dumps({"name": OPERATION})
        return 200, {}, json.dumps({"name": OPERATION, "done": True, "error": {"message": "x"}})

    responses.add_callback(responses.GET, POLL, callback=answer)
    job = _job_in(
        user,
        status=Status.PROCESSING,
        stage=Stage.GENERATING,
        operation_name=OPERATION,
        submitted_at=timezone.now(),
    )
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert len(polls) == 1
    assert (job.status, job.stage, job.lease_expires_at) == (
        Status.PROCESSING,
        Stage.GENERATING,
        None,
    )
    due_in = (job.next_run_at - timezone.now()).total_seconds()
    assert 4 < due_in <= 5.5


@responses.activate
def test_a_retry_after_a_rate_limit_waits_on_the_row_not_in_the_worker(gemini, settings, user):
    settings.VEO_TASK_SLICE_SECONDS = 60
    responses.post(
        SUBMIT,
        status=429,
        json={
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "message": "You exceeded your current quota.",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}
                ],
            }
        },
    )
    responses.post(SUBMIT, status=400, json={"error": {"code": 400, "message": "Not again."}})
    job = _job_in(user)
    began = timezone.now()
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert timezone.now() - began < timedelta(seconds=2)
    assert len(submit_calls()) == 1
    assert (job.status, job.stage, job.submitted_at) == (Status.PROCESSING, Stage.SUBMITTING, None)
    assert 2 < (job.next_run_at - timezone.now()).total_seconds() <= 3


@responses.activate
def test_failed_tries_are_counted_per_stage(
    gemini, user, mp4_bytes, django_capture_on_commit_callbacks
):
    """Two refused submits do not count against the download's three tries."""
    refused = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota.",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.01s"}
            ],
        }
    }
    responses.post(SUBMIT, status=429, json=refused)
    responses.post(SUBMIT, status=429, json=refused)
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.get(POLL, json=done_body())
    responses.get(FILE, status=503, body="<html>unavailable</html>")
    responses.get(FILE, status=503, body="<html>unavailable</html>")
    responses.get(FILE, body=mp4_bytes, content_type="video/mp4")
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.COMPLETED, job.error
    assert len(submit_calls()) == 3


@responses.activate
def test_a_resumed_download_retries_a_503_poll_and_download_like_a_first_run(
    gemini, user, mp4_bytes, data_dir
):
    """A later run (after a crash) re-polls for the video: one 503 must not fail it."""
    job = _job_in(
        user,
        status=Status.PROCESSING,
        stage=Stage.DOWNLOADING,
        operation_name=OPERATION,
        submitted_at=timezone.now(),
        metadata={"samples_returned": 1},
    )
    responses.get(POLL, status=503, body="<html>unavailable</html>")
    responses.get(POLL, json=done_body())
    responses.get(FILE, status=503, body="<html>unavailable</html>")
    responses.get(FILE, body=mp4_bytes, content_type="video/mp4")
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert (job.status, job.stage) == (Status.PROCESSING, Stage.DOWNLOADING), job.error
    run_due_jobs()
    job.refresh_from_db()
    assert job.status == Status.COMPLETED, job.error
    assert (data_dir / "videos" / job.pk / "output.mp4").read_bytes() == mp4_bytes
    assert submit_calls() == []


def test_files_go_through_djangos_storage_api(data_dir):
    """The default storage is the data dir; a save replaces a file whole, keeping its name."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from jobs.storage import VideoStorage

    assert isinstance(default_storage, VideoStorage)
    default_storage.save("videos/abc/metadata.json", ContentFile(b"first"))
    name = default_storage.save("videos/abc/metadata.json", ContentFile(b"second"))
    assert name == "videos/abc/metadata.json"
    assert (data_dir / name).read_bytes() == b"second"
    assert not list(data_dir.rglob(".tmp-*"))
