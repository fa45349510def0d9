"""The seed's draft channels over HTTP, batch runs and their summaries."""

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from drafts import services
from drafts.models import Draft
from jobs.models import Batch, Budget, VideoCreationJob
from tests.conftest import run_due_jobs
from tests.factories import MODEL, api_client, make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def teammate_api(other_user):
    return api_client(other_user)


def call(client, method, url, body=None, **headers):
    response = client.generic(
        method,
        url,
        json.dumps(body) if body is not None else "",
        content_type="application/json",
        headers=headers,
    )
    return response.status_code, response.json()


def test_save_list_get_and_delete_a_draft(api, user):
    status, created = call(
        api,
        "POST",
        reverse("drafts_api:drafts"),
        {"name": "Launch", "prompts": ["A rocket", {"id": "p2", "text": "A crowd"}]},
    )
    assert status == 201 and created["success"] is True
    draft = created["data"]
    assert set(draft) >= {"id", "name", "prompts", "createdAt", "updatedAt"}
    assert draft["prompts"][1] == {"id": "p2", "text": "A crowd"}
    status, listed = call(api, "GET", reverse("drafts_api:drafts") + "?scope=mine")
    assert [d["name"] for d in listed["data"]] == ["Launch"]
    status, one = call(api, "GET", reverse("drafts_api:draft", args=[draft["id"]]))
    assert one["data"]["versions"][0]["number"] == 1
    status, gone = call(api, "DELETE", reverse("drafts_api:draft", args=[draft["id"]]))
    assert (status, gone) == (200, {"success": True, "data": None})
    assert not Draft.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": "x", "prompts": "not a list"}, "prompts"), ({"name": "", "prompts": ["a"]}, "name")],
)
def test_bad_drafts_are_refused_with_the_field_named(api, body, field):
    status, answer = call(api, "POST", reverse("drafts_api:drafts"), body)
    assert status == 400 and answer["success"] is False
    assert field in answer.get("fields", {}) or field in answer["error"].lower()
    assert not Draft.objects.exists()


def test_permissions_match_the_pages(api, teammate_api, user):
    private = services.draft_save(author=user, name="Private", prompts=["a"])
    shared = services.draft_save(author=user, name="Shared", prompts=["b"], visibility="shared")
    assert call(teammate_api, "GET", reverse("drafts_api:draft", args=[private.pk]))[0] == 404
    assert call(teammate_api, "GET", reverse("drafts_api:draft", args=[shared.pk]))[0] == 200
    status, answer = call(
        teammate_api,
        "PUT",
        reverse("drafts_api:draft", args=[shared.pk]),
        {"prompts": ["hijacked"]},
    )
    assert status == 403 and "owner" in answer["error"]
    assert call(teammate_api, "DELETE", reverse("drafts_api:draft", args=[shared.pk]))[0] == 403
    shared.refresh_from_db()
    assert shared.prompts[0]["text"] == "b"


def test_put_saves_a_version_and_refuses_a_stale_base(api, user):
    draft = services.draft_save(author=user, name="Edits", prompts=["one"])
    url = reverse("drafts_api:draft", args=[draft.pk])
    status, saved = call(api, "PUT", url, {"prompts": ["two"], "baseVersion": 1})
    assert status == 200 and saved["data"]["version"] == 2
    status, stale = call(api, "PUT", url, {"prompts": ["three"], "baseVersion": 1})
    assert status == 409 and "Someone saved this draft" in stale["error"]


def test_a_run_creates_a_linked_batch_once_per_idempotency_key(
    api, user, django_capture_on_commit_callbacks
):
    draft = services.draft_save(
        author=user, name="Cities", prompts=[{"id": "c", "text": "Dawn in {{city}}"}]
    )
    url = reverse("drafts_api:run", args=[draft.pk])
    body = {"options": {"durationSeconds": 4, "model": MODEL}, "values": "city\nOslo\nLima"}
    with django_capture_on_commit_callbacks() as callbacks:
        status, first = call(api, "POST", url, body, **{"Idempotency-Key": "run-1"})
        _status, again = call(api, "POST", url, body, **{"Idempotency-Key": "run-1"})
    assert status == 201 and again == first
    assert first["data"]["estimatedCostUsd"] == "0.80"
    assert len(first["data"]["jobIds"]) == 2 and len(callbacks) == 2
    jobs = VideoCreationJob.objects.filter(pk__in=first["data"]["jobIds"])
    assert {j.prompt_text for j in jobs} == {"Dawn in Oslo", "Dawn in Lima"}
    assert {(j.draft_id, j.prompt_id) for j in jobs} == {(draft.pk, "c")}
    assert Batch.objects.count() == 1
    conflict, _ = call(
        api, "POST", url, {**body, "values": "city\nRome"}, **{"Idempotency-Key": "run-1"}
    )
    assert conflict == 409


