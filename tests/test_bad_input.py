"""No input gives a 500: each case the audit sent is a 4xx that names what was wrong.

The test client re-raises a view's exception, so a case that would be a 500 fails
here with the exception itself.
"""

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from drafts import services as draft_services
from jobs import services as job_services
from jobs.api import tokens
from jobs.models import ApiToken, VideoCreationJob
from tests.factories import JOB_OPTIONS, MODEL, make_job

pytestmark = pytest.mark.django_db

NESTED = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def draft(user):
    return draft_services.draft_save(
        author=user, name="Cities", prompts=[{"id": "p1", "text": "A street in {{city}}"}]
    )


def send(client, method, url, body):
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.generic(method, url, raw, content_type="application/json")


def assert_refused(response, *, naming, status=400):
    assert response.status_code == status, response.content[:500]
    text = response.content.decode()
    assert naming in text, text[:500]


# --- The drafts API --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 12, "prompts": ["A fox"]}, "name"),
        ({"name": ["a"], "prompts": ["A fox"]}, "name"),
        ({"name": "Foxes", "prompts": ["A fox"], "visibility": "public"}, "visibility"),
        ({"name": "Foxes", "prompts": ["A fox"], "visibility": ["shared"]}, "visibility"),
        ({"name": "Foxes", "prompts": [{"id": {"a": 1}, "text": "A fox"}]}, "id"),
        ({"name": "Foxes", "prompts": [{"id": "x" * 10_000, "text": "A fox"}]}, "id"),
        (
            {"name": "Foxes", "prompts": [{"text": "A fox", "options": {"duration_seconds": "8"}}]},
            "duration_seconds",
        ),
        (
            {
                "name": "Foxes",
                "prompts": [{"text": "A", "options": {"negative_prompt": "n" * 1001}}],
            },
            "negative_prompt",
        ),
        (
            {"name": "Foxes", "prompts": [{"text": "A fox", "options": {"model": ["x"]}}]},
            "model",
        ),
        (NESTED, "JSON"),
    ],
)
def test_a_bad_new_draft_is_a_400_naming_the_field(api, body, field):
    response = send(api, "POST", reverse("drafts_api:drafts"), body)
    assert_refused(response, naming=field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"baseVersion": "one"}, "baseVersion"),
        ({"baseVersion": [1]}, "baseVersion"),
        ({"baseVersion": 1.5}, "baseVersion"),
        ({"baseVersion": 2**70}, "baseVersion"),
        ({"baseVersion": -1}, "baseVersion"),
        ({"name": None}, "name"),
        ({"visibility": 3}, "visibility"),
    ],
)
def test_a_bad_draft_update_is_a_400_naming_the_field(api, draft, body, field):
    response = send(api, "PUT", reverse("drafts_api:draft", args=[draft.pk]), body)
    assert_refused(response, naming=field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "latest"}, "version"),
        ({"version": [1]}, "version"),
        ({"version": 2**70}, "version"),
        ({"version": True}, "version"),
        ({"promptIds": "p1"}, "promptIds"),
        ({"promptIds": [{"id": "p1"}]}, "promptIds"),
        ({"promptIds": [1]}, "promptIds"),
        ({"options": ["resolution"]}, "options"),
        ({"options": {"durationSeconds": "8"}}, "durationSeconds"),
        ({"options": {"negativePrompt": "n" * 1001}}, "negativePrompt"),
        ({"values": 12}, "values"),
        ({"values": ["city", "Oslo"]}, "values"),
        ({"values": "city\n" + "x" * (129 * 1024)}, "values"),
        ({"values": "city\nOslo", "notifyByEmail": "yes"}, "notifyByEmail"),
    ],
)
def test_a_bad_run_is_a_400_naming_the_field(api, draft, body, field):
    response = send(api, "POST", reverse("drafts_api:run", args=[draft.pk]), body)
    assert_refused(response, naming=field)
    assert not VideoCreationJob.objects.exists()


