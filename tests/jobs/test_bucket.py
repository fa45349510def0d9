"""Media in an S3-compatible bucket (MEDIA_STORAGE=s3): jobs, serving, ZIPs, deletes, sweeps.

The bucket is moto's S3 server on loopback (the real S3 wire), the videos come from the
emulator over HTTP, and the pipeline runs as a worker runs it. Nothing may be read from
or left in the data dir but the scratch folder, empty.
"""

import io
import os
import subprocess
import sys
import zipfile
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from jobs import pipeline, services, storage
from jobs.checks import bucket_problem
from jobs.media import probe
from jobs.models import VideoCreationJob
from tests.conftest import run_due_jobs
from tests.factories import JOB_OPTIONS, MODEL, make_batch

pytestmark = pytest.mark.django_db

COMPLETED = VideoCreationJob.Status.COMPLETED
FAILED = VideoCreationJob.Status.FAILED


def run_job(user, capture, prompt, options=JOB_OPTIONS, **extra):
    with capture(execute=True):
        job = services.job_create(
            owner=user, prompt_text=prompt, model=MODEL, options=options, **extra
        )
    run_due_jobs()
    job.refresh_from_db()
    return job


@pytest.fixture
def finished(veo, bucket, user, django_capture_on_commit_callbacks):
    return run_job(user, django_capture_on_commit_callbacks, "A lighthouse in the bucket")


def local_files(data_dir):
    return sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file())


def test_a_job_lands_in_the_bucket_and_nothing_stays_on_local_disk(finished, bucket, data_dir):
    assert finished.status == COMPLETED, finished.error
    folder = f"videos/{finished.pk}"
    assert bucket.names() == [
        f"{folder}/metadata.json",
        f"{folder}/output.mp4",
        f"{folder}/resources/audio/audio.m4a",
        f"{folder}/resources/images/poster.jpg",
    ]
    assert finished.video_url == f"{folder}/output.mp4"
    video = data_dir.parent / "from-bucket.mp4"
    video.write_bytes(bucket.read(finished.video_url))
    assert probe(video).duration > 0
    assert b'"status": "completed"' in bucket.read(f"{folder}/metadata.json")
    assert local_files(data_dir) == []  # the scratch folder holds nothing once done


def test_the_video_redirects_to_a_presigned_url_that_seeks(finished, bucket, client, user):
    client.force_login(user)
    response = client.get(f"/jobs/{finished.pk}/video/")
    assert response.status_code == 302
    location = response["Location"]
    assert urlsplit(location).netloc == urlsplit(bucket.endpoint).netloc
    assert "X-Amz-Expires=300" in location
    assert response["Cache-Control"] == "private, no-store"
    whole = bucket.read(finished.video_url)
    seek = requests.get(location, headers={"Range": "bytes=100-199"}, timeout=10)
    assert seek.status_code == 206
    assert seek.content == whole[100:200]
    assert seek.headers["Content-Type"] == "video/mp4"
    assert seek.headers["Content-Disposition"] == "inline; filename*=UTF-8''output.mp4"


def test_someone_else_gets_no_url_at_all(finished, client, other_user):
    client.force_login(other_user)
    assert client.get(f"/jobs/{finished.pk}/video/").status_code == 404


def csp_sources(**env):
    """Return the settings' media-src and img-src as a process started with env sees them."""
    code = (
        "from django.conf import settings; c = settings.SECURE_CSP; "
        "print(' '.join(c['media-src'])); print(' '.join(c['img-src']))"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "videostudio.settings", **env}
    done = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")[:2]


@pytest.mark.parametrize(
    ("env", "origin"),
    [
        (
            {"S3_ENDPOINT_URL": "http://minio:9000/", "S3_ADDRESSING_STYLE": "path"},
            "http://minio:9000",
        ),
        (
            {"S3_ENDPOINT_URL": "https://r2.example.com", "S3_ADDRESSING_STYLE": "virtual"},
            "https://clips.r2.example.com",
        ),
        ({"S3_REGION": "eu-west-1"}, "https://clips.s3.eu-west-1.amazonaws.com"),
        ({"S3_MEDIA_ORIGIN": "https://cdn.example.com"}, "https://cdn.example.com"),
    ],
)
def test_the_pages_let_browsers_fetch_media_from_the_bucket(env, origin):
    media, images = csp_sources(MEDIA_STORAGE="s3", S3_BUCKET="clips", **env)
    assert media.split() == ["'self'", origin]
    assert images.split() == ["'self'", "data:", origin]
    media, _ = csp_sources(MEDIA_STORAGE="s3", S3_BUCKET="clips", S3_PROXY="true", **env)
    assert media.split() == ["'self'"]  # proxied: the browser never meets the bucket


