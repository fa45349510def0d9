"""The JSON API: the seed's envelope and camelCase shapes, auth, idempotency, limits."""

import base64
import io
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, get_resolver, reverse
from django.utils import timezone
from PIL import Image

from jobs.api import tokens
from jobs.media import probe
from jobs.models import Budget, IdempotencyKey, VideoCreationJob, VideoResource
from tests.conftest import run_due_jobs
from tests.factories import Stage, Status, api_client, make_job, make_jobs, make_resource
from tests.jobs.test_task_views import task_catalog  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

JOB_KEYS = {
    "id",
    "owner",
    "visibility",
    "promptId",
    "promptText",
    "status",
    "progress",
    "videoUrl",
    "error",
    "createdAt",
    "completedAt",
    "resources",
    "model",
    "options",
    "stage",
    "retryOf",
    "estimatedCostUsd",
    "origin",
    # Issue 15's additions: what the job does and its lineage.
    "task",
    "parentId",
    "children",
}
RESOURCE_KEYS = {"id", "jobId", "type", "url", "filename", "filePath", "createdAt"}


def url(name, *args):
    return reverse(f"api:{name}", args=args)


def bearer(raw):
    """Return a client that authenticates with the token and enforces CSRF like a browser."""
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw}"})


def post_job(client, body, **headers):
    return client.post(url("jobs"), body, content_type="application/json", headers=headers)


