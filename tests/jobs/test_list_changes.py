"""The job list's one poller: changed cards out of band, 204 when none changed, 286 at the end."""

import html
import re

import pytest
from django.urls import reverse

from jobs import services
from jobs.models import Batch, VideoCreationJob
from tests.factories import JOB_OPTIONS, session_queries

pytestmark = pytest.mark.django_db

Status = VideoCreationJob.Status
Stage = VideoCreationJob.Stage
HTMX = {"HX-Request": "true"}
POLLER = re.compile(r'<div id="card-poller" hidden hx-get="([^"]+)"')


def running_jobs(owner, n, **fields):
    fields = {
        "prompt_text": "A fox",
        "model": "veo-3.1-fast-generate-preview",
        "options": JOB_OPTIONS,
        "status": Status.PROCESSING,
        "stage": Stage.GENERATING,
        "progress": 30,
        **fields,
    }
    return VideoCreationJob.objects.bulk_create(
        VideoCreationJob(owner=owner, **fields) for _ in range(n)
    )


def poller_of(body):
    """Return the URL the page's (or an answer's) poller polls, or None without one."""
    found = POLLER.search(body)
    return html.unescape(found.group(1)) if found else None


def progress(job_id, to):
    held = services.job_lease_acquire(job_id, seconds=60)
    assert services.job_lease_renew(job_id, held, seconds=60, stage=Stage.GENERATING, progress=to)


def test_the_list_has_one_poller_for_its_live_cards_and_none_per_card(logged_in, user):
    live = running_jobs(user, 3)
    running_jobs(user, 1, status=Status.FAILED, stage=Stage.DONE, error="Veo said no")
    page = logged_in.get(reverse("jobs:index")).content.decode()
    assert page.count("every 2s") == 1
    assert page.count('id="card-poller"') == 1
    url = poller_of(page)
    assert url.startswith(reverse("jobs:list-changes") + "?since=")
    assert sorted(re.findall(r"id=([^&]+)", url)) == sorted(job.pk for job in live)


def test_a_list_with_nothing_live_has_no_poller(logged_in, user):
    running_jobs(user, 2, status=Status.COMPLETED, stage=Stage.DONE, progress=100)
    assert poller_of(logged_in.get(reverse("jobs:index")).content.decode()) is None


