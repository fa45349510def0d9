"""What reaches a person when a run fails, and what never becomes a job's output.

Google's wire is faked with `responses`; the pipeline, storage and services are real.
"""

import os
import re
import subprocess
import time

import pytest
import responses
from django.utils import timezone

from jobs import pipeline, services
from jobs.veo.base import GenerationRequest
from jobs.veo.emulator.media import render_mp4
from tests.conftest import run_due_jobs
from tests.factories import JOB_OPTIONS, MODEL, Stage, Status, make_job

pytestmark = pytest.mark.django_db

BASE = "https://generativelanguage.googleapis.com/v1beta"
SUBMIT = f"{BASE}/models/{MODEL}:predictLongRunning"
OPERATION = f"models/{MODEL}/operations/op-safety"
POLL = f"{BASE}/{OPERATION}"
FILE = f"{BASE}/files/safety:download?alt=media"
DONE = {
    "name": OPERATION,
    "done": True,
    "response": {"generateVideoResponse": {"generatedSamples": [{"video": {"uri": FILE}}]}},
}
# What a person must never read: server paths, FFmpeg's and Python's own words.
RAW = re.compile(r"/tmp/|/home/|\.tmp-|Errno|Invalid data found|[A-Z][a-z]+(Error|Exception)\b")


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.VEO_RETRY_BASE_SECONDS = 0.01


@pytest.fixture(scope="module")
def faststart_mp4(tmp_path_factory):
    path = tmp_path_factory.mktemp("safety") / "clip.mp4"
    render_mp4(path, prompt="safety clip", width=320, height=180, seconds=4)
    return path.read_bytes()


def create_job(user, capture, prompt="A heron in the reeds"):
    with capture(execute=True):
        job = services.job_create(owner=user, prompt_text=prompt, model=MODEL, options=JOB_OPTIONS)
    run_due_jobs()
    job.refresh_from_db()
    return job


def downloads():
    return [c for c in responses.calls if c.request.url == FILE]


def submits():
    return [c for c in responses.calls if c.request.url == SUBMIT]


# --- 11: a truncated video never becomes output.mp4 -------------------------------