def png_b64(size=(320, 180)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def assert_error(response, status, fragment=""):
    body = response.json()
    assert response.status_code == status, body
    assert response["Content-Type"] == "application/json"
    assert body["success"] is False
    assert isinstance(body["error"], str) and body["error"]
    assert fragment in body["error"]
    return body


@pytest.fixture
def api(user):
    return api_client(user, csrf=True)


@pytest.fixture
def other_api(other_user):
    return api_client(other_user, name="theirs", csrf=True)


# --- Creating jobs -----------------------------------------------------------------------


def test_create_queues_a_job_with_the_default_options(
    api, user, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_job(api, {"promptId": "p-1", "promptText": "  A paper boat in rain  "})
    job = VideoCreationJob.objects.get()
    assert response.status_code == 201
    assert response.json() == {"success": True, "data": {"jobId": job.pk}}
    assert (job.owner, job.prompt_id, job.prompt_text) == (user, "p-1", "A paper boat in rain")
    assert job.model == settings.VEO_MODEL
    assert job.options == {
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration_seconds": 8,
        "negative_prompt": "",
    }
    assert job.status == Status.IDLE
    assert len(callbacks) == 1


def test_create_takes_every_option_in_camel_case(api):
    options = {
        "model": "veo-3.1-generate-preview",
        "aspectRatio": "9:16",
        "resolution": "1080p",
        "durationSeconds": 8,
        "negativePrompt": "text, logos",
        "sampleCount": 1,
        "personGeneration": "allow_all",
    }
    response = post_job(api, {"promptText": "A lighthouse", "options": options})
    job = VideoCreationJob.objects.get(pk=response.json()["data"]["jobId"])
    assert job.model == "veo-3.1-generate-preview"
    assert job.options == {
        "aspect_ratio": "9:16",
        "resolution": "1080p",
        "duration_seconds": 8,
        "negative_prompt": "text, logos",
        "sample_count": 1,
        "person_generation": "allow_all",
    }
    shown = api.get(url("job", job.pk)).json()["data"]
    assert shown["options"] == {k: v for k, v in options.items() if k != "model"}


def test_create_stores_a_first_frame_sent_as_base64(api, data_dir):
    response = post_job(
        api,
        {"promptText": "The still moves", "image": {"data": png_b64(), "mimeType": "image/png"}},
    )
    assert response.status_code == 201, response.json()
    job = VideoCreationJob.objects.get()
    frame = VideoResource.objects.get(job=job)
    assert (frame.type, frame.filename) == ("image", "first-frame.png")
    assert (data_dir / frame.file_path).read_bytes() == base64.b64decode(png_b64())


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({}, "promptText", "Write a prompt"),
        ({"promptText": "   "}, "promptText", "Write a prompt"),
        ({"promptText": 42}, "promptText", "Write a prompt"),
        ({"promptText": "x" * 4001}, "promptText", "at most 4000 characters"),
        ({"promptText": "A", "prompt": "typo"}, "prompt", "Unknown field"),
        ({"promptText": "A", "promptId": 7}, "promptId", "string"),
        ({"promptText": "A", "options": ["720p"]}, "options", "object"),
        (
            {"promptText": "A", "options": {"aspect_ratio": "9:16"}},
            "options.aspect_ratio",
            "Unknown",
        ),
        (
            {"promptText": "A", "options": {"durationSeconds": "8"}},
            "options.durationSeconds",
            "whole",
        ),
        (
            {"promptText": "A", "options": {"durationSeconds": True}},
            "options.durationSeconds",
            "whole",
        ),
        (
            {"promptText": "A", "options": {"resolution": "1080p", "durationSeconds": 4}},
            "options.durationSeconds",
            "accepts durations 8 s",
        ),
        ({"promptText": "A", "options": {"aspectRatio": "1:1"}}, "options.aspectRatio", "16:9"),
        ({"promptText": "A", "options": {"sampleCount": 2}}, "options.sampleCount", "per request"),
        (
            {"promptText": "A", "options": {"model": "veo-3.0-generate-001"}},
            "options.model",
            "Choose",
        ),
        (
            {"promptText": "A", "options": {"model": "veo-3.1-fast-generate-001"}},
            "options.model",
            "",
        ),
        (
            {"promptText": "A", "options": {"negativePrompt": "n" * 1001}},
            "options.negativePrompt",
            "1000",
        ),
        ({"promptText": "A", "image": "abc"}, "image", "mimeType"),
        ({"promptText": "A", "image": {"data": "not base64!"}}, "image", "base64"),
        (
            {"promptText": "A", "image": {"data": base64.b64encode(b"GIF89a").decode()}},
            "image",
            "not a PNG, JPEG or WebP",
        ),
        (
            {"promptText": "A", "image": {"data": png_b64(), "mimeType": "image/jpeg"}},
            "image",
            "image/png",
        ),
        (
            {"promptText": "A", "image": {"data": png_b64((32, 32))}},
            "image",
            "between 64 and 4096",
        ),
        ({"promptText": "A", "lastFrame": {"data": png_b64()}}, "lastFrame", "first frame"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_stored(
    api, data_dir, body, field, fragment
):
    response = post_job(api, body)
    error = assert_error(response, 400)
    assert field in error["fields"], error
    assert fragment in error["fields"][field]
    assert field in error["error"]
    assert VideoCreationJob.objects.count() == 0
    assert not (data_dir / "videos").exists() or not any((data_dir / "videos").iterdir())


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [("{not json", "not valid JSON"), ("[1, 2]", "JSON object"), ("", "not valid JSON")],
)
def test_a_body_that_is_not_a_json_object_is_a_400(api, raw, fragment):
    response = api.post(url("jobs"), raw, content_type="application/json")
    assert_error(response, 400, fragment)
    assert VideoCreationJob.objects.count() == 0


def test_a_body_over_the_limit_is_a_413(api, settings):
    settings.API_MAX_BODY_BYTES = 2048
    response = post_job(api, {"promptText": "x" * 3000})
    assert_error(response, 413, "2,048 bytes")
    assert VideoCreationJob.objects.count() == 0


def test_a_spent_budget_refuses_the_job(api, user):
    Budget.objects.create(user=user, period=Budget.Period.MONTHLY, limit_usd=0)
    response = post_job(api, {"promptText": "A fox"})
    assert_error(response, 403, "budget")
    assert VideoCreationJob.objects.count() == 0


# --- Reading jobs ------------------------------------------------------------------------


def test_job_has_the_seed_fields_in_camel_case_and_no_provider_internals(api, user):
    failed = make_job(user, status=Status.FAILED, error="Boom")
    job = make_job(
        user,
        prompt_id="prompt-7",
        status=Status.COMPLETED,
        stage=Stage.DONE,
        progress=100,
        video_url="videos/x/output.mp4",
        completed_at=timezone.now(),
        operation_name="models/x/operations/secret-op",
        retry_of=failed,
        estimated_cost_usd="0.4000",
    )
    poster = make_resource(job, url="/ignored", file_path="videos/p.jpg")
    response = api.get(url("job", job.pk))
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    data = body["data"]
    assert set(data) == JOB_KEYS
    assert data["id"] == job.pk
    assert data["promptId"] == "prompt-7"
    assert (data["status"], data["stage"], data["progress"]) == ("completed", "done", 100)
    assert data["videoUrl"] == url("video", job.pk)
    assert data["retryOf"] == failed.pk
    assert data["estimatedCostUsd"] == "0.4000"
    assert data["options"] == {"aspectRatio": "16:9", "resolution": "720p", "durationSeconds": 4}
    assert data["createdAt"].endswith("Z")
    assert "secret-op" not in response.content.decode()
    (resource,) = data["resources"]
    assert set(resource) == RESOURCE_KEYS
    assert resource["id"] == poster.pk
    assert resource["jobId"] == job.pk
    assert resource["url"] == url("resource", job.pk, poster.pk)
    assert resource["filePath"] == "videos/p.jpg"


def test_a_job_without_a_video_has_a_null_video_url(api, user):
    job = make_job(user)
    data = api.get(url("job", job.pk)).json()["data"]
    assert (data["videoUrl"], data["completedAt"], data["error"], data["resources"]) == (
        None,
        None,
        None,
        [],
    )


def test_another_users_job_and_an_unknown_id_are_both_json_404s(api, other_user):
    theirs = make_job(other_user)
    for path in (
        url("job", theirs.pk),
        url("video", theirs.pk),
        url("resource", theirs.pk, "x"),
        url("job", "no-such-job"),
    ):
        assert_error(api.get(path), 404, "not found")
    for name in ("cancel", "retry"):
        assert_error(api.post(url(name, theirs.pk)), 404, "not found")
    assert_error(api.delete(url("job", theirs.pk)), 404, "not found")
    assert VideoCreationJob.objects.get(pk=theirs.pk).status == Status.IDLE


def test_staff_with_the_permission_see_and_list_everyones_jobs(client, manager, other_user):
    job = make_job(other_user)
    client.force_login(manager)
    assert client.get(url("job", job.pk)).json()["data"]["id"] == job.pk
    listed = client.get(url("jobs")).json()["data"]
    assert [j["id"] for j in listed] == [job.pk]


def test_list_is_the_callers_own_jobs_newest_first(api, user, other_user):
    old = make_job(user, created_at=timezone.now() - timedelta(hours=1))
    new = make_job(user)
    make_job(other_user, prompt_text="Someone else's secret")
    response = api.get(url("jobs"))
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"success", "data", "nextCursor"}
    assert [j["id"] for j in body["data"]] == [new.pk, old.pk]
    assert body["nextCursor"] is None
    assert "Link" not in response
    assert all(set(j) == JOB_KEYS for j in body["data"])
    assert "Someone else" not in response.content.decode()


def test_list_filters_by_status(api, user):
    failed = make_job(user, status=Status.FAILED)
    make_job(user)
    jobs = api.get(url("jobs"), {"status": "failed"}).json()["data"]
    assert [j["id"] for j in jobs] == [failed.pk]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "done"}, "status"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-3"}, "limit"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
    ],
)
def test_bad_list_parameters_are_a_400(api, query, field):
    error = assert_error(api.get(url("jobs"), query), 400)
    assert field in error["fields"]


