"""Polled partials revalidate: an unchanged running job answers 304 without rendering."""

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import services
from jobs.models import VideoCreationJob
from tests.conftest import JOB_OPTIONS

pytestmark = pytest.mark.django_db

Status = VideoCreationJob.Status
Stage = VideoCreationJob.Stage
MODEL = "veo-3.1-fast-generate-preview"
HTMX = {"HX-Request": "true"}


def make_job(owner, **fields):
    fields = {"prompt_text": "A fox", "model": MODEL, "options": JOB_OPTIONS, **fields}
    return VideoCreationJob.objects.create(owner=owner, **fields)


def running_job(owner, **fields):
    return make_job(owner, status=Status.PROCESSING, stage=Stage.GENERATING, progress=30, **fields)


def first_poll(client, url):
    """Load the job's page as a browser does (it sets the CSRF cookie), then poll once."""
    client.get(reverse("jobs:index"))
    response = client.get(url, headers=HTMX)
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("name", ["jobs:detail", "jobs:card"])
def test_unchanged_running_job_answers_304_without_rendering(
    logged_in, user, name, django_assert_max_num_queries
):
    url = reverse(name, args=[running_job(user).pk])
    polled = first_poll(logged_in, url)
    etag = polled["ETag"]
    assert polled["Cache-Control"] in ("private, no-cache", "no-cache, private")
    assert "HX-Request" in polled["Vary"]
    with django_assert_max_num_queries(3):  # the session, the user, the job
        again = logged_in.get(url, headers={**HTMX, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.templates == []
    assert again["ETag"] == etag
    assert "no-cache" in again["Cache-Control"]


@pytest.mark.parametrize("name", ["jobs:detail", "jobs:card"])
def test_a_change_to_the_job_renders_it_again(logged_in, user, name):
    job = running_job(user)
    url = reverse(name, args=[job.pk])
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


def test_a_waiting_job_always_renders_as_its_place_in_line_comes_from_other_rows(logged_in, user):
    ahead = make_job(user, created_at=timezone.now() - timezone.timedelta(minutes=1))
    job = make_job(user)
    url = reverse("jobs:card", args=[job.pk])
    polled = first_poll(logged_in, url)
    assert "number 2 in line" in polled.content.decode()
    assert "ETag" not in polled
    assert services.job_claim(ahead.pk)
    moved = logged_in.get(url, headers={**HTMX, "If-None-Match": '"anything"'})
    assert moved.status_code == 200
    assert "number 1 in line" in moved.content.decode()


def test_never_a_304_across_users(client, user, other_user, staff_user):
    job = running_job(user)
    url = reverse("jobs:detail", args=[job.pk])
    client.force_login(user)
    etag = first_poll(client, url)["ETag"]
    csrf_cookie = client.cookies["csrftoken"].value

    client.force_login(staff_user)
    client.cookies["csrftoken"] = csrf_cookie  # the same browser, so the same CSRF cookie
    staff = client.get(url, headers={**HTMX, "If-None-Match": etag})
    assert staff.status_code == 200
    assert staff["ETag"] != etag

    client.force_login(other_user)
    client.cookies["csrftoken"] = csrf_cookie
    assert client.get(url, headers={**HTMX, "If-None-Match": etag}).status_code == 404


def test_a_new_csrf_secret_renders_again_so_forms_carry_a_valid_token(logged_in, user):
    url = reverse("jobs:detail", args=[running_job(user).pk])
    etag = first_poll(logged_in, url)["ETag"]
    logged_in.cookies["csrftoken"] = "x" * 32
    again = logged_in.get(url, headers={**HTMX, "If-None-Match": etag})
    assert again.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in again.content.decode()


def test_the_full_page_is_never_answered_from_the_partials_cache(logged_in, user):
    url = reverse("jobs:detail", args=[running_job(user).pk])
    etag = first_poll(logged_in, url)["ETag"]
    page = logged_in.get(url, headers={"If-None-Match": etag})
    assert page.status_code == 200
    assert "<html" in page.content.decode()
    assert "HX-Request" in page["Vary"]
    assert "ETag" not in page
