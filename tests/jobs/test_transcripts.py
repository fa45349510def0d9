"""Transcripts: a completed video's audio track, sent to the Interactions API, as captions.

The emulator's narration is checked on its own (render, the studio's audio copy, its
answer); the studio's side runs against `responses`, whose Interactions route hands the
request to the emulator's answer, so the words the studio stores are the narration the
emulator put into the video.
"""

import base64
import json
from fractions import Fraction

import av
import pytest
import responses
from django.urls import reverse
from PIL import Image

from jobs import services, storage, transcripts
from jobs.media import extract_audio
from jobs.models import VideoCreationJob, VideoResource
from jobs.veo.emulator import transcribe
from jobs.veo.emulator.errors import ApiError
from jobs.veo.emulator.media import narration_for, render_mp4
from tests.conftest import API_KEY, run_due_jobs
from tests.factories import JOB_OPTIONS, MODEL, make_job, make_resource

pytestmark = pytest.mark.django_db

Status = VideoCreationJob.Status
Stage = VideoCreationJob.Stage
GOOGLE = "https://generativelanguage.googleapis.com"
INTERACTIONS = f"{GOOGLE}/v1/interactions"
PROMPT = "A fox crosses a frozen lake at dawn. Snow falls."
NARRATION = "Narrator: A fox crosses a frozen lake at dawn."


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.VEO_RETRY_BASE_SECONDS = 0


def completed_job(owner, data_dir, *, prompt=PROMPT, audio=True, seconds=2):
    """Save a completed job whose output.mp4 is a real video of prompt (with a narration)."""
    job = make_job(owner, prompt_text=prompt, status=Status.COMPLETED, stage=Stage.DONE)
    job.video_url = storage.relative_output(job.pk)
    job.save(update_fields=["video_url"])
    path = data_dir / job.video_url
    path.parent.mkdir(parents=True)
    if audio:
        render_mp4(path, prompt=prompt, width=160, height=90, seconds=seconds)
    else:
        silent_mp4(path, seconds=seconds)
    return job


def silent_mp4(path, *, seconds, fps=12):
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for index in range(seconds * fps):
            frame = av.VideoFrame.from_image(Image.new("RGB", (160, 96), "#123"))
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def the_emulator(request):
    """Answer an Interactions create as the emulator does."""
    try:
        answer = transcribe.answer(json.loads(request.body))
    except ApiError as error:
        return error.code, {}, json.dumps(error.body())
    return 200, {}, json.dumps(answer)


def transcript_rows(job):
    return {r.filename: r for r in VideoResource.objects.filter(job=job, type="transcript")}


def note(job):
    job.refresh_from_db()
    return job.metadata["transcript"]


def metadata_file(data_dir, job):
    return json.loads((data_dir / storage.relative_job_dir(job.pk) / "metadata.json").read_text())


def interaction_calls():
    return [c for c in responses.calls if "/interactions" in c.request.url]


# --- The emulator: a narration that survives the studio's audio copy ---------------------


def audio_request(data, instruction="Transcribe this audio as WebVTT with timings."):
    content = [
        {"type": "audio", "data": base64.b64encode(data).decode(), "mime_type": "audio/mp4"},
        {"type": "text", "text": instruction},
    ]
    return {"model": "gemini-3.5-transcribe", "input": [{"type": "user_input", "content": content}]}


@pytest.fixture
def studio_audio(tmp_path):
    """The audio track the studio copies out of an emulator video of PROMPT, 3 s long."""
    video, audio = tmp_path / "video.mp4", tmp_path / "audio.m4a"
    render_mp4(
        video, prompt=PROMPT + " [fault=slow] <FIRST_FRAME>", width=160, height=90, seconds=3
    )
    extract_audio(video, audio)
    return audio.read_bytes()


def test_the_emulator_narrates_the_prompts_first_sentence_without_its_markers():
    assert narration_for(PROMPT + " [latency=3]") == NARRATION
    assert narration_for("<IMAGE_REF_0> A dog, running!  It jumps.") == "Narrator: A dog, running!"
    assert narration_for("") == "Narrator: a video without words."