@responses.activate
def test_a_faststart_video_cut_to_thirty_percent_never_becomes_output(
    gemini, user, data_dir, faststart_mp4, django_capture_on_commit_callbacks
):
    short = faststart_mp4[: len(faststart_mp4) * 3 // 10]
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.get(POLL, json=DONE)
    # Served whole as far as HTTP can tell: the length header matches the short body.
    responses.get(FILE, body=short, content_type="video/mp4")
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.FAILED
    assert "cut off" in job.error
    assert not RAW.search(job.error), job.error
    assert len(downloads()) == 3  # a cut can be the network's: fetched again, then given up
    assert len(submits()) == 1
    assert not (data_dir / "videos" / job.pk / "output.mp4").exists()
    assert not list(data_dir.rglob(".tmp-*"))


# --- 10: no raw exception text reaches a person -----------------------------------


@responses.activate
def test_an_html_page_instead_of_the_video_fails_with_a_plain_sentence(
    gemini, user, data_dir, django_capture_on_commit_callbacks, caplog
):
    responses.post(SUBMIT, json={"name": OPERATION})
    responses.get(POLL, json=DONE)
    responses.get(FILE, body="<html>Sign in to continue</html>", content_type="text/html")
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.FAILED
    assert job.error.startswith("Veo's download was not a playable video")
    assert not RAW.search(job.error), job.error
    assert str(data_dir) not in job.error
    # The detail is kept for whoever reads the worker's log.
    assert "Invalid data found" in caplog.text


def test_the_emulators_html_fault_reads_as_a_sentence(
    veo, user, django_capture_on_commit_callbacks
):
    job = create_job(user, django_capture_on_commit_callbacks, "Html page [fault=html]")
    assert job.status == Status.FAILED
    assert not RAW.search(job.error), job.error


# --- 16: a 408 on submit may have reached Google ----------------------------------


@responses.activate
def test_a_408_on_submit_is_outcome_unknown_and_never_resent(
    gemini, user, django_capture_on_commit_callbacks
):
    responses.post(
        SUBMIT,
        status=408,
        json={"error": {"code": 408, "status": "DEADLINE_EXCEEDED", "message": "timeout"}},
    )
    responses.post(SUBMIT, json={"name": OPERATION})  # what a resend would get
    responses.get(POLL, json={**DONE, "error": {"code": 13, "message": "resent"}})
    job = create_job(user, django_capture_on_commit_callbacks)
    assert job.status == Status.FAILED
    assert "may have gone through" in job.error
    assert len(submits()) == 1
    assert job.actual_cost_usd is None  # perhaps billed: never counted as free


@responses.activate
def test_a_disk_failure_reads_as_a_sentence_and_the_detail_goes_to_the_log(
    gemini, user, data_dir, faststart_mp4, caplog
):
    job = make_job(
        user,
        prompt_text="Disk trouble",
        status=Status.PROCESSING,
        stage=Stage.GENERATING,
        operation_name=OPERATION,
        submitted_at=timezone.now(),
    )
    # A file where the resources directory belongs: the poster cannot be written.
    (data_dir / "videos" / job.pk).mkdir(parents=True)
    (data_dir / "videos" / job.pk / "resources").write_bytes(b"")
    responses.get(POLL, json=DONE)
    responses.get(FILE, body=faststart_mp4, content_type="video/mp4")
    pipeline.run(job.pk)
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error == pipeline.DISK_TROUBLE
    assert "resources" in caplog.text  # the path is in the log, for the operator


@pytest.fixture
def full_disk(data_dir):
    """Mount a 64 KiB tmpfs as the data dir: smaller than any video, as a full disk is."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(data_dir)], check=True)
    try:
        yield data_dir
    finally:
        subprocess.run(["umount", "-l", str(data_dir)], check=False)


def test_a_disk_too_full_for_the_video_fails_the_job_with_a_sentence_and_no_half_file(
    veo, user, full_disk, django_capture_on_commit_callbacks
):
    job = create_job(user, django_capture_on_commit_callbacks, prompt="A disk with no room")
    assert job.status == Status.FAILED
    assert job.error == pipeline.DISK_FULL
    left = [str(p.relative_to(full_disk)) for p in full_disk.rglob("*") if p.is_file()]
    # Only the failure's record: neither output.mp4 nor a temporary file stays behind.
    assert left == [f"videos/{job.pk}/metadata.json"]


# --- 22: the submit mark and the paid call, as seen from Google's side ---------------


class Abandoned(Exception):
    pass


def test_the_submit_mark_is_written_while_the_requests_last_byte_is_held_back(veo):
    prompt = "Held back until marked"
    seen = []

    def on_sending():
        time.sleep(0.3)  # time enough for the emulator to act on what arrived, if it would
        seen.append(veo.submits_for(prompt))

    provider = pipeline.get_provider()
    provider.submit(GenerationRequest(prompt=prompt, model=MODEL), on_sending=on_sending)
    assert seen == [0]  # at the mark, Google has nothing it can act on
    assert veo.submits_for(prompt) == 1


def test_a_submit_abandoned_at_its_mark_never_reaches_google(veo):
    prompt = "Abandoned at the mark"

    def on_sending():
        raise Abandoned  # as a run that finds the job cancelled, or a process killed here

    with pytest.raises(Abandoned):
        pipeline.get_provider().submit(
            GenerationRequest(prompt=prompt, model=MODEL), on_sending=on_sending
        )
    time.sleep(0.3)
    assert veo.submits_for(prompt) == 0
    # What arrived was the whole body but the byte held back, and Google acts on nothing.
    assert veo.cut_off_for(prompt) == [1]
