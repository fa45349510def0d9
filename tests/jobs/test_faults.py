"""Every fault class of veo3-api.md section 14, end to end against the emulator over HTTP.

Each job must end in the right state with a message a person understands, and the
emulator's counter must show how many paid submits Google would have billed.
"""

from urllib.parse import urlsplit

import pytest

from jobs import services
from jobs.models import VideoCreationJob
from tests.conftest import run_due_jobs
from tests.factories import JOB_OPTIONS, MODEL

pytestmark = pytest.mark.django_db

COMPLETED, FAILED = VideoCreationJob.Status.COMPLETED, VideoCreationJob.Status.FAILED


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.VEO_RETRY_BASE_SECONDS = 0.01


def run(user, capture, prompt):
    with capture(execute=True):
        job = services.job_create(owner=user, prompt_text=prompt, model=MODEL, options=JOB_OPTIONS)
    run_due_jobs()
    job.refresh_from_db()
    return job


@pytest.mark.parametrize(
    ("fault", "status", "message", "billed"),
    [
        ("daily-quota", FAILED, "daily Veo quota is used up", 0),
        ("submit-500", FAILED, "may have gone through", 0),
        ("submit-503", FAILED, "may have gone through", 0),
        ("submit-504", FAILED, "may have gone through", 0),
        ("submit-500-accepted", FAILED, "may have gone through", 1),
        ("permission", FAILED, "GEMINI_API_KEY is not allowed to use Veo (403)", 0),
        ("billing", FAILED, "billing is not set up", 0),
        ("poll-503-once", COMPLETED, None, 1),
        ("done-error", FAILED, "Veo could not generate the video: Internal error", 1),
        ("safety", FAILED, "safety filters blocked this video, so it was not billed", 1),
        ("no-response", FAILED, "finished without returning a video", 1),
        ("html", FAILED, "not a playable video", 1),
        ("truncated", FAILED, "The studio tried 3 times", 1),
        ("expired", FAILED, "no longer on Google's servers", 1),
    ],
)
def test_fault_ends_in_the_right_state_with_the_right_message(
    veo, user, data_dir, django_capture_on_commit_callbacks, fault, status, message, billed
):
    prompt = f"Fault drill {fault} [fault={fault}]"
    job = run(user, django_capture_on_commit_callbacks, prompt)
    assert job.status == status, job.error
    if message:
        assert message in job.error
    assert veo.submits_for(prompt) == billed
    if status == FAILED:
        assert not (data_dir / "videos" / job.pk / "output.mp4").exists()
    assert not list(data_dir.rglob(".tmp-*"))


def downloads_for(veo, prompt):
    """Return how many times the emulator served the video: the API host, then the redirect's."""
    (operation,) = [op for op in veo.stats()["operations"].values() if op["prompt"] == prompt]
    return operation["downloads"]


def test_redirect_to_an_unlisted_host_is_refused_before_it_is_contacted(
    veo, user, django_capture_on_commit_callbacks
):
    prompt = "Redirect drill [fault=redirect]"
    job = run(user, django_capture_on_commit_callbacks, prompt)
    assert job.status == FAILED
    assert "Refused to download the video over plain http" in job.error
    assert downloads_for(veo, prompt) == 1
    # Being refused, the redirect host never saw a request, so no key could reach it.


def test_redirect_to_a_listed_host_reaches_it_without_the_key(
    veo, settings, user, django_capture_on_commit_callbacks
):
    port = urlsplit(veo.base_url).port
    settings.VEO_DOWNLOAD_HOSTS = [f"localhost:{port}"]
    leaks_before = veo.stats()["redirect_key_leaks"]
    prompt = "Listed redirect [fault=redirect]"
    job = run(user, django_capture_on_commit_callbacks, prompt)
    assert job.status == COMPLETED, job.error
    # The API host answered the 302 and the redirect host served the bytes...
    assert downloads_for(veo, prompt) == 2
    # ...and the key, which the emulator counts wherever it arrives there, was not sent.
    assert veo.stats()["redirect_key_leaks"] == leaks_before


def test_wrong_key_is_refused_with_the_setting_named(
    veo, settings, user, django_capture_on_commit_callbacks
):
    settings.GEMINI_API_KEY = "not-the-key"
    job = run(user, django_capture_on_commit_callbacks, "Wrong key drill")
    assert job.status == FAILED
    assert job.error == "The API key is not valid. Check GEMINI_API_KEY."
    assert veo.submits_for("Wrong key drill") == 0