def test_a_proxied_bucket_is_streamed_with_range(finished, bucket, client, user, settings):
    settings.S3_PROXY = True
    client.force_login(user)
    whole = bucket.read(finished.video_url)
    response = client.get(f"/jobs/{finished.pk}/video/", headers={"Range": "bytes=10-"})
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 10-{len(whole) - 1}/{len(whole)}"
    assert b"".join(response.streaming_content) == whole[10:]
    response = client.get(f"/jobs/{finished.pk}/video/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == whole
    response = client.get(f"/jobs/{finished.pk}/video/", headers={"Range": f"bytes={len(whole)}-"})
    assert response.status_code == 416


def test_the_batch_zip_streams_the_objects(
    veo, bucket, user, client, django_capture_on_commit_callbacks
):
    batch = make_batch(user)
    jobs = [
        run_job(user, django_capture_on_commit_callbacks, f"Take {n}", batch=batch) for n in (1, 2)
    ]
    client.force_login(user)
    response = client.get(f"/batches/{batch.pk}/videos.zip")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert [info.filename for info in archive.infolist()] == ["001-Take-1.mp4", "002-Take-2.mp4"]
    assert archive.read("002-Take-2.mp4") == bucket.read(jobs[1].video_url)


def test_deleting_jobs_leaves_nothing_in_the_bucket(
    finished, bucket, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.job_delete(job=finished)
    assert bucket.names() == []


def test_readyz_asks_the_bucket(bucket, settings, client):
    from jobs.health.models import ClusterHeartbeat

    ClusterHeartbeat.objects.create(host="worker-1", pid=1)
    assert client.get("/readyz").json()["checks"]["storage"] == "ok"
    settings.S3_ENDPOINT_URL = "http://127.0.0.1:9"
    settings.STORAGES = {**settings.STORAGES}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == "unreachable"


def test_the_sweep_deletes_orphans_and_aborts_abandoned_uploads(finished, bucket):
    orphan = f"{bucket.prefix}/videos/gone-job/output.mp4"
    bucket.client.put_object(Bucket=bucket.name, Key=orphan, Body=b"left by a killed worker")
    upload = bucket.client.create_multipart_upload(
        Bucket=bucket.name, Key=f"{bucket.prefix}/videos/{finished.pk}/output.mp4"
    )
    # moto dates every multipart upload 2010-11-10: younger than 30 years, older than a day.
    assert storage.remove_temp_files(finished.pk, older_than=timedelta(days=30 * 365)) == 1
    assert storage.delete_orphan_dirs(known={finished.pk}, older_than=timedelta(0)) == 1
    assert storage.remove_temp_files(finished.pk, older_than=timedelta(days=1)) == 0
    uploads = bucket.client.list_multipart_uploads(Bucket=bucket.name).get("Uploads", [])
    assert upload["UploadId"] not in [u["UploadId"] for u in uploads]
    assert "videos/gone-job/output.mp4" not in bucket.names()
    assert f"videos/{finished.pk}/output.mp4" in bucket.names()


def test_a_storage_outage_fails_the_job_with_a_sentence_after_retries(
    veo, bucket, user, settings, django_capture_on_commit_callbacks, caplog
):
    settings.S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.VEO_RETRY_BASE_SECONDS = 0
    settings.STORAGES = {**settings.STORAGES}  # a new storage object, with the new endpoint
    job = run_job(user, django_capture_on_commit_callbacks, "A bucket that is not there")
    assert job.status == FAILED
    assert job.error == (
        f"{storage.STORAGE_TROUBLE} The studio tried {pipeline.DOWNLOAD_ATTEMPTS} times; "
        "retry the job later."
    )
    assert "127.0.0.1" not in job.error


def test_check_names_the_setting_that_keeps_the_bucket_away(bucket, settings):
    assert bucket_problem() is None
    settings.S3_BUCKET = "no-such-bucket"
    settings.STORAGES = {**settings.STORAGES}
    assert bucket_problem() == "The bucket 'no-such-bucket' does not exist: check S3_BUCKET."
    with pytest.raises(SystemCheckError, match="check S3_BUCKET"):
        call_command("check")
    settings.S3_ENDPOINT_URL = "http://127.0.0.1:9"
    settings.STORAGES = {**settings.STORAGES}
    assert bucket_problem() == (
        "The bucket's endpoint http://127.0.0.1:9 does not answer: check S3_ENDPOINT_URL."
    )


def test_a_frame_upload_is_stored_and_read_back_from_the_bucket(bucket, user):
    from tests.jobs.test_tasks import frame

    image = frame("red")
    job = services.job_create(
        owner=user, prompt_text="From a frame", model=MODEL, options=JOB_OPTIONS, image=image
    )
    (resource,) = job.resources.all()
    assert storage.read_bytes(resource.file_path) == image.data
    assert f"videos/{job.pk}/resources/images/first-frame.{image.extension}" in bucket.names()


def test_the_api_answers_the_same_redirect_to_a_script(finished, bucket, api):
    response = api.get(f"/api/video-creation/jobs/{finished.pk}/video")
    assert response.status_code == 302
    seek = requests.get(response["Location"], headers={"Range": "bytes=0-9"}, timeout=10)
    assert seek.status_code == 206
    assert seek.content == bucket.read(finished.video_url)[:10]


def test_a_large_file_goes_up_in_parts_and_lands_whole(bucket, tmp_path):
    data = os.urandom(9 * 1024 * 1024)  # past boto3's 8 MiB multipart threshold
    staged = storage.staged_file("videos/big-job/output.mp4")
    staged.write_bytes(data)
    storage.store("videos/big-job/output.mp4", staged)
    head = bucket.client.head_object(
        Bucket=bucket.name, Key=f"{bucket.prefix}/videos/big-job/output.mp4"
    )
    assert head["ETag"].strip('"').endswith("-2")  # S3's mark of a two-part upload
    assert bucket.read("videos/big-job/output.mp4") == data


@pytest.fixture
def strict_s3_server():
    """moto's S3 server checking signatures (INITIAL_NO_AUTH_ACTION_COUNT=0): no key it
    does not know is let in."""
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()


def test_check_names_the_credentials_a_bucket_refuses(bucket, settings, strict_s3_server):
    settings.S3_ENDPOINT_URL = strict_s3_server
    settings.STORAGES = {**settings.STORAGES}
    assert bucket_problem() == (
        f"The bucket {bucket.name!r} refused the credentials: check AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (or the machine's role)."
    )


def test_a_storyboard_cut_is_assembled_from_the_bucket_and_stored_there(
    veo, bucket, user, data_dir, client, django_capture_on_commit_callbacks
):
    from drafts.models import Cut
    from drafts.storyboards import services as boards

    board = boards.storyboard_create(owner=user, name="In the bucket", model=MODEL)
    for prompt in ("A quay at dawn", "Boats leave"):
        shot = boards.shot_add(storyboard=board, author=user, prompt=prompt, duration_seconds=4)
        with django_capture_on_commit_callbacks(execute=True):
            take = boards.take_generate(shot=shot, user=user)
        run_due_jobs()
        boards.take_pick(shot=shot, take=take, author=user)
    with django_capture_on_commit_callbacks(execute=True):
        cut = boards.cut_request(storyboard=board, user=user)
    cut.refresh_from_db()
    assert cut.status == Cut.Status.READY, cut.error

    folder = f"storyboards/{board.pk}/cuts/{cut.pk}"
    assert {f"{folder}/cut.mp4", f"{folder}/poster.jpg", f"{folder}/edit-list.json"} <= set(
        bucket.names()
    )
    video = data_dir.parent / "cut-from-bucket.mp4"
    video.write_bytes(bucket.read(f"{folder}/cut.mp4"))
    assert probe(video).duration == pytest.approx(8, abs=1 / 24)
    assert local_files(data_dir) == []
    client.force_login(user)
    response = client.get(f"/storyboards/{board.pk}/cuts/{cut.pk}/video/")
    assert response.status_code == 302 and "X-Amz-Signature" in response["Location"]

    with django_capture_on_commit_callbacks(execute=True):
        boards.storyboard_delete(storyboard=board)
    assert not [name for name in bucket.names() if name.startswith("storyboards/")]