def test_the_emulator_transcribes_the_audio_it_made_as_webvtt_over_its_duration(studio_audio):
    answer = transcribe.answer(audio_request(studio_audio))

    assert answer["status"] == "completed"
    assert answer["object"] == "interaction"
    (step,) = answer["steps"]
    assert step["type"] == "model_output"
    (part,) = step["content"]
    assert part["type"] == "text"
    header, cue = part["text"].split("\n\n", 1)
    assert header == "WEBVTT"
    timing, words = cue.strip().split("\n")
    start, end = timing.split(" --> ")
    assert start == "00:00:00.000"
    assert "00:00:02.9" <= end <= "00:00:03.1"
    assert words == NARRATION
    assert answer["usage"]["input_tokens_by_modality"][0]["modality"] == "audio"


def test_the_emulator_answers_plain_words_when_not_asked_for_webvtt(studio_audio):
    answer = transcribe.answer(audio_request(studio_audio, instruction="What is said?"))

    assert answer["steps"][0]["content"][0]["text"] == NARRATION


def test_the_emulator_hears_only_music_in_audio_it_did_not_make(studio_audio, tmp_path):
    other = tmp_path / "other.m4a"
    with av.open(str(other), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=48_000, layout="mono")
        frame = av.AudioFrame(format="fltp", layout="mono", samples=48_000)
        frame.planes[0].update(bytes(48_000 * 4))
        frame.sample_rate, frame.pts, frame.time_base = 48_000, 0, Fraction(1, 48_000)
        container.mux(stream.encode(frame))
        container.mux(stream.encode())

    answer = transcribe.answer(audio_request(other.read_bytes()))

    assert answer["steps"][0]["content"][0]["text"].endswith("\n[music]\n")


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "input": [{"type": "text", "text": "Transcribe"}]},
        {"model": "m", "input": []},
        {
            "model": "m",
            "input": [{"type": "audio", "data": "not base64!", "mime_type": "audio/mp4"}],
        },
        {"model": "m", "input": [{"type": "audio", "data": "aGVsbG8=", "mime_type": "audio/mp4"}]},
    ],
    ids=["no audio part", "no input", "not base64", "not audio"],
)
def test_the_emulator_refuses_a_request_without_readable_audio(body):
    with pytest.raises(ApiError) as refused:
        transcribe.answer(body)
    assert refused.value.code == 400


# --- The studio: the whole path, from a completed job to its captions --------------------


@responses.activate
def test_a_completed_job_gets_its_narration_as_captions_and_plain_text(gemini, user, data_dir):
    responses.add_callback(responses.POST, INTERACTIONS, callback=the_emulator)
    job = completed_job(user, data_dir)

    transcripts.transcribe(job.pk)

    (call,) = interaction_calls()
    assert call.request.headers["x-goog-api-key"] == API_KEY
    sent = json.loads(call.request.body)
    assert sent["model"] == "gemini-3.5-transcribe"
    audio, instruction = sent["input"][0]["content"]
    assert (audio["type"], audio["mime_type"]) == ("audio", "audio/mp4")
    with av.open(_m4a(audio["data"], data_dir)) as track:
        assert [s.type for s in track.streams] == ["audio"]
    assert "WebVTT" in instruction["text"]
    rows = transcript_rows(job)
    assert set(rows) == {"transcript.vtt", "transcript.txt"}
    folder = f"videos/{job.pk}/resources/transcripts"
    assert rows["transcript.vtt"].file_path == f"{folder}/transcript.vtt"
    vtt = (data_dir / folder / "transcript.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:0")
    assert NARRATION in vtt
    assert (data_dir / folder / "transcript.txt").read_text() == NARRATION + "\n"
    assert note(job) == {
        "model": "gemini-3.5-transcribe",
        "cues": 1,
        "vtt": f"{folder}/transcript.vtt",
        "tries": 1,
    }
    written = metadata_file(data_dir, job)
    assert written["metadata"]["transcript"]["cues"] == 1
    assert {r["filename"] for r in written["resources"]} >= {"transcript.vtt", "transcript.txt"}
    assert job.status == Status.COMPLETED
    assert not list((data_dir / "videos" / job.pk).rglob(".tmp-*"))


def _m4a(data, data_dir):
    path = data_dir / "sent.m4a"
    path.write_bytes(base64.b64decode(data))
    return str(path)


@responses.activate
def test_the_pipeline_queues_the_transcription_after_the_job_completes(
    veo, user, data_dir, django_capture_on_commit_callbacks
):
    """The job's video comes from the emulator over HTTP; its transcription is a task."""
    responses.add_passthru(veo.base_url)
    responses.add_callback(responses.POST, f"{veo.base_url}/v1/interactions", callback=the_emulator)
    prompt = "A heron lands on a pier. Boats drift."
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(owner=user, prompt_text=prompt, model=MODEL, options=JOB_OPTIONS)
    with django_capture_on_commit_callbacks(execute=True):
        run_due_jobs()
    job.refresh_from_db()

    assert job.status == Status.COMPLETED, job.error
    assert len(interaction_calls()) == 1
    vtt = (data_dir / transcript_rows(job)["transcript.vtt"].file_path).read_text()
    assert "Narrator: A heron lands on a pier." in vtt
    assert veo.submits_for(prompt) == 1