def test_a_large_limit_is_clamped_to_a_hundred(api, user):
    make_jobs(user, 105)
    data = api.get(url("jobs"), {"limit": "5000"}).json()
    assert len(data["data"]) == 100
    assert data["nextCursor"]
    assert len(api.get(url("jobs")).json()["data"]) == 20


def test_cursor_pagination_walks_every_job_exactly_once(api, user):
    now = timezone.now()
    # Two pairs share a creation time, so the id has to break the tie.
    times = [now, now, now - timedelta(seconds=1), now - timedelta(seconds=1)]
    times += [now - timedelta(minutes=n) for n in range(2, 7)]
    created = [make_job(user, created_at=t) for t in times]
    expected = [j.pk for j in sorted(created, key=lambda j: (j.created_at, j.pk), reverse=True)]
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        data = api.get(url("jobs"), query).json()
        seen += [j["id"] for j in data["data"]]
        pages += 1
        cursor = data["nextCursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 5


def test_listing_takes_the_same_queries_for_any_page_size(
    client, user, django_assert_max_num_queries
):
    client.force_login(user)

    def add_jobs(count):
        for _ in range(count):
            job = make_job(user)
            for name in ("poster.jpg", "audio.m4a"):
                make_resource(job, name)

    def queries():
        with CaptureQueriesContext(connection) as context:
            assert client.get(url("jobs"), {"limit": 100}).status_code == 200
        return len(context.captured_queries)

    add_jobs(2)
    few = queries()
    add_jobs(40)
    # The session, the user, the page, its resources, its children's ids.
    with django_assert_max_num_queries(5):
        response = client.get(url("jobs"), {"limit": 100})
    assert len(response.json()["data"]) == 42
    assert queries() == few


# --- Cancel, retry, delete -----------------------------------------------------------


def test_cancel_stops_a_running_job_and_refuses_a_finished_one(api, user):
    job = make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING)
    response = api.post(url("cancel", job.pk))
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["status"], data["error"]) == ("failed", "Cancelled by user")
    job.refresh_from_db()
    assert job.is_cancelled and job.cancelled_at is not None
    assert_error(api.post(url("cancel", job.pk)), 409, "already finished")