def test_a_whole_second_count_written_as_a_float_in_a_draft_runs_as_that_count(api, user, veo):
    status = send(
        api,
        "POST",
        reverse("drafts_api:drafts"),
        {"name": "Floats", "prompts": [{"text": "A fox", "options": {"duration_seconds": 8.0}}]},
    ).status_code
    assert status == 201
    draft = user.drafts.get(name="Floats")
    assert draft.prompts[0]["options"] == {"duration_seconds": 8}
    response = send(api, "POST", reverse("drafts_api:run", args=[draft.pk]), {})
    assert response.status_code == 201, response.content
    assert VideoCreationJob.objects.get().options["duration_seconds"] == 8


def test_a_fractional_duration_in_a_draft_is_refused(api):
    prompts = [{"text": "A fox", "options": {"duration_seconds": 7.5}}]
    response = send(api, "POST", reverse("drafts_api:drafts"), {"name": "F", "prompts": prompts})
    assert_refused(response, naming="duration_seconds")


def test_deeply_nested_json_is_a_400_for_the_jobs_api_too(api):
    response = send(api, "POST", reverse("api:jobs"), NESTED)
    assert_refused(response, naming="JSON")


# --- The pages -------------------------------------------------------------------------------


def test_an_impossible_since_on_notices_is_a_400(logged_in):
    response = logged_in.get(reverse("jobs:notices"), {"since": "2024-02-30T00:00"})
    assert_refused(response, naming="since")


def test_the_last_day_of_the_calendar_as_a_usage_end_is_a_400(logged_in):
    response = logged_in.get(
        reverse("jobs:usage"), {"period": "custom", "start": "9999-12-01", "end": "9999-12-31"}
    )
    assert_refused(response, naming="end")


