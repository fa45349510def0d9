"""Who sees whose work: one's own, or everyone's only with the view_all_jobs permission."""

import io
import zipfile

import pytest
from django.urls import reverse
from django.utils import timezone

from drafts import services as draft_services
from jobs import services
from jobs.models import VideoCreationJob
from jobs.veo.emulator.media import render_mp4
from tests.factories import make_batch, make_job

pytestmark = pytest.mark.django_db


def finished_job(owner, data_dir, batch, text):
    job = make_job(
        owner, prompt_text=text, status="completed", completed_at=timezone.now(), batch=batch
    )
    video = data_dir / "videos" / job.pk / "output.mp4"
    video.parent.mkdir(parents=True)
    render_mp4(video, prompt="x", width=160, height=90, seconds=1)
    VideoCreationJob.objects.filter(pk=job.pk).update(video_url=f"videos/{job.pk}/output.mp4")
    return job


@pytest.fixture
def owners_work(user):
    batch = make_batch(user, "Owner's batch")
    failed = make_job(
        user, prompt_text="Owner's failed job", status="failed", error="Boom", batch=batch
    )
    private = draft_services.draft_save(author=user, name="Owner's private draft", prompts=["a"])
    return {"batch": batch, "failed": failed, "private": private}


def test_staff_alone_no_longer_sees_anyone_elses_work(client, staff_user, owners_work):
    client.force_login(staff_user)
    failed, batch = owners_work["failed"], owners_work["batch"]
    assert client.get(reverse("jobs:detail", args=[failed.pk])).status_code == 404
    assert client.get(reverse("jobs:batch", args=[batch.pk])).status_code == 404
    assert client.get(reverse("api:job", args=[failed.pk])).status_code == 404
    assert client.get(reverse("api:batch", args=[batch.pk])).status_code == 404
    assert f'id="job-{failed.pk}"' not in client.get(reverse("jobs:index")).content.decode()
    assert failed.pk not in client.get(reverse("api:jobs")).content.decode()
    assert client.get(reverse("jobs:usage") + "?scope=team").status_code == 403
    draft = owners_work["private"]
    assert client.get(reverse("drafts:detail", args=[draft.pk])).status_code == 404


def test_the_view_all_jobs_permission_shows_everyones_work(client, manager, owners_work):
    client.force_login(manager)
    failed, batch = owners_work["failed"], owners_work["batch"]
    assert client.get(reverse("jobs:detail", args=[failed.pk])).status_code == 200
    assert client.get(reverse("jobs:batch", args=[batch.pk])).status_code == 200
    assert client.get(reverse("api:job", args=[failed.pk])).status_code == 200
    assert client.get(reverse("api:batch", args=[batch.pk])).status_code == 200
    assert f'id="job-{failed.pk}"' in client.get(reverse("jobs:index")).content.decode()
    assert client.get(reverse("jobs:usage") + "?scope=team").status_code == 200


@pytest.mark.parametrize("via", ["page", "api"])
def test_a_retry_by_someone_else_never_joins_the_owners_batch(
    client, manager, user, owners_work, via
):
    client.force_login(manager)
    failed, batch = owners_work["failed"], owners_work["batch"]
    before = services.batch_summary(batch)
    url = reverse("jobs:retry" if via == "page" else "api:retry", args=[failed.pk])
    assert client.post(url).status_code in (201, 302)
    retry = VideoCreationJob.objects.get(retry_of=failed)
    assert retry.owner == manager
    assert retry.batch_id is None
    assert list(batch.jobs.values_list("owner", flat=True).distinct()) == [user.pk]
    assert services.batch_summary(batch) == before  # the owner's failure still counts


def test_the_owners_own_retry_stays_in_the_batch(logged_in, owners_work):
    failed, batch = owners_work["failed"], owners_work["batch"]
    logged_in.post(reverse("jobs:retry", args=[failed.pk]))
    assert VideoCreationJob.objects.get(retry_of=failed).batch_id == batch.pk