def test_retry_makes_a_new_linked_job_and_refuses_an_unfailed_one(
    api, user, django_capture_on_commit_callbacks
):
    failed = make_job(user, status=Status.FAILED, error="Boom", prompt_id="p-9")
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(url("retry", failed.pk))
    assert response.status_code == 201
    retry = VideoCreationJob.objects.get(pk=response.json()["data"]["jobId"])
    assert (retry.retry_of, retry.prompt_id, retry.status) == (failed, "p-9", Status.IDLE)
    assert len(callbacks) == 1
    assert api.get(url("job", retry.pk)).json()["data"]["retryOf"] == failed.pk
    assert_error(api.post(url("retry", retry.pk)), 409, "Only a failed")


def test_delete_removes_a_finished_job_and_refuses_a_running_one(api, user):
    running = make_job(user, status=Status.PROCESSING)
    assert_error(api.delete(url("job", running.pk)), 409, "still running")
    done = make_job(user, status=Status.COMPLETED, stage=Stage.DONE)
    response = api.delete(url("job", done.pk))
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": None}
    assert list(VideoCreationJob.objects.values_list("pk", flat=True)) == [running.pk]
    assert_error(api.get(url("job", done.pk)), 404)


@pytest.mark.parametrize(
    ("method", "name", "allowed"),
    [
        ("put", "jobs", "GET, POST"),
        ("put", "job", "GET, PATCH, DELETE"),
        ("post", "job", "GET, PATCH, DELETE"),
        ("get", "cancel", "POST"),
        ("delete", "retry", "POST"),
        ("post", "video", "GET"),
    ],
)
def test_other_methods_are_a_json_405_naming_the_allowed_ones(api, user, method, name, allowed):
    job = make_job(user)
    path = url(name) if name == "jobs" else url(name, job.pk)
    response = getattr(api, method)(path)
    assert_error(response, 405, allowed)
    assert response["Allow"] == allowed


def test_an_unknown_path_under_the_api_is_a_json_404(api):
    assert_error(api.get("/api/video-creation/nothing/here"), 404, "No such endpoint")
    assert_error(api.get("/api/video-creation/jobs/"), 404, "no trailing slash")
    assert_error(api.post("/api/video-creation/jobs/"), 404, "no trailing slash")


# --- Files ---------------------------------------------------------------------------


def _completed_with_files(user, data_dir):
    job = make_job(user, status=Status.COMPLETED, stage=Stage.DONE, progress=100)
    directory = data_dir / "videos" / job.pk
    (directory / "resources" / "images").mkdir(parents=True)
    (directory / "output.mp4").write_bytes(bytes(range(256)) * 4)
    (directory / "resources" / "images" / "poster.jpg").write_bytes(b"\xff\xd8\xffposter")
    VideoCreationJob.objects.filter(pk=job.pk).update(video_url=f"videos/{job.pk}/output.mp4")
    make_resource(job, url="/studio/url", file_path=f"videos/{job.pk}/resources/images/poster.jpg")
    return job