@responses.activate
def test_the_player_offers_the_captions_and_only_to_who_may_see_the_job(
    gemini, client, user, other_user, data_dir
):
    responses.add_callback(responses.POST, INTERACTIONS, callback=the_emulator)
    job = completed_job(user, data_dir)
    transcripts.transcribe(job.pk)
    vtt = transcript_rows(job)["transcript.vtt"]
    client.force_login(user)

    page = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    served = client.get(vtt.url)

    video = page[page.index('<video id="job-video"') : page.index("</video>")]
    assert f'<track kind="captions" srclang="en" label="English" src="{vtt.url}" default>' in video
    assert served.status_code == 200
    assert served["Content-Type"] == "text/vtt; charset=utf-8"
    assert NARRATION in b"".join(served.streaming_content).decode()
    client.force_login(other_user)
    assert client.get(vtt.url).status_code == 404


def test_a_job_without_a_transcript_has_no_track(client, user, data_dir):
    job = completed_job(user, data_dir)
    make_resource(job, "audio.m4a", type="audio")
    client.force_login(user)

    page = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()

    assert "<video" in page
    assert "<track" not in page


@responses.activate
def test_plain_words_become_one_cue_spanning_the_video(gemini, user, data_dir):
    answer = {
        "status": "completed",
        "steps": [{"type": "model_output", "content": [{"type": "text", "text": "Hello & bye"}]}],
    }
    responses.post(INTERACTIONS, json=answer)
    job = completed_job(user, data_dir, seconds=3)

    transcripts.transcribe(job.pk)

    folder = data_dir / f"videos/{job.pk}/resources/transcripts"
    assert (folder / "transcript.vtt").read_text() == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:03.000\nHello &amp; bye\n"
    )
    assert (folder / "transcript.txt").read_text() == "Hello & bye\n"


@responses.activate
def test_a_webvtt_answer_in_a_code_fence_is_kept_cue_by_cue(gemini, user, data_dir):
    text = (
        "```vtt\nWEBVTT\n\nNOTE made by a model\n\n1\n00:00.000 --> 00:01.500 align:start\n"
        "<v Narrator>First line</v>\n\n00:00:01.500 --> 00:00:02.000\nSecond\nline\n"
        "00:00:02.000 --> 00:00:02.500\nThird, without a blank line\nbroken --> arrow\n```"
    )
    responses.post(
        INTERACTIONS,
        json={
            "status": "completed",
            "steps": [{"type": "model_output", "content": [{"type": "text", "text": text}]}],
        },
    )
    job = completed_job(user, data_dir)

    transcripts.transcribe(job.pk)

    folder = data_dir / f"videos/{job.pk}/resources/transcripts"
    assert (folder / "transcript.vtt").read_text() == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n<v Narrator>First line</v>\n\n"
        "00:00:01.500 --> 00:00:02.000\nSecond\nline\n\n"
        "00:00:02.000 --> 00:00:02.500\nThird, without a blank line\n"
    )
    assert (folder / "transcript.txt").read_text() == (
        "First line\nSecond line\nThird, without a blank line\n"
    )
    assert note(job)["cues"] == 3


@responses.activate
def test_a_refusal_that_passes_is_tried_again(gemini, user, data_dir):
    responses.post(INTERACTIONS, status=429, json={"error": {"code": 429, "message": "slow"}})
    responses.add_callback(responses.POST, INTERACTIONS, callback=the_emulator)
    job = completed_job(user, data_dir)

    transcripts.transcribe(job.pk)

    assert len(interaction_calls()) == 2
    assert set(transcript_rows(job)) == {"transcript.vtt", "transcript.txt"}
    assert note(job)["tries"] == 2


GARBAGE = {
    "status": "completed",
    "steps": [{"type": "model_output", "content": [{"type": "text", "text": "WEBVTT\n\n-->"}]}],
}


