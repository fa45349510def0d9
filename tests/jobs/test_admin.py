"""Ops read jobs and resources in the admin; state stays the pipeline's to write."""

import pytest
from django.urls import reverse

from jobs.models import VideoCreationJob
from tests.factories import JOB_OPTIONS, MODEL, Stage, Status, make_job, make_resource

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(user):
    job = make_job(
        user,
        prompt_text="A whale breaching at sunset",
        options={**JOB_OPTIONS, "duration_seconds": 8},
        status=Status.PROCESSING,
        operation_name=f"models/{MODEL}/operations/abc",
    )
    make_resource(job)
    return job


def test_job_list_filters_and_searches(admin_client, job, django_assert_max_num_queries):
    url = reverse("admin:jobs_videocreationjob_changelist")
    assert job.pk in admin_client.get(url, {"status__exact": "processing"}).content.decode()
    assert job.pk not in admin_client.get(url, {"status__exact": "completed"}).content.decode()
    assert job.pk in admin_client.get(url, {"q": "whale"}).content.decode()
    assert job.pk not in admin_client.get(url, {"q": "octopus"}).content.decode()
    with django_assert_max_num_queries(12):
        assert admin_client.get(url, {"model": job.model}).status_code == 200


def test_job_page_shows_resources_inline_and_provider_fields_read_only(admin_client, job):
    response = admin_client.get(reverse("admin:jobs_videocreationjob_change", args=[job.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "poster.jpg" in page
    assert job.operation_name in page
    assert 'name="operation_name"' not in page
    assert 'name="status"' not in page


def test_cancel_action_uses_the_service(admin_client, job):
    admin_client.post(
        reverse("admin:jobs_videocreationjob_changelist"),
        {"action": "cancel_jobs", "_selected_action": [job.pk]},
    )
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "Cancelled by user")
    assert job.is_cancelled
    page = admin_client.get(reverse("admin:jobs_videocreationjob_change", args=[job.pk]))
    assert "Cancelled at" in page.content.decode()


def test_drafts_show_their_owner(admin_client, user):
    from drafts.models import Draft

    Draft.objects.create(owner=user, name="Launch teasers", prompts=[{"id": "1", "text": "a"}])
    page = admin_client.get(reverse("admin:drafts_draft_changelist")).content.decode()
    assert "Launch teasers" in page
    assert "ana" in page


def test_job_list_shows_the_usage_pages_totals_for_what_it_filters(admin_client, user):
    from decimal import Decimal

    for model, actual, estimate, seconds in [
        ("veo-3.1-fast-generate-preview", "0.40", "0.40", 4),
        ("veo-3.1-generate-preview", "3.20", "3.20", 8),
        ("veo-3.1-fast-generate-preview", None, "0.40", None),
    ]:
        make_job(
            user,
            prompt_text="x",
            model=model,
            status="completed" if actual else "failed",
            estimated_cost_usd=Decimal(estimate),
            actual_cost_usd=Decimal(actual) if actual else None,
            billed_seconds=seconds,
        )
    url = reverse("admin:jobs_videocreationjob_changelist")
    page = admin_client.get(url).content.decode()
    totals = page[page.index('<dl class="usage-totals">') :]
    assert "<dt>Billed</dt><dd>$3.60</dd>" in totals
    assert "<dt>May have been billed</dt><dd>$0.40</dd>" in totals
    assert "<dt>Seconds of video</dt><dd>12</dd>" in totals
    assert "<td>ana</td><td>3</td><td>12</td><td>$3.60</td>" in totals
    assert "<td>veo-3.1-generate-preview</td><td>1</td><td>8</td><td>$3.20</td>" in totals
    filtered = admin_client.get(url, {"model": "veo-3.1-generate-preview"}).content.decode()
    assert "<dt>Billed</dt><dd>$3.20</dd>" in filtered


def _finished_job_with_files(user, data_dir):
    done = make_job(
        user,
        prompt_text="A finished fox",
        options={**JOB_OPTIONS, "duration_seconds": 8},
        status=Status.COMPLETED,
        stage=Stage.DONE,
    )
    directory = data_dir / "videos" / done.pk
    directory.mkdir(parents=True)
    (directory / "output.mp4").write_bytes(b"video")
    return done, directory


def test_admin_delete_goes_through_the_service_and_removes_the_files(
    admin_client, user, data_dir, django_capture_on_commit_callbacks
):
    done, directory = _finished_job_with_files(user, data_dir)
    url = reverse("admin:jobs_videocreationjob_delete", args=[done.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not VideoCreationJob.objects.filter(pk=done.pk).exists()
    assert not directory.exists()


def test_admin_refuses_to_delete_a_running_job(admin_client, job, data_dir):
    directory = data_dir / "videos" / job.pk
    directory.mkdir(parents=True)
    url = reverse("admin:jobs_videocreationjob_delete", args=[job.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert VideoCreationJob.objects.filter(pk=job.pk, status="processing").exists()
    assert directory.exists()


def test_admin_bulk_delete_removes_files_and_spares_running_jobs(
    admin_client, job, user, data_dir, django_capture_on_commit_callbacks
):
    done, directory = _finished_job_with_files(user, data_dir)
    changelist = reverse("admin:jobs_videocreationjob_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            changelist,
            {"action": "delete_selected", "_selected_action": [job.pk, done.pk], "post": "yes"},
        )
    assert VideoCreationJob.objects.filter(pk=job.pk).exists()  # running: refused whole
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            changelist,
            {"action": "delete_selected", "_selected_action": [done.pk], "post": "yes"},
        )
    assert not VideoCreationJob.objects.filter(pk=done.pk).exists()
    assert not directory.exists()