def test_video_is_served_whole_and_by_range(api, user, data_dir):
    job = _completed_with_files(user, data_dir)
    video_url = api.get(url("job", job.pk)).json()["data"]["videoUrl"]
    whole = api.get(video_url)
    assert whole.status_code == 200
    assert whole["Content-Type"] == "video/mp4"
    assert whole["Accept-Ranges"] == "bytes"
    assert b"".join(whole.streaming_content) == bytes(range(256)) * 4
    part = api.get(video_url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part["Content-Range"] == "bytes 10-19/1024"
    assert b"".join(part.streaming_content) == bytes(range(10, 20))
    beyond = api.get(video_url, headers={"Range": "bytes=5000-"})
    assert_error(beyond, 416, "outside the file")
    assert beyond["Content-Range"] == "bytes */1024"


def test_resource_url_serves_the_file_to_its_owner_only(api, other_api, user, data_dir):
    job = _completed_with_files(user, data_dir)
    (resource,) = api.get(url("job", job.pk)).json()["data"]["resources"]
    response = api.get(resource["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == b"\xff\xd8\xffposter"
    assert_error(other_api.get(resource["url"]), 404)
    assert_error(Client().get(resource["url"]), 401)


def test_a_job_without_a_video_or_file_is_a_json_404(api, user, data_dir):
    job = make_job(user)
    assert_error(api.get(url("video", job.pk)), 404, "no video yet")
    VideoCreationJob.objects.filter(pk=job.pk).update(video_url="videos/gone/output.mp4")
    assert_error(api.get(url("video", job.pk)), 404, "missing")


def test_a_tampered_file_path_is_a_json_400_and_nothing_is_served(api, user, data_dir, caplog):
    job = _completed_with_files(user, data_dir)
    resource = VideoResource.objects.get(job=job)
    VideoResource.objects.filter(pk=resource.pk).update(file_path="../../../etc/passwd")
    response = api.get(url("resource", job.pk, resource.pk))
    assert_error(response, 400, "unsafe")
    assert any(r.name.startswith("django.security.") for r in caplog.records)


# --- Authentication and CSRF --------------------------------------------------------


def _api_routes():
    (api_urls,) = [e for e in get_resolver().url_patterns if getattr(e, "namespace", "") == "api"]
    # The OpenAPI document and its page are public (tests/test_openapi.py).
    public = {"openapi-json", "openapi-view"}
    return [e for e in api_urls.url_patterns if isinstance(e, URLPattern) and e.name not in public]


def test_every_api_route_answers_an_anonymous_caller_with_a_json_401(client, user):
    job = make_job(user)
    calls = [
        ("get", url("jobs")),
        ("post", url("jobs")),
        ("get", url("job", job.pk)),
        ("delete", url("job", job.pk)),
        ("post", url("cancel", job.pk)),
        ("post", url("retry", job.pk)),
        ("get", url("video", job.pk)),
        ("get", url("resource", job.pk, "r")),
        ("get", url("batch", "b")),
        ("get", url("webhooks")),
        ("post", url("webhooks")),
        ("patch", url("webhook", "w")),
        ("get", url("webhook-deliveries", "w")),
        ("post", url("webhook-resend", "w", "d")),
        ("get", "/api/video-creation/elsewhere"),
        ("get", url("storyboards")),
        ("post", url("storyboards")),
        ("patch", url("storyboard", "s")),
        ("get", url("storyboard-versions", "s")),
        ("post", url("storyboard-restore", "s", 1)),
        ("post", url("storyboard-shots", "s")),
        ("delete", url("storyboard-shot", "s", "h")),
        ("post", url("storyboard-shot-move", "s", "h")),
        ("post", url("storyboard-takes", "s", "h")),
        ("put", url("storyboard-pick", "s", "h")),
        ("put", url("storyboard-trim", "s", "h")),
        ("post", url("storyboard-generate", "s")),
        ("post", url("storyboard-cuts", "s")),
        ("get", url("storyboard-cut", "s", "c")),
    ]
    assert len({r.name for r in _api_routes()}) == 25  # a new route needs a line in `calls`
    for method, path in calls:
        response = getattr(client, method)(path)
        assert_error(response, 401, "Bearer")
        assert response["WWW-Authenticate"].startswith("Bearer"), path
    assert VideoCreationJob.objects.get(pk=job.pk).status == Status.IDLE


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer ", "Bearer vs_unknown", "bearer nonsense", "Bearer vs_ x"]
)
def test_a_malformed_or_unknown_token_is_a_401(user, header):
    tokens.token_create(user=user, name="script")
    client = Client(headers={"Authorization": header})
    response = client.get(url("jobs"))
    assert_error(response, 401, "token is missing, malformed, unknown or revoked")
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("header", ["Basic YW5hOnB3", "Token vs_x"])
def test_another_scheme_is_not_a_token_and_falls_back_to_the_session(client, user, header):
    assert_error(client.get(url("jobs"), headers={"Authorization": header}), 401, "Log in")
    client.force_login(user)  # e.g. Basic auth added by a proxy in front of the studio
    assert client.get(url("jobs"), headers={"Authorization": header}).status_code == 200


def test_a_bad_token_is_refused_even_with_a_logged_in_session(client, user):
    client.force_login(user)
    response = client.get(url("jobs"), headers={"Authorization": "Bearer vs_wrong"})
    assert_error(response, 401)


def test_a_revoked_token_is_a_401(user):
    token, raw = tokens.token_create(user=user, name="old script")
    client = bearer(raw)
    assert client.get(url("jobs")).status_code == 200
    tokens.token_revoke(token=token)
    assert_error(client.get(url("jobs")), 401, "revoked")


def test_a_token_of_a_deactivated_user_is_a_401(user):
    _, raw = tokens.token_create(user=user, name="script")
    user.is_active = False
    user.save()
    assert_error(bearer(raw).get(url("jobs")), 401)


def test_a_bearer_token_needs_no_csrf_token(api, user):
    job = make_job(user, status=Status.PROCESSING)
    assert post_job(api, {"promptText": "A fox"}).status_code == 201
    assert api.post(url("cancel", job.pk)).status_code == 200


def test_a_session_must_send_the_csrf_token_on_unsafe_methods(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    job = make_job(user, status=Status.COMPLETED)
    assert browser.get(url("jobs")).status_code == 200
    assert_error(post_job(browser, {"promptText": "A fox"}), 403, "CSRF")
    assert_error(browser.delete(url("job", job.pk)), 403, "CSRF")
    assert_error(browser.post(url("cancel", job.pk)), 403, "CSRF")
    assert VideoCreationJob.objects.count() == 1
    browser.get(reverse("api-tokens"))  # any page with a form sets the CSRF cookie
    csrf = {"X-CSRFToken": browser.cookies["csrftoken"].value}
    assert post_job(browser, {"promptText": "A fox"}, **csrf).status_code == 201
    assert browser.delete(url("job", job.pk), headers=csrf).status_code == 200


# --- Idempotency ---------------------------------------------------------------------


def test_a_repeat_with_the_same_key_replays_the_first_answer_and_creates_one_job(
    api, django_capture_on_commit_callbacks
):
    body = {"promptText": "A fox", "options": {"resolution": "720p", "durationSeconds": 4}}
    reordered = {"options": {"durationSeconds": 4, "resolution": "720p"}, "promptText": "A fox"}
    with django_capture_on_commit_callbacks() as callbacks:
        first = post_job(api, body, **{"Idempotency-Key": "order-1"})
        second = post_job(api, reordered, **{"Idempotency-Key": "order-1"})
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert VideoCreationJob.objects.count() == 1
    assert len(callbacks) == 1


def test_the_same_key_with_another_body_is_a_409(api):
    post_job(api, {"promptText": "A fox"}, **{"Idempotency-Key": "k"})
    response = post_job(api, {"promptText": "A cat"}, **{"Idempotency-Key": "k"})
    assert_error(response, 409, "different request")
    assert VideoCreationJob.objects.count() == 1


def test_keys_belong_to_one_user(api, other_api):
    first = post_job(api, {"promptText": "A fox"}, **{"Idempotency-Key": "shared"})
    second = post_job(other_api, {"promptText": "A fox"}, **{"Idempotency-Key": "shared"})
    assert second.status_code == 201
    assert second.json() != first.json()
    assert VideoCreationJob.objects.count() == 2


def test_a_key_older_than_a_day_may_be_reused(api):
    first = post_job(api, {"promptText": "A fox"}, **{"Idempotency-Key": "daily"})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    second = post_job(api, {"promptText": "A fox"}, **{"Idempotency-Key": "daily"})
    assert second.status_code == 201
    assert second.json() != first.json()
    assert VideoCreationJob.objects.count() == 2
    assert IdempotencyKey.objects.count() == 1


def test_a_refused_request_does_not_use_up_its_key(api):
    bad = post_job(api, {"promptText": ""}, **{"Idempotency-Key": "retry-me"})
    assert bad.status_code == 400
    good = post_job(api, {"promptText": "A fox"}, **{"Idempotency-Key": "retry-me"})
    assert good.status_code == 201
    assert VideoCreationJob.objects.count() == 1


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\tkey"])
def test_a_malformed_key_is_a_400(api, key):
    assert_error(post_job(api, {"promptText": "A fox"}, **{"Idempotency-Key": key}), 400)
    assert VideoCreationJob.objects.count() == 0


RACE = "Race of one key to one submit"


# Serialized rollback: the flush afterwards keeps the content types, which the
# serialized-rollback tests that follow (test_resilience.py) restore by id.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_repeats_of_one_key_create_one_job_and_one_submit(user, veo):
    _, raw = tokens.token_create(user=user, name="racer")
    answers, start = [], threading.Barrier(2)

    def send():
        try:
            start.wait()
            response = post_job(bearer(raw), {"promptText": RACE}, **{"Idempotency-Key": "r"})
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 2
    assert answers[0] == answers[1]
    assert answers[0][0] == 201
    assert VideoCreationJob.objects.count() == 1
    # The job ran (django-q2 in sync mode) against the emulator: Google saw one submit.
    run_due_jobs()
    job = VideoCreationJob.objects.get()
    assert job.status == Status.COMPLETED, job.error
    assert veo.submits_for(RACE) == 1


# --- Rate limit ------------------------------------------------------------------------


def test_creating_past_the_limit_is_a_429_with_retry_after(api, user, settings):
    settings.API_JOB_CREATE_LIMIT = 2
    settings.API_JOB_CREATE_WINDOW_SECONDS = 3600
    now = timezone.now()
    make_job(user, created_at=now - timedelta(seconds=3500))
    make_job(user, created_at=now - timedelta(seconds=10))
    make_job(user, created_at=now - timedelta(seconds=3700))  # already outside the window
    response = post_job(api, {"promptText": "One too many"})
    assert_error(response, 429, "2 per hour")
    assert 98 <= int(response["Retry-After"]) <= 100
    assert f"Try again in {response['Retry-After']} seconds" in response.json()["error"]
    assert VideoCreationJob.objects.count() == 3
    assert_error(api.post(url("retry", make_job(user, status=Status.FAILED).pk)), 429)


def test_replays_do_not_count_against_the_limit(api, settings):
    settings.API_JOB_CREATE_LIMIT = 1
    first = post_job(api, {"promptText": "A fox"}, **{"Idempotency-Key": "once"})
    replay = post_job(api, {"promptText": "A fox"}, **{"Idempotency-Key": "once"})
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert_error(post_job(api, {"promptText": "A cat"}, **{"Idempotency-Key": "two"}), 429)
    assert VideoCreationJob.objects.count() == 1


# --- End to end --------------------------------------------------------------------


def test_an_api_job_runs_to_a_playable_video_against_the_emulator(
    api, veo, data_dir, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_job(
            api, {"promptText": "API lighthouse at dusk", "options": {"durationSeconds": 4}}
        )
    run_due_jobs()
    assert response.status_code == 201
    job_id = response.json()["data"]["jobId"]
    data = api.get(url("job", job_id)).json()["data"]
    assert data["status"] == "completed", data["error"]
    assert (data["progress"], data["stage"]) == (100, "done")
    assert data["completedAt"]
    assert veo.submits_for("API lighthouse at dusk") == 1
    video = api.get(data["videoUrl"])
    assert video.status_code == 200
    path = data_dir / "api-video.mp4"
    path.write_bytes(b"".join(video.streaming_content))
    assert probe(path).duration > 3
    poster = next(r for r in data["resources"] if r["filename"] == "poster.jpg")
    assert api.get(poster["url"]).status_code == 200


# --- Tasks: the body's task, parent, reference images and knobs (issue 15) --------------


def refs(count):
    return [{"data": png_b64()} for _ in range(count)]


@pytest.mark.usefixtures("task_catalog")
@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"task": "reference_to_video", "options": {"model": "test-plain"}}, "task", "offer"),
        ({"task": "dance"}, "task", ""),
        (
            {"task": "reference_to_video", "referenceImages": refs(3)},
            "referenceImages",
            "up to 2",
        ),
        ({"task": "reference_to_video"}, "referenceImages", "at least one"),
        ({"referenceImages": {"data": "x"}}, "referenceImages", "list"),
        (
            {"task": "text_to_video", "referenceImages": refs(1)},
            "referenceImages",
            "go with reference images",
        ),
        (
            {"task": "reference_to_video", "referenceImages": [{"data": "!"}]},
            "referenceImages[0]",
            "base64",
        ),
        ({"task": "extend"}, "parentId", "Choose the job"),
        ({"seed": 7, "options": {"model": "test-plain"}}, "seed", "takes no seed"),
        ({"seed": -1}, "seed", ""),
        ({"generateAudio": "yes"}, "generateAudio", ""),
        ({"options": {"model": "veo-3.0-generate-001"}}, "options.model", "retired"),
    ],
)
def test_a_task_the_model_refuses_is_a_400_naming_the_field(api, data_dir, body, field, fragment):
    response = post_job(api, {"promptText": "A heron", **body})
    error = assert_error(response, 400)
    assert field in error["fields"], error
    assert fragment in error["fields"][field]
    assert VideoCreationJob.objects.count() == 0
    assert not (data_dir / "videos").exists() or not any((data_dir / "videos").iterdir())


