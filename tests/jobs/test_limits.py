"""The creation limit counts every job a request would create, on every path; the
studio warns when nothing caps spending."""

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from drafts import services as draft_services
from jobs import services
from jobs.models import Budget, VideoCreationJob
from tests.factories import FORM, JOB_OPTIONS, MODEL, make_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit_of_three(settings):
    settings.API_JOB_CREATE_LIMIT = 3
    settings.API_JOB_CREATE_WINDOW_SECONDS = 3600


def test_the_web_form_is_held_to_the_limit(logged_in, user, limit_of_three):
    make_jobs(user, 3)
    response = logged_in.post(reverse("jobs:index"), {**FORM, "prompt_text": "One more"})
    assert response.status_code == 400
    assert "Too many jobs: the studio accepts 3 per hour" in response.content.decode()
    assert VideoCreationJob.objects.count() == 3


def test_a_draft_run_through_the_api_counts_each_job(api, user, limit_of_three):
    make_jobs(user, 1)
    draft = draft_services.draft_save(author=user, name="Two", prompts=["a", "b"])
    run = reverse("drafts_api:run", args=[draft.pk])
    body = json.dumps({"values": "", "options": {"durationSeconds": 4}})
    ok = api.post(run, body, content_type="application/json")
    assert ok.status_code == 201, ok.json()
    again = api.post(run, body, content_type="application/json")
    assert again.status_code == 429
    assert "This request would create 2" in again.json()["error"]
    assert 3590 <= int(again["Retry-After"]) <= 3600
    assert VideoCreationJob.objects.count() == 3


def test_a_run_larger_than_the_limit_is_refused_whole(api, user, limit_of_three):
    draft = draft_services.draft_save(author=user, name="Four", prompts=["a", "b", "c", "d"])
    response = api.post(
        reverse("drafts_api:run", args=[draft.pk]), "{}", content_type="application/json"
    )
    assert response.status_code == 429
    assert "This would create 4 jobs at once" in response.json()["error"]
    assert not VideoCreationJob.objects.exists()


def test_batch_create_itself_counts_the_batch(user, limit_of_three):
    spec = {"prompt_text": "a", "model": MODEL, "options": JOB_OPTIONS}
    services.batch_create(owner=user, label="two", jobs=[spec, spec])
    with pytest.raises(ValidationError, match="would create 2"):
        services.batch_create(owner=user, label="two more", jobs=[spec, spec])
    assert VideoCreationJob.objects.count() == 2


def test_the_api_counts_jobs_made_on_the_web_too(api, user, limit_of_three):
    make_jobs(user, 3)
    response = api.post(
        reverse("api:jobs"), json.dumps({"promptText": "A cat"}), content_type="application/json"
    )
    assert response.status_code == 429


# --- Unlimited spending ----------------------------------------------------------------------


def _check_output(capsys):
    call_command("check", databases=["default"])
    return capsys.readouterr().err


def test_start_up_warns_when_debug_is_off_and_no_budget_is_set(settings, capsys):
    settings.DEBUG = False
    assert "videostudio.W001" in _check_output(capsys)
    Budget.objects.create(period=Budget.Period.MONTHLY, limit_usd=Decimal("100"))
    assert "videostudio.W001" not in _check_output(capsys)


def test_start_up_is_quiet_about_budgets_in_debug(settings, capsys):
    settings.DEBUG = True
    assert "videostudio.W001" not in _check_output(capsys)


def test_the_admin_warns_that_spending_is_unlimited(client, superuser, settings):
    settings.DEBUG = False
    client.force_login(superuser)
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    assert 'id="spending-unlimited"' in page.content.decode()
    Budget.objects.create(period=Budget.Period.MONTHLY, limit_usd=Decimal("100"))
    assert 'id="spending-unlimited"' not in client.get(reverse("admin:index")).content.decode()