def test_a_run_with_an_undefined_placeholder_or_over_budget_starts_nothing(api, user):
    draft = services.draft_save(author=user, name="Cities", prompts=["Dawn in {{city}}"])
    url = reverse("drafts_api:run", args=[draft.pk])
    status, answer = call(api, "POST", url, {"options": {"durationSeconds": 4}})
    assert status == 400 and "No values for {{city}}" in answer["error"]
    Budget.objects.create(user=user, period="monthly", limit_usd=Decimal("0.10"))
    status, answer = call(
        api, "POST", url, {"options": {"durationSeconds": 4}, "values": "city\nOslo"}
    )
    assert status == 403 and "Nothing was sent to Veo" in answer["error"]
    assert not VideoCreationJob.objects.exists()


def test_batch_summary_reaches_its_end_against_the_emulator(
    veo, api, user, django_capture_on_commit_callbacks
):
    draft = services.draft_save(
        author=user, name="Tiny", prompts=["Rain on a window", "Snow on a roof"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        _status, run = call(
            api,
            "POST",
            reverse("drafts_api:run", args=[draft.pk]),
            {"options": {"durationSeconds": 4}},
        )
    run_due_jobs()
    status, batch = call(api, "GET", reverse("api:batch", args=[run["data"]["batchId"]]))
    assert status == 200
    assert batch["data"]["finished"] is True
    assert batch["data"]["counts"] == {
        "total": 2,
        "idle": 0,
        "processing": 0,
        "completed": 2,
        "failed": 0,
    }
    assert batch["data"]["progress"] == 100


def test_someone_elses_batch_is_not_found(teammate_api, user):
    batch = make_batch(user, "Mine")
    assert call(teammate_api, "GET", reverse("api:batch", args=[batch.pk]))[0] == 404


def test_a_2_mb_draft_body_is_a_413_while_job_creation_keeps_its_allowance(api):
    prompts = ["x" * 3900] * 520
    body = json.dumps({"name": "Huge", "prompts": prompts})
    assert len(body) > 2_000_000
    response = api.post(reverse("drafts_api:drafts"), body, content_type="application/json")
    assert response.status_code == 413
    assert "1,048,576 bytes" in response.json()["error"]
    assert not Draft.objects.exists()
    # The same 2 MB is read in full by job creation: refused for its fields, not its size.
    job = json.dumps({"promptText": "A fox", "padding": "x" * 2_000_000})
    created = api.post(reverse("api:jobs"), job, content_type="application/json")
    assert created.status_code == 400
    assert created.json()["fields"] == {"padding": "Unknown field."}


def test_an_unknown_field_in_a_draft_body_is_named_and_changes_nothing(api, user):
    status, created = call(
        api, "POST", reverse("drafts_api:drafts"), {"name": "Kept", "prompts": ["A fox"]}
    )
    assert status == 201
    draft = created["data"]
    one = reverse("drafts_api:draft", args=[draft["id"]])
    for method, path, body in [
        ("POST", reverse("drafts_api:drafts"), {"name": "New", "prompts": ["A"], "colour": "red"}),
        ("PUT", one, {"prompts": ["Changed"], "colour": "red"}),
        ("POST", reverse("drafts_api:run", args=[draft["id"]]), {"colour": "red"}),
    ]:
        status, answer = call(api, method, path, body)
        assert status == 400, (method, path)
        assert answer["success"] is False and "colour" in answer["fields"], answer
    assert [d.name for d in Draft.objects.all()] == ["Kept"]
    assert Draft.objects.get().version == 1
    assert not Batch.objects.exists()


def test_a_draft_read_can_be_sent_back_as_its_update(api, user):
    status, created = call(
        api, "POST", reverse("drafts_api:drafts"), {"name": "Echo", "prompts": ["A fox"]}
    )
    one = reverse("drafts_api:draft", args=[created["data"]["id"]])
    status, read = call(api, "GET", one)
    body = {**read["data"], "prompts": ["A fox at dusk"], "baseVersion": read["data"]["version"]}
    status, saved = call(api, "PUT", one, body)
    assert status == 200, saved
    assert "A fox at dusk" in json.dumps(saved["data"]["prompts"])
    assert saved["data"]["version"] == 2