@pytest.mark.parametrize(
    ("answers", "calls", "sentence"),
    [
        (
            [{"status": 429, "json": {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}}] * 3,
            3,
            "Google's rate limit for transcriptions was reached. The studio tried 3 times.",
        ),
        (
            [{"status": 500, "body": "oops"}] * 3,
            3,
            "Google's transcription service was unavailable (500). The studio tried 3 times.",
        ),
        (
            [{"status": 400, "json": {"error": {"code": 400, "message": "bad"}}}],
            1,
            "Google refused the transcription request (400).",
        ),
        (
            [{"status": 200, "body": "<html>not json</html>"}],
            1,
            "The transcription service's answer was not an interaction.",
        ),
        (
            [{"status": 200, "json": GARBAGE}],
            1,
            "The transcription model's answer was not valid WebVTT.",
        ),
        (
            [{"status": 200, "json": {"status": "failed", "steps": []}}],
            1,
            "The transcription did not complete (it ended failed).",
        ),
        (
            [{"status": 200, "json": {**GARBAGE, "status": "in_progress"}}],
            1,
            "The transcription service answered before the transcript was done.",
        ),
        (
            [{"status": 200, "json": {"status": "completed", "steps": []}}],
            1,
            "The transcription model answered without any text.",
        ),
    ],
    ids=["429s", "500s", "400", "not json", "not webvtt", "failed", "unfinished", "no text"],
)
@responses.activate
def test_a_failed_transcription_leaves_the_job_completed_with_a_sentence(
    gemini, user, data_dir, answers, calls, sentence
):
    for answer in answers:
        responses.post(INTERACTIONS, **answer)
    job = completed_job(user, data_dir)

    transcripts.transcribe(job.pk)

    assert len(interaction_calls()) == calls
    job.refresh_from_db()
    assert job.status == Status.COMPLETED
    assert job.error in ("", None)
    assert job.metadata["transcript"]["error"] == sentence
    assert metadata_file(data_dir, job)["metadata"]["transcript"]["error"] == sentence
    assert transcript_rows(job) == {}
    assert not (data_dir / f"videos/{job.pk}/resources/transcripts").exists()


@responses.activate
def test_a_redelivered_task_never_makes_more_than_three_tries(gemini, user, data_dir):
    responses.post(INTERACTIONS, status=503)
    job = completed_job(user, data_dir)

    transcripts.transcribe(job.pk)
    transcripts.transcribe(job.pk)

    assert len(interaction_calls()) == 3
    assert "already tried 3 times" in note(job)["error"]


@responses.activate
def test_a_transcribed_job_is_not_sent_again(gemini, user, data_dir):
    responses.add_callback(responses.POST, INTERACTIONS, callback=the_emulator)
    job = completed_job(user, data_dir)

    transcripts.transcribe(job.pk)
    transcripts.transcribe(job.pk)

    assert len(interaction_calls()) == 1


@responses.activate
def test_a_redirect_is_not_followed_so_the_key_stays_on_the_api_host(gemini, user, data_dir):
    elsewhere = "https://elsewhere.example/interactions"
    responses.post(INTERACTIONS, status=302, headers={"Location": elsewhere})
    responses.post(elsewhere, json={})
    job = completed_job(user, data_dir)

    transcripts.transcribe(job.pk)

    assert [c.request.url for c in responses.calls] == [INTERACTIONS]
    assert "redirect" in note(job)["error"]


@pytest.mark.parametrize(
    ("audio", "model", "sentence"),
    [
        (False, "gemini-3.5-transcribe", "The video has no audio track, so it has no transcript."),
        (True, "", "Transcripts are turned off (TRANSCRIBE_MODEL is empty)."),
    ],
    ids=["no audio track", "setting empty"],
)
@responses.activate
def test_nothing_is_sent_without_audio_or_without_a_model(
    gemini, settings, user, data_dir, audio, model, sentence
):
    settings.TRANSCRIBE_MODEL = model
    job = completed_job(user, data_dir, audio=audio)

    transcripts.transcribe(job.pk)

    assert len(responses.calls) == 0  # unmatched URLs would be recorded too
    assert note(job)["error"] == sentence
    assert transcript_rows(job) == {}


@responses.activate
def test_a_job_that_is_not_completed_is_not_transcribed(gemini, user, data_dir):
    job = completed_job(user, data_dir)
    VideoCreationJob.objects.filter(pk=job.pk).update(status=Status.FAILED)

    transcripts.transcribe(job.pk)

    assert len(responses.calls) == 0
    job.refresh_from_db()
    assert "transcript" not in (job.metadata or {})