@pytest.mark.parametrize("n", [1, 20, 100])
def test_a_poll_costs_the_same_queries_whatever_the_number_of_cards(
    logged_in, user, n, django_assert_num_queries
):
    jobs = running_jobs(user, n)
    url = reverse("jobs:list-changes") + "?" + "&".join(f"id={job.pk}" for job in jobs)
    # The user, the cards' states, the changed cards whole.
    with django_assert_num_queries(session_queries() + 3):
        response = logged_in.get(url, headers=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('hx-swap-oob="outerHTML"') == n
    assert all(f'id="job-{job.pk}" hx-swap-oob="outerHTML"' in body for job in jobs)
    assert poller_of(body).count("id=") == n
    # Nothing moved since: the states alone answer, and no card is read.
    with django_assert_num_queries(session_queries() + 2):
        assert logged_in.get(poller_of(body), headers=HTMX).status_code == 204


def test_nothing_changed_answers_204_and_the_poller_keeps_its_cursor(logged_in, user):
    running_jobs(user, 2)
    url = poller_of(logged_in.get(reverse("jobs:index")).content.decode())
    response = logged_in.get(url, headers=HTMX)
    assert response.status_code == 204  # htmx swaps nothing and polls the same URL again
    assert response.content == b""


def test_a_changed_card_comes_out_of_band_with_a_poller_carrying_the_new_cursor(logged_in, user):
    first, second = running_jobs(user, 2)
    url = poller_of(logged_in.get(reverse("jobs:index")).content.decode())
    progress(second.pk, 42)
    response = logged_in.get(url, headers=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="job-{second.pk}" hx-swap-oob="outerHTML"' in body
    assert "42 %" in body
    assert f'id="job-{first.pk}"' not in body
    again = poller_of(body)
    assert again != url and f"id={first.pk}" in again and f"id={second.pk}" in again
    assert logged_in.get(again, headers=HTMX).status_code == 204


def test_a_waiting_card_renders_on_every_poll_as_its_place_comes_from_other_rows(logged_in, user):
    running_jobs(user, 1, status=Status.IDLE, stage=Stage.QUEUED, progress=0)
    url = poller_of(logged_in.get(reverse("jobs:index")).content.decode())
    response = logged_in.get(url, headers=HTMX)
    assert response.status_code == 200
    assert "number 1 in line" in response.content.decode()


def test_when_nothing_on_the_page_is_live_the_last_renders_come_with_286(logged_in, user):
    failing, completing, done = running_jobs(user, 3)
    url = poller_of(logged_in.get(reverse("jobs:index")).content.decode())
    services.job_fail(done.pk, message="Earlier")
    assert logged_in.get(url, headers=HTMX).status_code == 200
    services.job_fail(failing.pk, message="Veo said no")
    VideoCreationJob.objects.filter(pk=completing.pk).update(
        status=Status.COMPLETED, stage=Stage.DONE, progress=100
    )
    response = logged_in.get(url, headers=HTMX)
    assert response.status_code == 286
    body = response.content.decode()
    assert "Veo said no" in body
    assert f'<article class="job-card status-completed" id="job-{completing.pk}"' in body
    assert poller_of(body) is None and "hx-trigger" not in body


def test_someone_elses_ids_are_never_rendered(logged_in, user, other_user):
    (mine,) = running_jobs(user, 1)
    (theirs,) = running_jobs(other_user, 1, prompt_text="Their secret prompt")
    url = reverse("jobs:list-changes") + f"?id={mine.pk}&id={theirs.pk}"
    body = logged_in.get(url, headers=HTMX).content.decode()
    assert f'id="job-{mine.pk}"' in body
    assert theirs.pk not in body and "Their secret prompt" not in body
    alone = logged_in.get(reverse("jobs:list-changes") + f"?id={theirs.pk}", headers=HTMX)
    assert alone.status_code == 286  # nothing of this user's is live on that "page"
    assert theirs.pk not in alone.content.decode()


def test_a_cursor_that_is_no_date_is_refused(logged_in, user):
    (job,) = running_jobs(user, 1)
    url = reverse("jobs:list-changes") + f"?since=yesterday&id={job.pk}"
    assert logged_in.get(url, headers=HTMX).status_code == 400


def test_the_batch_summary_is_its_pages_one_poller_and_brings_the_changed_cards(logged_in, user):
    batch = Batch.objects.create(owner=user, label="Harbour")
    first, second = running_jobs(user, 2, batch=batch)
    page = logged_in.get(reverse("jobs:batch", args=[batch.pk])).content.decode()
    assert page.count("every 2s") == 1
    url = html.unescape(re.search(r'id="batch-summary"[^>]*hx-get="([^"]+)"', page).group(1))
    assert logged_in.get(url, headers=HTMX).status_code == 204  # nothing moved
    progress(first.pk, 42)
    changed = logged_in.get(url, headers=HTMX)
    assert changed.status_code == 200
    body = changed.content.decode()
    assert f'id="job-{first.pk}" hx-swap-oob="outerHTML"' in body and "42 %" in body
    assert f'id="job-{second.pk}"' not in body
    services.job_fail(second.pk, message="Veo said no")
    VideoCreationJob.objects.filter(pk=first.pk).update(status=Status.FAILED, stage=Stage.DONE)
    ended = logged_in.get(url, headers=HTMX)
    assert ended.status_code == 286
    assert "Veo said no" in ended.content.decode()


def test_a_batch_poll_answers_204_until_a_job_moves_comes_or_goes(logged_in, user):
    batch = Batch.objects.create(owner=user, label="Harbour")
    first, second = running_jobs(user, 2, batch=batch)
    page = logged_in.get(reverse("jobs:batch", args=[batch.pk])).content.decode()
    url = html.unescape(re.search(r'id="batch-summary"[^>]*hx-get="([^"]+)"', page).group(1))
    assert "&n=2" in url
    assert logged_in.get(url, headers=HTMX).status_code == 204
    assert logged_in.get(url.replace("&n=2", "&n=3"), headers=HTMX).status_code == 200
    progress(first.pk, 42)
    moved = logged_in.get(url, headers=HTMX)
    assert moved.status_code == 200 and "42 %" in moved.content.decode()
    # The answer's poller carries the new cursor: quiet again from there.
    again = html.unescape(
        re.search(r'id="batch-summary"[^>]*hx-get="([^"]+)"', moved.content.decode()).group(1)
    )
    assert logged_in.get(again, headers=HTMX).status_code == 204
    second.delete()
    gone = logged_in.get(again, headers=HTMX)
    assert gone.status_code == 200 and "&n=1" in html.unescape(gone.content.decode())
    # A waiting job renders whatever its row says: its place in line moves with others'.
    (waiting,) = running_jobs(user, 1, batch=batch, status=Status.IDLE, stage=Stage.QUEUED)
    VideoCreationJob.objects.filter(pk=waiting.pk).update(updated_at=first.created_at)
    assert logged_in.get(again, headers=HTMX).status_code == 200  # two jobs again, one waits
