"""Sharing with the team: a job or a batch its owner shares is every teammate's to see,
play and build on, and stays its owner's to act on; private work stays a 404."""

import io
import json
import zipfile

import pytest
from django.urls import reverse
from django.utils import timezone

from drafts.storyboards import services as boards
from drafts.storyboards.models import Take
from jobs.models import VideoCreationJob
from jobs.veo.emulator.media import render_mp4
from tests.factories import MODEL, api_client, make_batch, make_job

pytestmark = pytest.mark.django_db


def finished_job(owner, data_dir, text="Owner's heron", **fields):
    job = make_job(
        owner, prompt_text=text, status="completed", completed_at=timezone.now(), **fields
    )
    video = data_dir / "videos" / job.pk / "output.mp4"
    video.parent.mkdir(parents=True)
    render_mp4(video, prompt="x", width=160, height=90, seconds=1)
    VideoCreationJob.objects.filter(pk=job.pk).update(video_url=f"videos/{job.pk}/output.mp4")
    job.refresh_from_db()
    return job


def share(client, job, visibility="shared"):
    return client.post(reverse("jobs:share", args=[job.pk]), {"visibility": visibility})


def test_a_shared_job_is_the_teams_to_see_and_play_and_its_owners_to_act_on(
    client, user, other_user, data_dir
):
    job = finished_job(user, data_dir)
    detail = reverse("jobs:detail", args=[job.pk])
    client.force_login(other_user)
    assert client.get(detail).status_code == 404

    client.force_login(user)
    assert share(client, job).status_code == 302
    job.refresh_from_db()
    assert job.visibility == "shared"

    client.force_login(other_user)
    page = client.get(detail)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="job-owner">ana<' in html
    assert reverse("jobs:video", args=[job.pk]) in html
    # What only its owner may do is not offered, and refused when tried.
    assert reverse("jobs:delete", args=[job.pk]) not in html
    assert 'id="job-share"' not in html
    played = client.get(reverse("jobs:video", args=[job.pk]), headers={"range": "bytes=0-99"})
    assert played.status_code == 206
    assert client.post(reverse("jobs:delete", args=[job.pk])).status_code == 403
    assert share(client, job, "private").status_code == 403
    job.refresh_from_db()
    assert job.visibility == "shared"

    client.force_login(user)
    assert 'id="job-share"' in client.get(detail).content.decode()
    share(client, job, "private")
    client.force_login(other_user)
    assert client.get(detail).status_code == 404
    assert client.get(reverse("jobs:video", args=[job.pk])).status_code == 404


def test_a_visibility_that_is_not_one_changes_nothing_and_says_so(logged_in, user, data_dir):
    job = finished_job(user, data_dir)
    response = share(logged_in, job, "public")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.visibility == "private"
    page = logged_in.get(response["Location"]).content.decode()
    assert "Choose private or shared." in page


def test_a_shared_batch_shares_every_job_in_it_and_its_zip(client, user, other_user, data_dir):
    batch = make_batch(user, "Owner's batch")
    first = finished_job(user, data_dir, "First of the batch", batch=batch)
    second = finished_job(user, data_dir, "Second of the batch", batch=batch)
    loner = finished_job(user, data_dir, "Not in the batch")
    client.force_login(user)
    response = client.post(reverse("jobs:batch-share", args=[batch.pk]), {"visibility": "shared"})
    assert response.status_code == 302

    client.force_login(other_user)
    page = client.get(reverse("jobs:batch", args=[batch.pk])).content.decode()
    assert f'id="job-{first.pk}"' in page and f'id="job-{second.pk}"' in page
    assert 'id="batch-share"' not in page
    assert client.get(reverse("jobs:detail", args=[first.pk])).status_code == 200
    assert client.get(reverse("jobs:detail", args=[loner.pk])).status_code == 404
    archive = client.get(reverse("jobs:batch-zip", args=[batch.pk]))
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as zipped:
        assert len(zipped.namelist()) == 2
    assert client.post(reverse("jobs:batch-cancel", args=[batch.pk])).status_code == 403

    client.force_login(user)
    client.post(reverse("jobs:batch-share", args=[batch.pk]), {"visibility": "private"})
    client.force_login(other_user)
    assert client.get(reverse("jobs:detail", args=[first.pk])).status_code == 404


def test_a_teammate_extends_a_shared_video_as_a_job_of_their_own(
    client, user, other_user, data_dir
):
    job = finished_job(user, data_dir, visibility="shared")
    client.force_login(other_user)
    response = client.post(reverse("jobs:extend", args=[job.pk]), {"prompt_text": "Then it lands"})
    assert response.status_code == 302
    child = VideoCreationJob.objects.get(parent=job)
    assert child.owner == other_user
    assert response["Location"] == child.get_absolute_url()


def test_a_shared_storyboards_takes_are_the_teams_to_see(client, user, other_user, data_dir):
    job = finished_job(user, data_dir, "A take")
    board = boards.storyboard_create(owner=user, name="Board", model=MODEL)
    shot = boards.shot_add(storyboard=board, author=user, prompt="A shot", duration_seconds=4)
    Take.objects.create(shot=shot, job=job, number=1)
    client.force_login(other_user)
    assert client.get(reverse("jobs:detail", args=[job.pk])).status_code == 404
    board.visibility = "shared"
    board.save(update_fields=["visibility"])
    assert client.get(reverse("jobs:detail", args=[job.pk])).status_code == 200


def test_the_api_shares_a_job_and_a_batch_and_keeps_acting_the_owners(user, other_user, data_dir):
    batch = make_batch(user, "Scripted batch")
    job = finished_job(user, data_dir, batch=batch)
    owner, teammate = api_client(user), api_client(other_user)
    url = reverse("api:job", args=[job.pk])
    assert teammate.get(url).status_code == 404

    refused = owner.patch(url, {"visibility": "public"}, content_type="application/json")
    assert refused.status_code == 400
    assert "visibility" in refused.json()["fields"]
    shared = owner.patch(url, {"visibility": "shared"}, content_type="application/json")
    assert shared.status_code == 200
    assert shared.json()["data"]["visibility"] == "shared"

    seen = teammate.get(url)
    assert seen.status_code == 200
    assert seen.json()["data"]["owner"] == "ana"
    body = json.dumps({"visibility": "private"})
    assert teammate.patch(url, body, content_type="application/json").status_code == 403
    assert teammate.delete(url).status_code == 403
    assert VideoCreationJob.objects.filter(pk=job.pk, visibility="shared").exists()
    # A teammate's job may start from it.
    created = teammate.post(
        reverse("api:jobs"),
        {"promptText": "Then it lands", "task": "extend", "parentId": job.pk},
        content_type="application/json",
    )
    assert created.status_code == 201, created.json()

    batch_url = reverse("api:batch", args=[batch.pk])
    assert teammate.get(batch_url).status_code == 404
    answer = owner.patch(batch_url, {"visibility": "shared"}, content_type="application/json")
    assert answer.status_code == 200
    assert answer.json()["data"]["visibility"] == "shared"
    assert teammate.get(batch_url).json()["data"]["jobIds"] == [job.pk]