@pytest.fixture
def mixed_batch(user, other_user, data_dir):
    """A batch of the owner's that also holds a teammate's job (as an old staff retry did)."""
    batch = make_batch(user, "Mixed")
    mine = finished_job(user, data_dir, batch, "Owner's video")
    theirs = finished_job(other_user, data_dir, batch, "Teammate's video")
    return batch, mine, theirs


def test_a_batch_page_lists_only_jobs_the_viewer_may_see(logged_in, mixed_batch):
    batch, _mine, theirs = mixed_batch
    page = logged_in.get(reverse("jobs:batch", args=[batch.pk])).content.decode()
    assert "Owner&#x27;s video" in page
    assert "Teammate" not in page and theirs.pk not in page


def test_a_batch_summary_counts_only_jobs_the_viewer_may_see(logged_in, user, mixed_batch):
    batch, mine, _theirs = mixed_batch
    assert services.batch_summary(batch, viewer=user)["total"] == 1
    body = logged_in.get(reverse("api:batch", args=[batch.pk])).json()["data"]
    assert body["jobIds"] == [mine.pk]
    assert body["counts"]["total"] == 1


def test_a_batch_zip_holds_only_videos_the_viewer_may_see(logged_in, mixed_batch):
    batch = mixed_batch[0]
    response = logged_in.get(reverse("jobs:batch-zip", args=[batch.pk]))
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert len(names) == 1 and "Owner" in names[0]


def test_batch_actions_touch_only_jobs_the_viewer_may_see(logged_in, user, other_user):
    batch = make_batch(user, "Mixed, running")
    mine = make_job(user, batch=batch, status="processing", stage="generating")
    theirs = make_job(other_user, batch=batch, status="processing", stage="generating")
    logged_in.post(reverse("jobs:batch-cancel", args=[batch.pk]))
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == "failed"
    assert theirs.status == "processing"


# --- One rule per app: pages, API and ZIP agree for every kind of viewer -------------------

# The viewer, and whether the one rule lets them see the owner's ("ana") work.
VIEWERS = [("owner", True), ("other user", False), ("staff alone", False), ("manager", True)]


@pytest.mark.parametrize(("viewer", "sees"), VIEWERS)
def test_a_batch_is_seen_through_its_page_the_api_and_the_zip_alike(
    client, viewers, user, data_dir, viewer, sees
):
    batch = make_batch(user, "Owner's batch")
    finished_job(user, data_dir, batch, "Owner's video")
    client.force_login(viewers[viewer])
    statuses = {
        "page": client.get(reverse("jobs:batch", args=[batch.pk])).status_code,
        "api": client.get(reverse("api:batch", args=[batch.pk])).status_code,
        "zip": client.get(reverse("jobs:batch-zip", args=[batch.pk])).status_code,
        "retry": client.post(reverse("jobs:batch-retry", args=[batch.pk])).status_code,
        "cancel": client.post(reverse("jobs:batch-cancel", args=[batch.pk])).status_code,
    }
    found, acted = (200, 302) if sees else (404, 404)
    assert statuses == {"page": found, "api": found, "zip": found, "retry": acted, "cancel": acted}


@pytest.mark.parametrize(("viewer", "sees"), VIEWERS)
def test_a_job_is_seen_through_its_pages_the_api_and_its_files_alike(
    client, viewers, user, data_dir, viewer, sees
):
    job = finished_job(user, data_dir, None, "Owner's video")
    client.force_login(viewers[viewer])
    reads = {
        "page": reverse("jobs:detail", args=[job.pk]),
        "video": reverse("jobs:video", args=[job.pk]),
        "api": reverse("api:job", args=[job.pk]),
        "api video": reverse("api:video", args=[job.pk]),
    }
    statuses = {name: client.get(path).status_code for name, path in reads.items()}
    found = 200 if sees else 404
    assert statuses == dict.fromkeys(reads, found)
    listed = job.pk in client.get(reverse("api:jobs")).content.decode()
    assert listed == sees
    changes = client.get(reverse("jobs:list-changes"), {"id": job.pk}).content.decode()
    assert (f'id="job-{job.pk}"' in changes) == sees
