"""Ops read jobs and resources in the admin; state stays the pipeline's to write."""

import pytest
from django.urls import reverse

from jobs.models import VideoCreationJob, VideoResource

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(
        django_user_model.objects.create_superuser("root", password="pw-long-enough")
    )
    return client


@pytest.fixture
def job(user):
    job = VideoCreationJob.objects.create(
        owner=user,
        prompt_text="A whale breaching at sunset",
        model="veo-3.1-fast-generate-preview",
        options={"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 8},
        status=VideoCreationJob.Status.PROCESSING,
        operation_name="models/veo-3.1-fast-generate-preview/operations/abc",
    )
    VideoResource.objects.create(job=job, type="image", url="/x", filename="poster.jpg")
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


def test_drafts_show_their_owner(admin_client, user):
    from drafts.models import Draft

    Draft.objects.create(owner=user, name="Launch teasers", prompts=[{"id": "1", "text": "a"}])
    page = admin_client.get(reverse("admin:drafts_draft_changelist")).content.decode()
    assert "Launch teasers" in page
    assert "ana" in page
