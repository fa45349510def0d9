"""Batches can be found again, and a job says where it came from."""

import pytest
from django.core import mail
from django.urls import reverse

from drafts import services as draft_services
from jobs import services
from tests.factories import JOB_OPTIONS, MODEL, make_batch, make_job

pytestmark = pytest.mark.django_db


def batch_of(owner, label, *statuses, draft_version=None):
    batch = make_batch(owner, label, draft_version=draft_version)
    for status in statuses:
        make_job(
            owner,
            batch=batch,
            prompt_text="A boat",
            status=status,
            draft=draft_version.draft if draft_version else None,
            draft_version=draft_version,
        )
    return batch


@pytest.fixture
def draft(user):
    return draft_services.draft_save(
        author=user, name="Harbour", prompts=["Boats at dawn", "Gulls at noon"]
    )


@pytest.fixture
def run(user, draft, django_capture_on_commit_callbacks):
    """A real batch run of the draft's two prompts."""
    version = draft.versions.get()
    plan = draft_services.plan_batch(
        version=version,
        prompt_ids=[p["id"] for p in version.prompts],
        options={"model": MODEL, **JOB_OPTIONS},
    )
    with django_capture_on_commit_callbacks():
        return draft_services.draft_run(user=user, draft=draft, version=version, plan=plan)


# --- The batch list ---------------------------------------------------------------------------


def test_batch_list_shows_my_batches_newest_first_with_their_counts(logged_in, user, other_user):
    batch_of(user, "Old run", "completed", "failed")
    batch_of(user, "New run", "completed", "processing", "idle")
    batch_of(other_user, "Bo's run", "completed")
    page = logged_in.get(reverse("jobs:batches")).content.decode()
    assert page.index("New run") < page.index("Old run")
    assert "Bo&#x27;s run" not in page and "Bo's run" not in page
    newest = page[page.index("New run") : page.index("Old run")]
    assert "3 jobs" in newest and "1 completed" in newest and "2 running or queued" in newest


def test_staff_without_the_permission_see_only_their_own(client, staff_user, user):
    batch_of(user, "Ana's run", "completed")
    client.force_login(staff_user)
    assert "Ana" not in client.get(reverse("jobs:batches")).content.decode()


def test_everyone_s_batches_with_the_view_all_permission(client, superuser, user):
    batch_of(user, "Ana's run", "completed")
    client.force_login(superuser)
    page = client.get(reverse("jobs:batches"), {"whose": "all"}).content.decode()
    assert "Ana&#x27;s run" in page and "ana" in page


def test_batch_list_pages_with_constant_queries(
    logged_in, user, draft, django_assert_max_num_queries
):
    version = draft.versions.get()
    for n in range(25):
        batch_of(user, f"Run {n:02d}", "completed", "failed", draft_version=version)
    with django_assert_max_num_queries(6):
        first = logged_in.get(reverse("jobs:batches"))
    page = first.content.decode()
    assert "Run 24" in page and "Run 05" in page and "Run 04" not in page
    assert "?page=2" in page
    with django_assert_max_num_queries(6):
        second = logged_in.get(reverse("jobs:batches"), {"page": 2}).content.decode()
    assert "Run 04" in second and "Run 05" not in second


def test_the_nav_links_to_the_batch_list(logged_in):
    assert (
        f'href="{reverse("jobs:batches")}"' in logged_in.get(reverse("jobs:index")).content.decode()
    )


# --- Links to a batch -------------------------------------------------------------------------


def test_job_page_links_to_its_batch_draft_version_and_prompt(logged_in, run, draft):
    job = run.jobs.order_by("created_at").first()
    page = logged_in.get(job.get_absolute_url()).content.decode()
    assert f'href="{run.get_absolute_url()}"' in page
    assert f'href="{draft.get_absolute_url()}"' in page
    assert "Harbour" in page and "v1" in page
    assert "prompt 1 of 2" in page


def test_job_page_links_to_the_job_it_retries(logged_in, user):
    failed = make_job(user, prompt_text="x", status="failed")
    retry = services.job_retry(job=failed, owner=user)
    page = logged_in.get(retry.get_absolute_url()).content.decode()
    assert f'href="{failed.get_absolute_url()}"' in page


def test_draft_page_lists_the_batches_it_ran(logged_in, run, draft):
    page = logged_in.get(draft.get_absolute_url()).content.decode()
    assert f'href="{run.get_absolute_url()}"' in page
    assert run.label in page


def test_batch_finished_email_links_to_the_batch(
    user, settings, django_capture_on_commit_callbacks
):
    settings.STUDIO_URL = "https://studio.example.com"
    user.email = "ana@example.com"
    user.save()
    batch = make_batch(user, "Night run", notify_by_email=True)
    job = make_job(user, batch=batch, prompt_text="x", status="processing")
    with django_capture_on_commit_callbacks(execute=True):
        services.job_fail(job.pk, message="Boom")
    assert len(mail.outbox) == 1
    assert f"https://studio.example.com{batch.get_absolute_url()}" in mail.outbox[0].body


# --- Admin and API ----------------------------------------------------------------------------


def test_batches_are_in_the_admin(client, superuser, run):
    client.force_login(superuser)
    listing = client.get(reverse("admin:jobs_batch_changelist"), {"q": "Harbour"})
    assert listing.status_code == 200
    assert run.label in listing.content.decode()
    change = client.get(reverse("admin:jobs_batch_change", args=[run.pk]))
    assert change.status_code == 200
    assert run.jobs.first().prompt_text in change.content.decode()


def test_api_job_says_where_it_came_from(logged_in, run, draft):
    job = run.jobs.order_by("created_at").first()
    version = draft.versions.get()
    data = logged_in.get(f"/api/video-creation/jobs/{job.pk}").json()["data"]
    assert data["origin"] == {
        "draftId": draft.pk,
        "draftVersionId": version.pk,
        "draftVersion": 1,
        "promptId": version.prompts[0]["id"],
        "batchId": run.pk,
        "retryOf": None,
    }
    listed = logged_in.get("/api/video-creation/jobs").json()["data"]
    assert {j["origin"]["batchId"] for j in listed} == {run.pk}
