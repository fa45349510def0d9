"""Polled partials: an unchanged running job answers 304 without rendering, and a poll
costs two queries without loosening any check of the session."""

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import services
from jobs.models import VideoCreationJob
from tests.factories import Stage, Status, make_job, make_resource, session_queries

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def running_job(owner, **fields):
    return make_job(owner, status=Status.PROCESSING, stage=Stage.GENERATING, progress=30, **fields)


def first_poll(client, url):
    """Load the job's page as a browser does (it sets the CSRF cookie), then poll once."""
    client.get(reverse("jobs:index"))
    response = client.get(url, headers=HTMX)
    assert response.status_code == 200
    return response


def test_unchanged_running_job_answers_304_without_rendering(
    logged_in, user, django_assert_max_num_queries
):
    url = reverse("jobs:detail", args=[running_job(user).pk])
    polled = first_poll(logged_in, url)
    etag = polled["ETag"]
    assert polled["Cache-Control"] in ("private, no-cache", "no-cache, private")
    assert "HX-Request" in polled["Vary"]
    with django_assert_max_num_queries(2):  # the session, the job with its owner
        again = logged_in.get(url, headers={**HTMX, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.templates == []
    assert again["ETag"] == etag
    assert "no-cache" in again["Cache-Control"]


def test_a_change_to_the_job_renders_it_again(logged_in, user):
    job = running_job(user)
    url = reverse("jobs:detail", args=[job.pk])
    etag = first_poll(logged_in, url)["ETag"]
    assert services.job_lease_renew(
        job.pk,
        services.job_lease_acquire(job.pk, seconds=60),
        seconds=60,
        stage=Stage.GENERATING,
        progress=42,
    )
    changed = logged_in.get(url, headers={**HTMX, "If-None-Match": etag})
    assert changed.status_code == 200
    assert "42 %" in changed.content.decode()
    assert changed["ETag"] != etag


def test_a_job_that_finished_stops_polling_with_286_despite_its_old_etag(logged_in, user):
    job = running_job(user)
    url = reverse("jobs:detail", args=[job.pk])
    etag = first_poll(logged_in, url)["ETag"]
    services.job_fail(job.pk, message="Veo said no")
    ended = logged_in.get(url, headers={**HTMX, "If-None-Match": etag})
    assert ended.status_code == 286
    assert "Veo said no" in ended.content.decode()
    assert "hx-trigger" not in ended.content.decode()
    assert "ETag" not in ended


def test_a_waiting_job_always_renders_as_its_place_in_line_comes_from_other_rows(
    logged_in, user, django_assert_num_queries
):
    ahead = make_job(user, created_at=timezone.now() - timezone.timedelta(minutes=1))
    job = make_job(user)
    url = reverse("jobs:detail", args=[job.pk])
    logged_in.get(reverse("jobs:index"))
    with django_assert_num_queries(session_queries() + 2):  # the job, the line
        polled = logged_in.get(url, headers=HTMX)
    assert "number 2 in line" in polled.content.decode()
    assert "ETag" not in polled
    assert services.job_claim(ahead.pk)
    moved = logged_in.get(url, headers={**HTMX, "If-None-Match": '"anything"'})
    assert moved.status_code == 200
    assert "number 1 in line" in moved.content.decode()


def test_never_a_304_across_users(client, user, other_user, manager):
    job = running_job(user)
    url = reverse("jobs:detail", args=[job.pk])
    client.force_login(user)
    etag = first_poll(client, url)["ETag"]
    csrf_cookie = client.cookies["csrftoken"].value

    client.force_login(manager)  # staff who may see everyone's jobs
    client.cookies["csrftoken"] = csrf_cookie  # the same browser, so the same CSRF cookie
    staff = client.get(url, headers={**HTMX, "If-None-Match": etag})
    assert staff.status_code == 200
    assert staff["ETag"] != etag

    client.force_login(other_user)
    client.cookies["csrftoken"] = csrf_cookie
    assert client.get(url, headers={**HTMX, "If-None-Match": etag}).status_code == 404


def test_a_running_jobs_poll_holds_no_form_its_page_keeps_the_cancel_button(logged_in, user):
    url = reverse("jobs:detail", args=[running_job(user).pk])
    page = logged_in.get(url).content.decode()
    assert 'id="job-actions"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    polled = first_poll(logged_in, url).content.decode()
    assert "<form" not in polled
    assert "job-actions" not in polled


def test_the_full_page_is_never_answered_from_the_partials_cache(logged_in, user):
    url = reverse("jobs:detail", args=[running_job(user).pk])
    etag = first_poll(logged_in, url)["ETag"]
    page = logged_in.get(url, headers={"If-None-Match": etag})
    assert page.status_code == 200
    assert "<html" in page.content.decode()
    assert "HX-Request" in page["Vary"]
    assert "ETag" not in page


# --- What a poll costs: the session and the job's row, which brings its owner along ---------


def test_an_owners_poll_reads_the_session_and_one_row(logged_in, user, django_assert_num_queries):
    url = reverse("jobs:detail", args=[running_job(user).pk])
    logged_in.get(reverse("jobs:index"))  # the CSRF cookie, as a page sets it
    with django_assert_num_queries(session_queries() + 1) as rendered:
        polled = logged_in.get(url, headers=HTMX)
    assert polled.status_code == 200
    assert any("JOIN" in query["sql"] for query in rendered.captured_queries)
    with django_assert_num_queries(session_queries() + 1):
        again = logged_in.get(url, headers={**HTMX, "If-None-Match": polled["ETag"]})
    assert again.status_code == 304


def test_a_poll_checks_the_session_as_strictly_as_any_page(client, user):
    url = reverse("jobs:detail", args=[running_job(user).pk])
    login_page = reverse("login")

    assert client.get(url, headers=HTMX)["Location"].startswith(login_page)

    client.force_login(user)
    assert client.get(url, headers=HTMX).status_code == 200
    user.set_password("a new password, set in another browser")
    user.save()
    moved = client.get(url, headers=HTMX)
    assert moved.status_code == 302
    assert moved["Location"].startswith(login_page)
    assert client.get(reverse("jobs:index")).status_code == 302  # the session was flushed

    client.force_login(user)
    user.is_active = False
    user.save()
    assert client.get(url, headers=HTMX)["Location"].startswith(login_page)


def test_a_poll_of_a_job_without_an_owner_is_for_staff_with_the_permission_only(
    client, user, staff_user, manager
):
    job = running_job(None)
    url = reverse("jobs:detail", args=[job.pk])
    client.force_login(user)
    assert client.get(url, headers=HTMX).status_code == 404
    client.force_login(staff_user)
    assert client.get(url, headers=HTMX).status_code == 404
    client.force_login(manager)
    assert client.get(url, headers=HTMX).status_code == 200


def add_resource(job, filename, type="image"):
    return make_resource(job, filename, type=type, url="", file_path=f"resources/x/{filename}")


def test_a_running_poll_leaves_the_resources_on_the_page(
    logged_in, user, django_assert_num_queries
):
    job = running_job(user)
    add_resource(job, "first-frame.png")
    url = reverse("jobs:detail", args=[job.pk])
    page = logged_in.get(url).content.decode()
    assert 'id="job-resources"' in page
    assert "first-frame.png" in page
    assert "hx-swap-oob" not in page
    with django_assert_num_queries(session_queries() + 1):
        polled = logged_in.get(url, headers=HTMX).content.decode()
    assert "job-resources" not in polled


def test_the_final_poll_brings_billing_actions_resources_and_poster_out_of_band(logged_in, user):
    job = running_job(user)
    add_resource(job, "first-frame.png")
    url = reverse("jobs:detail", args=[job.pk])
    etag = first_poll(logged_in, url)["ETag"]
    add_resource(job, "poster.jpg")
    add_resource(job, "audio.m4a", type="audio")
    VideoCreationJob.objects.filter(pk=job.pk).update(
        status=Status.FAILED, stage=Stage.DONE, error="Veo said no", actual_cost_usd="0.60"
    )
    ended = logged_in.get(url, headers={**HTMX, "If-None-Match": etag})
    assert ended.status_code == 286
    body = ended.content.decode()
    status, _, swapped = body.partition('<span id="job-billed" hx-swap-oob="true">')
    assert "Veo said no" in status and "<form" not in status
    billed, _, swapped = swapped.partition(
        '<div id="job-actions" class="actions" hx-swap-oob="true">'
    )
    assert billed.startswith("$0.60</span>")
    actions, _, resources = swapped.partition('<div id="job-resources" hx-swap-oob="true">')
    assert reverse("jobs:retry", args=[job.pk]) in actions
    assert 'name="csrfmiddlewaretoken"' in actions
    assert reverse("jobs:cancel", args=[job.pk]) not in body
    for filename in ("first-frame.png", "poster.jpg", "audio.m4a"):
        assert filename in resources


def test_the_final_poll_of_a_completed_job_shows_its_poster(logged_in, user):
    job = running_job(user)
    url = reverse("jobs:detail", args=[job.pk])
    first_poll(logged_in, url)
    add_resource(job, "poster.jpg")
    VideoCreationJob.objects.filter(pk=job.pk).update(
        status=Status.COMPLETED, stage=Stage.DONE, progress=100, video_url="videos/x/output.mp4"
    )
    ended = logged_in.get(url, headers=HTMX)
    status = ended.content.decode().partition("hx-swap-oob")[0]
    assert "<video" in status and "poster=" in status