@pytest.mark.usefixtures("task_catalog")
def test_an_edit_of_a_job_without_a_video_is_refused_naming_the_parent(api, user):
    queued = make_job(user, model="test-full")
    response = post_job(api, {"promptText": "At night", "task": "edit", "parentId": queued.pk})
    error = assert_error(response, 400)
    assert "has no video to edit" in error["fields"]["parentId"]
    assert VideoCreationJob.objects.count() == 1


@pytest.mark.usefixtures("task_catalog")
def test_someone_elses_parent_is_refused_as_not_found(api, other_user):
    theirs = make_job(
        other_user, model="test-full", status=Status.COMPLETED, video_url="videos/t/output.mp4"
    )
    for parent_id in (theirs.pk, "no-such-job"):
        body = {"promptText": "More", "task": "extend", "parentId": parent_id}
        error = assert_error(post_job(api, body), 404, "No job")
        assert set(error["fields"]) == {"parentId"}
    assert VideoCreationJob.objects.count() == 1


@pytest.mark.usefixtures("task_catalog")
def test_a_parent_goes_only_with_a_task_from_a_video(api, user):
    done = make_job(user, model="test-full", status=Status.COMPLETED, video_url="v/o.mp4")
    error = assert_error(post_job(api, {"promptText": "A", "parentId": done.pk}), 400)
    assert "Only an extend, edit or upscale" in error["fields"]["parentId"]


