"""One source for a job's options: the form, the API and a draft run agree on the defaults."""

import dataclasses

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from drafts import services as draft_services
from jobs import options
from jobs.api import tokens
from jobs.forms import JobForm
from jobs.models import VideoCreationJob
from jobs.veo.base import GenerationOptions, GenerationRequest

pytestmark = pytest.mark.django_db

SHAPE = ("aspect_ratio", "resolution", "duration_seconds")


@pytest.fixture
def api(user):
    _token, raw = tokens.token_create(user=user, name="script")
    return Client(headers={"Authorization": f"Bearer {raw}"})


def shape(values):
    return {name: values[name] for name in SHAPE}


def test_the_form_the_api_and_a_draft_run_make_the_same_default_options(api, user, settings):
    form = JobForm()
    from_form = {name: form.fields[name].initial for name in SHAPE}
    assert form.fields["model"].initial == settings.VEO_MODEL

    response = api.post(
        reverse("api:jobs"), {"promptText": "A fox"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    from_api = VideoCreationJob.objects.get(pk=response.json()["data"]["jobId"])
    assert from_api.model == settings.VEO_MODEL
    assert from_api.options == {**from_form, "negative_prompt": ""}

    draft = draft_services.draft_save(author=user, name="Fox", prompts=["A fox"])
    response = api.post(
        reverse("drafts_api:run", args=[draft.pk]), {}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    from_draft = VideoCreationJob.objects.get(pk=response.json()["data"]["jobIds"][0])
    assert from_draft.model == settings.VEO_MODEL
    assert from_draft.options == from_form

    # And the provider's request, built without options, asks for the same shot.
    request = GenerationRequest(prompt="A fox", model=settings.VEO_MODEL)
    assert shape(dataclasses.asdict(request)) == from_form == options.defaults()


def test_every_option_has_one_api_name_and_the_api_names_them_so(api):
    assert options.OPTIONS["duration_seconds"].api_name == "durationSeconds"
    assert set(options.BY_API_NAME) == {o.api_name for o in options.OPTIONS.values()}
    body = {"promptText": "A fox", "options": {"negativePrompt": "text", "durationSeconds": 4}}
    response = api.post(reverse("api:jobs"), body, content_type="application/json")
    assert response.status_code == 201, response.content
    job = api.get(reverse("api:job", args=[response.json()["data"]["jobId"]])).json()["data"]
    assert job["options"] == {
        "aspectRatio": "16:9",
        "resolution": "720p",
        "durationSeconds": 4,
        "negativePrompt": "text",
    }


def test_seed_audio_and_enhance_prompt_are_options_a_model_may_leave_to_itself():
    for name, kind, api_name in [
        ("seed", int, "seed"),
        ("generate_audio", bool, "generateAudio"),
        ("enhance_prompt", bool, "enhancePrompt"),
    ]:
        option = options.OPTIONS[name]
        assert (option.kind, option.default, option.api_name) == (kind, None, api_name)
        assert option.optional
    # The provider's request carries them as options, None meaning the model's default.
    request = GenerationRequest(prompt="A fox", model="m", seed=7, generate_audio=False)
    assert (request.seed, request.generate_audio, request.enhance_prompt) == (7, False, None)
    assert {"seed", "generate_audio", "enhance_prompt"} <= {
        f.name for f in dataclasses.fields(GenerationOptions)
    }


@pytest.mark.parametrize(
    ("values", "cleaned"),
    [
        ({"seed": 42, "generate_audio": False, "enhance_prompt": True}, None),
        ({"seed": 42.0}, {"seed": 42}),
        ({"seed": None, "generate_audio": None}, {}),
    ],
)
def test_optional_ints_and_switches_are_cleaned(values, cleaned):
    assert options.clean_values(values) == (values if cleaned is None else cleaned)


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"generate_audio": "yes"}, "generate_audio", "Use true or false."),
        ({"enhance_prompt": 1}, "enhance_prompt", "Use true or false."),
        ({"seed": True}, "seed", "Use a whole number."),
        ({"seed": "42"}, "seed", "Use a whole number."),
    ],
)
def test_a_mistyped_optional_value_is_refused_by_name(values, field, message):
    with pytest.raises(ValidationError) as caught:
        options.clean_values(values)
    assert caught.value.message_dict == {field: [message]}


def test_the_api_takes_a_seed_where_the_model_has_one_and_names_a_switch_it_lacks(api):
    body = {"promptText": "A fox", "options": {"model": "gemini-omni-1.2-flash", "seed": 42}}
    response = api.post(reverse("api:jobs"), body, content_type="application/json")
    assert response.status_code == 201, response.content
    job = VideoCreationJob.objects.get(pk=response.json()["data"]["jobId"])
    assert job.options["seed"] == 42
    assert "generate_audio" not in job.options

    body["options"] = {"model": "gemini-omni-1.2-flash", "generateAudio": False}
    response = api.post(reverse("api:jobs"), body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "always makes sound" in response.json()["fields"]["options.generateAudio"]

    body["options"] = {"generateAudio": "off"}
    response = api.post(reverse("api:jobs"), body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "options.generateAudio" in response.json()["fields"]


def test_the_form_never_puts_another_model_in_place_of_an_unusable_default(settings):
    settings.VEO_MODEL = "veo-3.0-generate-001"  # retired while the studio ran
    form = JobForm()
    choices = list(form.fields["model"].choices)
    assert choices[0] == ("", "Choose a model")
    assert form.fields["model"].initial == "veo-3.0-generate-001"
    posted = JobForm(data={"prompt_text": "A fox", "aspect_ratio": "16:9", "resolution": "720p"})
    assert not posted.is_valid()
    assert "model" in posted.errors

    settings.VEO_MODEL = "veo-3.1-fast-generate-preview"
    assert ("", "Choose a model") not in list(JobForm().fields["model"].choices)