@pytest.mark.parametrize("header", ["bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000])
def test_a_range_with_thousands_of_digits_is_a_416(logged_in, user, data_dir, header):
    job = make_job(user, status="completed")
    (data_dir / "videos" / job.pk).mkdir(parents=True)
    (data_dir / "videos" / job.pk / "output.mp4").write_bytes(b"\0" * 1024)
    VideoCreationJob.objects.filter(pk=job.pk).update(video_url=f"videos/{job.pk}/output.mp4")
    response = logged_in.get(reverse("jobs:video", args=[job.pk]), headers={"Range": header})
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */1024"


def test_a_superscript_digit_as_a_token_to_revoke_is_a_404(logged_in, user):
    tokens.token_create(user=user, name="script")
    response = logged_in.post(reverse("api-tokens"), {"revoke": "²"})
    assert response.status_code == 404
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 1


def test_deeply_nested_json_in_the_draft_editor_is_shown_as_an_error(logged_in):
    response = logged_in.post(
        reverse("drafts:new"),
        {"name": "Deep", "visibility": "private", "mode": "json", "prompts_json": NESTED},
    )
    assert_refused(response, naming="too deeply nested")


def test_deeply_nested_prompt_options_in_the_draft_editor_are_refused(logged_in):
    response = logged_in.post(
        reverse("drafts:new"),
        {
            "name": "Deep",
            "visibility": "private",
            "prompt_id": "p1",
            "prompt_text": "A fox",
            "prompt_options": NESTED,
        },
    )
    assert response.status_code == 400


def test_a_csv_field_over_128_kb_in_the_run_form_names_the_values(logged_in, draft):
    response = logged_in.post(
        reverse("drafts:run", args=[draft.pk]),
        {
            "prompt_ids": ["p1"],
            "model": MODEL,
            "aspect_ratio": "16:9",
            "resolution": "720p",
            "duration_seconds": "8",
            "values": "city\n" + "x" * (129 * 1024),
        },
    )
    assert_refused(response, naming="128 KB")


@pytest.mark.parametrize("version", ["latest", "9" * 30])
def test_a_bad_version_on_the_run_page_is_a_404(logged_in, draft, version):
    response = logged_in.post(reverse("drafts:run", args=[draft.pk]), {"version": version})
    assert response.status_code == 404


def test_a_form_django_refuses_as_too_big_gets_a_400_page_that_says_why(logged_in, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000  # below the middleware's MAX_BODY_BYTES
    response = logged_in.post(
        reverse("drafts:new"),
        {"name": "x", "visibility": "private", "mode": "json", "prompts_json": "x" * 20_000},
    )
    assert response.status_code == 400
    assert "larger than a form may send" in response.content.decode()


# --- One prompt-length rule, one message, whichever way in -----------------------------------


def too_long_prompt(settings):
    """Return a prompt one character longer than Veo reads, and the refusal's message."""
    limit = settings.VEO_PROMPT_MAX_CHARS
    return "x" * (
        limit + 1
    ), f"Ensure this value has at most {limit} characters (it has {limit + 1})."


def test_a_prompt_one_character_too_long_is_refused_by_job_create(user, settings):
    prompt, message = too_long_prompt(settings)
    with pytest.raises(ValidationError) as caught:
        job_services.job_create(owner=user, prompt_text=prompt, model=MODEL, options=JOB_OPTIONS)
    assert caught.value.message_dict == {"prompt_text": [message]}
    assert not VideoCreationJob.objects.exists()


def test_a_prompt_one_character_too_long_is_a_form_error(logged_in, settings):
    prompt, message = too_long_prompt(settings)
    data = {"prompt_text": prompt, "model": MODEL, **JOB_OPTIONS}
    response = logged_in.post(reverse("jobs:index"), data)
    assert response.status_code == 400
    assert response.context["form"].errors["prompt_text"] == [message]
    assert not VideoCreationJob.objects.exists()


def test_a_prompt_one_character_too_long_is_a_400_from_the_api(api, settings):
    prompt, message = too_long_prompt(settings)
    response = send(api, "POST", reverse("api:jobs"), {"promptText": prompt})
    assert response.status_code == 400
    assert response.json()["fields"] == {"promptText": message}
    assert not VideoCreationJob.objects.exists()


def expanding_draft(user, settings):
    """A draft whose prompt fits, but not once its placeholder is filled with `values`."""
    limit = settings.VEO_PROMPT_MAX_CHARS
    text = "x" * (limit - len("{{c}}")) + "{{c}}"
    draft = draft_services.draft_save(
        author=user, name="Long", prompts=[{"id": "p1", "text": text}]
    )
    return draft, "c\n" + "y" * (len("{{c}}") + 1)


def test_a_prompt_one_character_too_long_is_a_400_from_a_draft_run(api, user, settings):
    draft, values = expanding_draft(user, settings)
    _prompt, message = too_long_prompt(settings)
    response = send(api, "POST", reverse("drafts_api:run", args=[draft.pk]), {"values": values})
    assert response.status_code == 400
    assert response.json()["fields"] == {"promptText": message}
    assert not VideoCreationJob.objects.exists()


def test_a_prompt_one_character_too_long_is_an_error_on_the_run_form(logged_in, user, settings):
    draft, values = expanding_draft(user, settings)
    _prompt, message = too_long_prompt(settings)
    data = {"prompt_ids": ["p1"], "model": MODEL, **JOB_OPTIONS, "values": values}
    for confirm in ("", "yes"):
        response = logged_in.post(
            reverse("drafts:run", args=[draft.pk]), {**data, "confirm": confirm}
        )
        assert response.status_code == 400
        assert response.context["form"].non_field_errors() == [message]
    assert not VideoCreationJob.objects.exists()


def test_a_prompt_one_character_too_long_rolls_a_whole_batch_back(user, settings):
    prompt, message = too_long_prompt(settings)
    specs = [
        {"prompt_text": text, "model": MODEL, "options": JOB_OPTIONS} for text in ("A fox", prompt)
    ]
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        job_services.batch_create(owner=user, label="Two", jobs=specs)
    assert not VideoCreationJob.objects.exists()
