"""The studio pages: login, the create form, polling partials, media behind a view."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from jobs import services
from jobs.models import VideoCreationJob, VideoResource
from tests.factories import MODEL, Stage, Status, make_job, session_queries

pytestmark = pytest.mark.django_db


def _all_patterns(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _all_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _sample_url(route):
    """Turn a route like 'jobs/<str:pk>/' into a concrete path."""
    import re

    route = re.sub(r"<int:\w+>", "1", route)
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", "x", route).replace("^", "").replace("$", "")


def test_every_studio_url_requires_login(client):
    public = ("accounts/login/", "accounts/password_reset", "accounts/reset/")
    # The API's OpenAPI document and its docs page describe it to anyone.
    public += ("api/openapi.json", "api/docs")
    # The probes a load balancer calls, and Prometheus's scrape (tests/test_health.py).
    public += ("healthz", "readyz", "metrics")
    # What a client link opens, to someone with no account (tests/drafts/test_client_links.py).
    public += ("c/",)
    routes = [r for r, _ in _all_patterns() if not r.startswith(("admin/", *public))]
    assert "jobs/changes/" in routes
    for route in routes:
        response = client.get(_sample_url(route))
        if route.startswith("api/"):
            # Scripts get a JSON 401, not a redirect to a login page.
            assert response.status_code in (401, 405), route
            continue
        assert response.status_code in (302, 405), route
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("login")), route


def test_index_lists_own_jobs_newest_first(logged_in, user, other_user):
    old = make_job(user, created_at=timezone.now() - timezone.timedelta(hours=1))
    new = make_job(user)
    make_job(other_user, prompt_text="Someone else's secret")
    response = logged_in.get(reverse("jobs:index"))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.index(f'id="job-{new.pk}"') < page.index(f'id="job-{old.pk}"')
    assert "Someone else" not in page


def test_index_query_count_does_not_grow_with_jobs(logged_in, user, django_assert_num_queries):
    for n in range(24):
        state = [
            {},
            {"status": Status.PROCESSING, "stage": Stage.GENERATING, "progress": 30},
            {"status": Status.FAILED, "error": "Veo said no"},
            {"status": Status.COMPLETED, "stage": Stage.DONE, "metadata": {"poster_url": "/p/"}},
        ][n % 4]
        make_job(user, **state)
    # The session (unless Redis has it), the user, the page (only the card's columns), the
    # line of waiting jobs: a card that touched any other column would add a query per card.
    with django_assert_num_queries(session_queries() + 3):
        page = logged_in.get(reverse("jobs:index")).content.decode()
    assert page.count('class="job-card ') == 20
    assert "Veo said no" in page and "in line" in page and "30 %" in page and "/p/" in page


def test_create_form_queues_a_job_and_redirects_to_it(
    logged_in, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = logged_in.post(
            reverse("jobs:index"),
            {
                "prompt_text": "  A paper boat in rain  ",
                "model": MODEL,
                "aspect_ratio": "9:16",
                "resolution": "720p",
                "duration_seconds": "6",
                "negative_prompt": "text",
            },
        )
    job = VideoCreationJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == job.get_absolute_url()
    assert job.owner == user
    assert job.prompt_text == "A paper boat in rain"
    assert job.status == Status.IDLE
    assert job.options == {
        "aspect_ratio": "9:16",
        "resolution": "720p",
        "duration_seconds": 6,
        "negative_prompt": "text",
    }
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"prompt_text": "   "}, "prompt_text", "Write a prompt"),
        ({"prompt_text": "x" * 4001}, "prompt_text", "at most 4000 characters"),
        (
            {"resolution": "1080p", "duration_seconds": "4"},
            "duration_seconds",
            "accepts durations 8 s",
        ),
        (
            {"model": "veo-3.1-lite-generate-preview", "resolution": "4k", "duration_seconds": "8"},
            "resolution",
            "accepts resolutions 720p, 1080p",
        ),
        ({"aspect_ratio": "1:1"}, "aspect_ratio", "Select a valid choice"),
        ({"model": "veo-3.0-generate-001"}, "model", "Select a valid choice"),
    ],
)
def test_bad_input_is_refused_with_the_field_named_and_nothing_stored(
    logged_in, data, field, message
):
    form = {
        "prompt_text": "A dog",
        "model": MODEL,
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration_seconds": "8",
        **data,
    }
    response = logged_in.post(reverse("jobs:index"), form)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors
    assert message in " ".join(errors[field])
    assert message in response.content.decode().replace("&#x27;", "'")
    assert VideoCreationJob.objects.count() == 0


def test_running_job_partial_keeps_polling(logged_in, user, django_assert_max_num_queries):
    job = make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING, progress=30)
    with django_assert_max_num_queries(2):  # the session, the job with its owner
        response = logged_in.get(
            reverse("jobs:detail", args=[job.pk]), headers={"HX-Request": "true"}
        )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="every 2s"' in body
    assert 'value="30"' in body
    assert "<html" not in body


def test_finished_job_partial_stops_polling_with_286(
    logged_in, user, django_assert_max_num_queries
):
    job = make_job(
        user,
        status=Status.COMPLETED,
        stage=Stage.DONE,
        progress=100,
        video_url="videos/x/output.mp4",
    )
    # The session, the polled columns, then, once a job has finished, the whole row and
    # its resources (for the poster): one query more than a running poll, once per job.
    with django_assert_max_num_queries(4):
        response = logged_in.get(
            reverse("jobs:detail", args=[job.pk]), headers={"HX-Request": "true"}
        )
    assert response.status_code == 286
    body = response.content.decode()
    assert "hx-trigger" not in body
    assert "<video" in body


def test_full_page_render_is_200_even_when_finished(logged_in, user):
    job = make_job(user, status=Status.FAILED, error="Veo said no")
    response = logged_in.get(reverse("jobs:detail", args=[job.pk]))
    assert response.status_code == 200
    assert "Veo said no" in response.content.decode()


def test_another_users_job_is_not_found(logged_in, other_user):
    job = make_job(other_user)
    for name in ("jobs:detail", "jobs:video"):
        assert logged_in.get(reverse(name, args=[job.pk])).status_code == 404


def test_staff_with_the_permission_see_everyones_jobs(client, manager, other_user):
    job = make_job(other_user)
    client.force_login(manager)
    assert client.get(reverse("jobs:detail", args=[job.pk])).status_code == 200


def _completed_with_files(user, data_dir):
    job = make_job(user, status=Status.COMPLETED, stage=Stage.DONE, progress=100)
    directory = data_dir / "videos" / job.pk
    (directory / "resources" / "images").mkdir(parents=True)
    (directory / "output.mp4").write_bytes(bytes(range(256)) * 4)
    (directory / "resources" / "images" / "poster.jpg").write_bytes(b"\xff\xd8\xffposter")
    VideoCreationJob.objects.filter(pk=job.pk).update(video_url=f"videos/{job.pk}/output.mp4")
    poster = VideoResource(job=job, type="image", filename="poster.jpg")
    poster.file_path = f"videos/{job.pk}/resources/images/poster.jpg"
    poster.url = poster.get_absolute_url()
    poster.save()
    return job, poster


def test_resource_file_is_served_only_through_its_job(
    logged_in, client, user, other_user, data_dir
):
    _job, poster = _completed_with_files(user, data_dir)
    response = logged_in.get(poster.url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    client.force_login(other_user)
    assert client.get(poster.url).status_code == 404


def test_cancel_stops_a_running_job_and_refuses_a_finished_one(logged_in, user):
    job = make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING)
    response = logged_in.post(reverse("jobs:cancel", args=[job.pk]), follow=True)
    job.refresh_from_db()
    assert (job.status, job.error) == (Status.FAILED, "Cancelled by user")
    assert job.is_cancelled and job.cancelled_at == job.completed_at
    assert "Google may still bill it" in response.content.decode()
    again = logged_in.post(reverse("jobs:cancel", args=[job.pk]), follow=True)
    assert "already finished" in again.content.decode()
    assert logged_in.get(reverse("jobs:cancel", args=[job.pk])).status_code == 405


def test_a_cancelled_jobs_page_says_a_submitted_video_may_still_arrive(logged_in, user):
    sent = make_job(
        user,
        status=Status.PROCESSING,
        stage=Stage.GENERATING,
        submitted_at=timezone.now(),
    )
    assert services.job_cancel(job=sent)
    page = logged_in.get(reverse("jobs:detail", args=[sent.pk])).content.decode()
    assert "late-result.mp4" in page
    # A failure is not a cancel, whatever it says.
    failed = make_job(user, status=Status.FAILED, error="Boom", submitted_at=timezone.now())
    page = logged_in.get(reverse("jobs:detail", args=[failed.pk])).content.decode()
    assert "late-result.mp4" not in page


def test_a_cards_kept_head_follows_its_status(logged_in, user):
    job = make_job(user, status=Status.PROCESSING, stage=Stage.GENERATING, progress=40)
    assert "thumb" not in logged_in.get(reverse("jobs:index")).content.decode()
    VideoCreationJob.objects.filter(pk=job.pk).update(
        status=Status.COMPLETED,
        stage=Stage.DONE,
        progress=100,
        metadata={"poster_url": f"/jobs/{job.pk}/resources/r1/"},
    )
    page = logged_in.get(reverse("jobs:index")).content.decode()
    assert f'<img src="/jobs/{job.pk}/resources/r1/"' in page
    assert "40 %" not in page and "Completed" in page


def test_the_job_list_reads_no_resources_and_counts_no_rows(logged_in, user):
    for _ in range(25):
        make_job(user, status=Status.COMPLETED, stage=Stage.DONE, metadata={"poster_url": "/p/"})
    with CaptureQueriesContext(connection) as queries:
        first = logged_in.get(reverse("jobs:index"))
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "video_resources" not in sql
    assert "COUNT(" not in sql
    body = first.content.decode()
    assert body.count('class="thumb"') == 20
    assert "Page 1</span>" in body and "?page=2" in body
    second = logged_in.get(reverse("jobs:index") + "?page=2").content.decode()
    assert second.count('class="thumb"') == 5
    assert "?page=3" not in second and "?page=1" in second
    beyond = logged_in.get(reverse("jobs:index") + "?page=9").content.decode()
    assert "No jobs this far back" in beyond
