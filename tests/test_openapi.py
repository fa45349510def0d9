"""The OpenAPI document, the read-only scope on every operation, and the answers' shapes.

The operations are read from the API instance's own document, so a new one is covered
(and has to be described) the day it is added.
"""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from drafts import services as draft_services
from jobs.api import tokens
from jobs.models import ApiToken, Batch, VideoCreationJob, VideoResource
from tests.factories import JOB_OPTIONS
from videostudio.api import api

pytestmark = pytest.mark.django_db

MODEL = "veo-3.1-fast-generate-preview"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ERROR_REF = "#/components/schemas/ErrorOut"


def document():
    """Return the OpenAPI document as a client reads it (JSON: status codes are strings)."""
    return json.loads(json.dumps(api.get_openapi_schema()))


def operations():
    """Yield (METHOD, path template, operation) for every operation the API documents."""
    for path, methods in document()["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


OPERATIONS = sorted((m, p) for m, p, _ in operations())
UNSAFE = [(m, p) for m, p in OPERATIONS if m != "GET"]


def filled(path):
    """Return a path template with every parameter filled in (any id will do)."""
    return re.sub(r"\{[^}]+\}", "some-id", path)


def bearer(raw):
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw}"})


def test_the_document_is_openapi_3_1_and_public(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    scheme = document["components"]["securitySchemes"]["StudioAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_the_document_has_every_route_of_the_api():
    documented = {re.sub(r"\{[^}]+\}", "x", p) for _m, p in OPERATIONS}
    assert len(OPERATIONS) == 44
    assert "/api/video-creation/jobs" in documented
    assert "/api/video-creation/drafts/x/run" in documented
    assert "/api/video-creation/webhooks/x/deliveries/x/resend" in documented
    assert "/api/video-creation/storyboards/x/shots/x/pick" in documented
    assert "/api/video-creation/storyboards/x/cuts/x" in documented


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_operation_declares_the_error_envelope_and_the_bearer_scheme(method, path):
    operation = document()["paths"][path][method.lower()]
    assert operation["security"] == [{"StudioAuth": []}]
    for code in ("400", "401", "403", "404"):
        schema = operation["responses"][code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": ERROR_REF}, (code, schema)
    assert operation.get("summary")


@pytest.mark.parametrize(
    "path",
    [
        "/api/video-creation/jobs",
        "/api/video-creation/drafts/{draft_id}/run",
        "/api/video-creation/storyboards/{storyboard_id}/generate",
    ],
)
def test_creating_operations_document_the_idempotency_key_and_their_body(path):
    operation = document()["paths"][path]["post"]
    (header,) = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key"
    assert "Idempotent-Replayed" in header["description"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[1]
    assert name in document()["components"]["schemas"]


def test_the_job_body_in_the_document_is_the_one_that_validates(client, user):
    schema = document()["components"]["schemas"]["JobIn"]
    assert schema["required"] == ["promptText"]
    assert schema["additionalProperties"] is False
    seed = {"promptText", "promptId", "options", "image", "lastFrame"}
    tasks = {"task", "parentId", "referenceImages", "seed", "generateAudio", "enhancePrompt"}
    assert set(schema["properties"]) == seed | tasks


def test_the_answers_in_the_document_are_camel_case_as_sent():
    schemas = document()["components"]["schemas"]
    assert {"promptText", "videoUrl", "createdAt", "estimatedCostUsd"} <= set(
        schemas["JobOut"]["properties"]
    )
    assert {"task", "parentId", "children"} <= set(schemas["JobOut"]["required"])
    assert "jobId" in schemas["JobCreatedOut"]["properties"]
    assert "canEdit" in schemas["DraftOut"]["properties"]
    assert {"pickedTakeId", "trimIn", "trimOut", "takes"} <= set(schemas["ShotOut"]["properties"])
    assert {"videoUrl", "durationSeconds", "streamCopy"} <= set(schemas["CutOut"]["properties"])
    assert {"in", "out", "takeId", "costUsd"} <= set(schemas["SegmentOut"]["properties"])
    # One name per shape: the storyboards' versions are not the drafts'.
    assert "author" not in schemas["VersionOut"]["properties"]
    assert "author" in schemas["StoryboardVersionOut"]["properties"]


# --- Tokens on every operation ---------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), UNSAFE)
def test_a_read_only_token_is_refused_every_operation_but_get(user, method, path):
    _token, raw = tokens.token_create(user=user, name="reader", scope=ApiToken.Scope.READ)
    response = bearer(raw).generic(method, filled(path), "{}", content_type="application/json")
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["success"] is False
    assert "read-only" in body["error"]
    assert response["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'


def test_a_read_only_token_still_reads(user):
    _token, raw = tokens.token_create(user=user, name="reader", scope=ApiToken.Scope.READ)
    assert bearer(raw).get(reverse("api:jobs")).status_code == 200
    assert UNSAFE, "the document lists operations"


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_an_expired_token_is_a_401_on_every_operation(user, method, path):
    _token, raw = tokens.token_create(
        user=user, name="old", expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = bearer(raw).generic(method, filled(path), "{}", content_type="application/json")
    assert response.status_code == 401, response.content
    assert response.json()["success"] is False


# --- Shapes ----------------------------------------------------------------------------


def test_a_list_is_the_array_with_the_cursor_beside_it_and_in_a_link_header(user):
    _token, raw = tokens.token_create(user=user, name="script")
    for n in range(3):
        VideoCreationJob.objects.create(
            owner=user, prompt_text=f"Job {n}", model=MODEL, options=JOB_OPTIONS
        )
    client = bearer(raw)
    first = client.get(reverse("api:jobs"), {"limit": 2, "status": "idle"})
    body = first.json()
    assert isinstance(body["data"], list) and len(body["data"]) == 2
    link = re.fullmatch(r'<(?P<url>[^>]+)>; rel="next"', first["Link"])
    assert link, first["Link"]
    assert f"cursor={body['nextCursor']}" in link["url"]
    assert "status=idle" in link["url"] and "limit=2" in link["url"]
    second = client.get(link["url"]).json()
    assert len(second["data"]) == 1
    assert second["nextCursor"] is None
    drafts = client.get(reverse("drafts_api:drafts")).json()
    assert drafts == {"success": True, "data": [], "nextCursor": None}


def test_every_date_is_the_seeds_iso_format_even_on_a_whole_second(user):
    _token, raw = tokens.token_create(user=user, name="script")
    whole = timezone.now().replace(microsecond=0)
    batch = Batch.objects.create(owner=user, label="B")
    Batch.objects.filter(pk=batch.pk).update(created_at=whole)
    job = VideoCreationJob.objects.create(
        owner=user, prompt_text="A", model=MODEL, options=JOB_OPTIONS, batch=batch
    )
    VideoCreationJob.objects.filter(pk=job.pk).update(created_at=whole, completed_at=whole)
    VideoResource.objects.create(job=job, type="image", url="/x", filename="poster.jpg")
    draft = draft_services.draft_save(author=user, name="D", prompts=["A"])
    client = bearer(raw)
    data = client.get(reverse("api:job", args=[job.pk])).json()["data"]
    dates = [data["createdAt"], data["completedAt"], data["resources"][0]["createdAt"]]
    dates.append(client.get(reverse("api:batch", args=[batch.pk])).json()["data"]["createdAt"])
    shown = client.get(reverse("drafts_api:draft", args=[draft.pk])).json()["data"]
    dates += [shown["createdAt"], shown["updatedAt"], shown["versions"][0]["createdAt"]]
    assert all(ISO.match(d) for d in dates), dates
    assert data["createdAt"] == whole.strftime("%Y-%m-%dT%H:%M:%S.000Z")
