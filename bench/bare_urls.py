"""The poll baseline: one primary-key query and the job page's polled partial, nothing else.

Served bare by bench.bare_settings (no middleware), and by bench.urls behind the studio's
middleware and a logged-in session (the authenticated variant of the same view).
"""

import functools

from django.http import Http404, HttpResponse
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


urlpatterns = [
    path("bench/baseline/poll/<str:pk>/", poll, name="bench-poll"),
    # Never requested here: the partial's {% url %} reverses the job's own URL.
    path("", include("jobs.urls")),
]
