"""Toasts for jobs and batches that end while the person is elsewhere in the studio."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_batch, make_job

pytestmark = pytest.mark.django_db


def ended(owner, minutes_ago, **fields):
    fields = {"status": "completed", "prompt_text": "A heron", **fields}
    return make_job(owner, completed_at=timezone.now() - timedelta(minutes=minutes_ago), **fields)


def poll(client, since):
    return client.get(reverse("jobs:notices"), {"since": since.isoformat()}).content.decode()


def test_each_ended_job_is_announced_once(logged_in, user, other_user):
    since = timezone.now() - timedelta(minutes=5)
    ended(user, 10, prompt_text="Too old")
    ended(user, 1, prompt_text="Fresh success")
    ended(user, 1, prompt_text="Fresh failure", status="failed", error="Boom")
    ended(
        user,
        1,
        prompt_text="Cancelled",
        status="failed",
        error="Cancelled by user",
        cancelled_at=timezone.now(),
    )
    ended(other_user, 1, prompt_text="Not mine")
    page = poll(logged_in, since)
    assert "Video ready:" in page and "Fresh success" in page
    assert "Video failed:" in page and "Fresh failure" in page
    for absent in ("Too old", "Cancelled", "Not mine"):
        assert absent not in page
    # The response carries the next poller, whose `since` is past these jobs.
    next_since = page.split("since=", 1)[1].split('"', 1)[0]
    later = logged_in.get(reverse("jobs:notices") + "?since=" + next_since).content.decode()
    assert "Fresh success" not in later
    assert 'id="notice-poller" hx-swap-oob="true"' in later


def test_a_finished_batch_gets_one_toast_instead_of_one_per_job(logged_in, user):
    since = timezone.now() - timedelta(minutes=5)
    batch = make_batch(user, "Harbour v2 · 2 jobs")
    ended(user, 1, batch=batch, prompt_text="First of batch")
    ended(user, 1, batch=batch, prompt_text="Second of batch", status="failed", error="x")
    page = poll(logged_in, since)
    assert "Batch finished:" in page and "Harbour v2 · 2 jobs" in page
    assert "1 completed, 1 failed" in page
    assert "First of batch" not in page


def test_a_batch_still_running_is_not_announced(logged_in, user):
    since = timezone.now() - timedelta(minutes=5)
    batch = make_batch(user, "Still going")
    ended(user, 1, batch=batch)
    make_job(user, prompt_text="x", batch=batch, status="processing")
    assert "Still going" not in poll(logged_in, since)


def test_every_studio_page_polls_for_notices(logged_in):
    page = logged_in.get(reverse("jobs:index")).content.decode()
    assert 'id="notice-poller"' in page and 'hx-trigger="every 10s"' in page
    assert "js/notices.js" in page
