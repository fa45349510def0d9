"""Sending media files: whole or by Range, or handed to a front proxy after the access check."""

import os
import socket

import pytest
from django.http import Http404
from django.test import RequestFactory
from django.urls import reverse

from jobs.models import VideoCreationJob
from jobs.serving import serve_file
from tests.factories import JOB_OPTIONS

pytestmark = pytest.mark.django_db

CONTENT = bytes(range(256)) * 4  # 1,024 bytes, each position's byte tells where it is
NAME = "videos/some job/output.mp4"  # a space, to see the proxy's path quoted


@pytest.fixture
def stored(data_dir):
    path = data_dir / NAME
    path.parent.mkdir(parents=True)
    path.write_bytes(CONTENT)
    return path


def serve(range_header=None, name=NAME):
    headers = {"Range": range_header} if range_header else {}
    request = RequestFactory().get("/any/", headers=headers)
    return serve_file(request, name, content_type="video/mp4")


def body(response):
    return b"".join(response.streaming_content)


def test_a_file_is_sent_whole_with_ranges_offered(stored):
    response = serve()
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert body(response) == CONTENT


@pytest.mark.parametrize(
    ("asked", "first", "last"),
    [
        ("bytes=10-19", 10, 19),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-4", 1020, 1023),
        ("bytes=1020-5000", 1020, 1023),  # an end past the file stops at its last byte
        ("bytes=-5000", 0, 1023),  # a suffix longer than the file is all of it
    ],
)
def test_a_range_sends_only_those_bytes(stored, asked, first, last):
    response = serve(asked)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/1024"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert body(response) == CONTENT[first : last + 1]


@pytest.mark.parametrize("way", ["sendfile", "read and send"])
def test_a_range_goes_out_over_a_socket_as_gunicorn_sends_it(stored, way):
    """gunicorn sends a FileResponse's file with socket.sendfile from the fd's position for
    the Content-Length; Python falls back to seek-read-send where os.sendfile fails."""
    response = serve("bytes=100-299")
    span = response.file_to_stream
    offset = os.lseek(span.fileno(), 0, os.SEEK_CUR)
    count = int(response["Content-Length"])
    left, right = socket.socketpair()
    with left, right:
        if way == "sendfile":
            left.sendfile(span, offset=offset, count=count)
        else:
            left._sendfile_use_send(span, offset, count)  # what socket.sendfile falls back to
        left.shutdown(socket.SHUT_WR)
        received = b"".join(iter(lambda: right.recv(4096), b""))
    response.close()
    assert received == CONTENT[100:300]


@pytest.mark.parametrize("asked", ["bytes=1024-", "bytes=20-10", "bytes=" + "9" * 19 + "-"])
def test_a_range_outside_the_file_is_a_416_naming_its_size(stored, asked):
    response = serve(asked)
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */1024"


@pytest.mark.parametrize("asked", ["bytes=-", "items=0-10", "bytes=0-1,5-6"])
def test_a_range_it_cannot_read_is_ignored_and_the_whole_file_sent(stored, asked):
    response = serve(asked)
    assert response.status_code == 200
    assert body(response) == CONTENT


def test_a_missing_file_is_a_404(data_dir):
    with pytest.raises(Http404):
        serve(name="videos/gone/output.mp4")


@pytest.mark.parametrize(
    ("offload", "header", "value"),
    [
        ("nginx", "X-Accel-Redirect", "/protected-media/videos/some%20job/output.mp4"),
        ("sendfile", "X-Sendfile", "{data_dir}/videos/some job/output.mp4"),
    ],
)
def test_a_front_proxy_is_handed_the_file_and_nothing_is_read(
    settings, stored, data_dir, offload, header, value
):
    settings.MEDIA_OFFLOAD = offload
    response = serve("bytes=10-19")  # the proxy does ranges itself
    assert response.status_code == 200
    assert response[header] == value.format(data_dir=data_dir)
    assert response.content == b""
    assert response["Content-Type"] == "video/mp4"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, max-age=3600"


# --- Through the pages and the API, after the access check ----------------------------------


@pytest.fixture
def finished(user, data_dir):
    job = VideoCreationJob.objects.create(
        owner=user,
        prompt_text="A fox",
        model="veo-3.1-fast-generate-preview",
        options=JOB_OPTIONS,
        status="completed",
        stage="done",
        progress=100,
    )
    video = data_dir / "videos" / job.pk / "output.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(CONTENT)
    VideoCreationJob.objects.filter(pk=job.pk).update(video_url=f"videos/{job.pk}/output.mp4")
    return job


@pytest.mark.parametrize("route", ["jobs:video", "api:video"])
def test_the_page_and_the_api_send_a_video_by_range(client, user, finished, route):
    client.force_login(user)
    url = reverse(route, args=[finished.pk])
    whole = client.get(url)
    assert whole.status_code == 200 and body(whole) == CONTENT
    part = client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part["Content-Range"] == "bytes 10-19/1024"
    assert body(part) == CONTENT[10:20]


def test_the_page_answers_a_range_outside_the_video_with_a_416(client, user, finished):
    client.force_login(user)
    response = client.get(
        reverse("jobs:video", args=[finished.pk]), headers={"Range": "bytes=5000-"}
    )
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */1024"


@pytest.mark.parametrize("route", ["jobs:video", "api:video"])
@pytest.mark.parametrize(
    ("offload", "header"), [("nginx", "X-Accel-Redirect"), ("sendfile", "X-Sendfile")]
)
def test_a_video_goes_to_the_front_proxy_only_after_the_check(
    settings, client, user, other_user, finished, route, offload, header
):
    settings.MEDIA_OFFLOAD = offload
    url = reverse(route, args=[finished.pk])
    client.force_login(user)
    handed = client.get(url)
    assert handed.status_code == 200 and finished.pk in handed[header]
    client.force_login(other_user)
    denied = client.get(url)
    assert denied.status_code == 404 and header not in denied