def test_a_jobs_read_says_its_task_parent_and_children(api, user):
    parent = make_job(user, status=Status.COMPLETED, video_url="v/o.mp4")
    child = make_job(user, task="extend", parent=parent)
    data = api.get(url("job", parent.pk)).json()["data"]
    assert (data["task"], data["parentId"], data["children"]) == ("text_to_video", None, [child.pk])
    listed = {j["id"]: j for j in api.get(url("jobs")).json()["data"]}
    assert listed[child.pk]["task"] == "extend"
    assert listed[child.pk]["parentId"] == parent.pk
    assert listed[parent.pk]["children"] == [child.pk]


@pytest.mark.usefixtures("task_catalog")
def test_an_extend_by_api_makes_a_child_with_its_parents_model_and_the_knobs(api, user):
    parent = make_job(user, model="test-full", status=Status.COMPLETED, video_url="v/o.mp4")
    body = {"promptText": "It flies", "task": "extend", "parentId": parent.pk, "seed": 9}
    response = post_job(api, {**body, "generateAudio": False})
    assert response.status_code == 201, response.json()
    child = VideoCreationJob.objects.get(pk=response.json()["data"]["jobId"])
    assert (child.task, child.parent, child.model) == ("extend", parent, "test-full")
    assert (child.options["seed"], child.options["generate_audio"]) == (9, False)
    data = api.get(url("job", parent.pk)).json()["data"]
    assert data["children"] == [child.pk]


@pytest.mark.usefixtures("task_catalog")
def test_an_extension_past_the_chains_limit_is_refused_naming_the_parent(api, user):
    long = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 8}
    root = make_job(
        user, model="test-full", status=Status.COMPLETED, video_url="v/o.mp4", options=long
    )
    middle = make_job(
        user,
        model="test-full",
        status=Status.COMPLETED,
        video_url="v/o.mp4",
        task="extend",
        parent=root,
        options=long,
    )
    last = make_job(
        user,
        model="test-full",
        status=Status.COMPLETED,
        video_url="v/o.mp4",
        task="extend",
        parent=middle,
        options={**long, "duration_seconds": 4},
    )
    # 8 + 8 + 4 = 20 s, the test model's longest chain.
    response = post_job(api, {"promptText": "More", "task": "extend", "parentId": last.pk})
    error = assert_error(response, 400)
    assert "20 s" in error["fields"]["parentId"]
    assert VideoCreationJob.objects.count() == 3
