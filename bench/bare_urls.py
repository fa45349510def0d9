"""The bare baselines: the poll's (one primary-key query and the job page's polled
partial, nothing else) and file serving's (one primary-key query and the job's video sent
with sendfile, a single byte range as well).

Served bare by bench.bare_settings (no middleware), and by bench.urls behind the studio's
middleware and a logged-in session (the authenticated variant of the same view).
"""

import functools
import re

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.template.loader import get_template
from django.urls import include, path
from django.views.decorators.http import require_GET

from jobs.models import VideoCreationJob

# The columns the partial shows of a running job.
PARTIAL_FIELDS = ("status", "stage", "progress", "error", "cancelled_at", "submitted_at")


@functools.cache
def _partial():
    return get_template("jobs/job_detail.html#job-status")


@require_GET
def poll(request, pk):
    try:
        job = VideoCreationJob.objects.only(*PARTIAL_FIELDS).get(pk=pk)
    except (VideoCreationJob.DoesNotExist, ValueError):
        raise Http404 from None
    job.queue_position = None  # as the studio's view sets it: a missing attribute costs more
    return HttpResponse(_partial().render({"job": job}))


RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@require_GET
def video(request, pk):
    """The job's video from local disk, whole or one `Range: bytes=a-b`, by sendfile.

    gunicorn sends a FileResponse's file with os.sendfile from the file's position, for
    the response's Content-Length: the ranged answer needs no more than a seek. (A server
    without sendfile would read on to the file's end: this view is served by gunicorn.)
    """
    try:
        name = VideoCreationJob.objects.values_list("video_url", flat=True).get(pk=pk)
    except (VideoCreationJob.DoesNotExist, ValueError):
        raise Http404 from None
    handle = open(default_storage.path(name), "rb")  # noqa: SIM115 (the response closes it)
    size = default_storage.size(name)
    match = RANGE.match(request.headers.get("Range", ""))
    if not match:
        return FileResponse(handle, content_type="video/mp4")
    start = int(match[1])
    end = min(int(match[2]), size - 1) if match[2] else size - 1
    handle.seek(start)
    response = FileResponse(handle, status=206, content_type="video/mp4")
    response["Content-Length"] = str(end - start + 1)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response


urlpatterns = [
    path("bench/baseline/poll/<str:pk>/", poll, name="bench-poll"),
    path("bench/baseline/video/<str:pk>/", video, name="bench-video"),
    # Never requested here: the partial's {% url %} reverses the job's own URL.
    path("", include("jobs.urls")),
]
