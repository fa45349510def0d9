"""One source for a job's options: the form, the API and a draft run agree on the defaults."""

import dataclasses

import pytest
from django.test import Client
from django.urls import reverse

from drafts import services as draft_services
from jobs import options
from jobs.api import tokens
from jobs.forms import JobForm
from jobs.models import VideoCreationJob
from jobs.veo.base import GenerationRequest

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
