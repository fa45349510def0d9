"""The studio's URLs plus the baselines that benchmarks compare the studio's views with.

Each baseline does the least a view of its kind can do, behind the same middleware (so
it pays the same session and user lookups): the poll baseline (bench.bare_urls, also
served with no middleware at all) reads one row by primary key and renders the job
page's polled partial; the list baselines render the same 20 rows as the real
page through a minimal template; the gallery's reads the same 24 cards in one keyset
query and renders their fields.
"""

import functools
from datetime import datetime

from django.db.models import Q
from django.http import HttpResponse
from django.template import engines
from django.urls import path
from django.views.decorators.http import require_GET

from bench.bare_urls import poll
from drafts.models import Draft
from jobs.models import VideoCreationJob
from videostudio.urls import urlpatterns as studio_urlpatterns

PAGE_SIZE = 20
JOB_ROWS = (
    "<ul>{% for job in rows %}<li>{{ job.prompt_text|truncatechars:90 }} "
    "{{ job.get_status_display }}</li>{% endfor %}</ul>"
)
GALLERY_PAGE_SIZE = 24
GALLERY_ROWS = (
    '<ul>{% for job in rows %}<li><a href="{% url "review:video" "job" job.pk %}">'
    '<video muted preload="none" src="{% url "jobs:video" job.pk %}" '
    'poster="{{ job.metadata.poster_url }}"></video></a>'
    '<a href="{% url "review:video" "job" job.pk %}">{{ job.prompt_text|truncatechars:80 }}</a>'
    "{{ job.get_review_state_display }} {{ job.owner.get_username }} · {{ job.model }} · "
    '{{ job.get_task_display }} · {{ job.created_at|date:"M j, Y H:i" }}'
    '<input type="checkbox" name="v" value="job:{{ job.pk }}"></li>{% endfor %}</ul>'
)
DRAFT_ROWS = (
    "<ul>{% for draft in rows %}<li>{{ draft.name }} v{{ draft.version }}</li>{% endfor %}</ul>"
)


@functools.cache
def _template(source):
    return engines["django"].from_string(source)


def _rows(queryset, request):
    """Return the rows of the requested page, as Paginator would slice them."""
    try:
        number = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        number = 1
    start = (number - 1) * PAGE_SIZE
    return list(queryset[start : start + PAGE_SIZE])


@require_GET
def jobs(request):
    rows = _rows(
        VideoCreationJob.objects.filter(owner=request.user).order_by("-created_at"), request
    )
    return HttpResponse(_template(JOB_ROWS).render({"rows": rows}, request))


@require_GET
def gallery(request):
    """The viewer's own completed jobs past the gallery's cursor, newest first: one query."""
    rows = VideoCreationJob.objects.filter(owner=request.user, status="completed")
    if request.GET.get("after"):
        created_at, _kind, pk = request.GET["after"].split("|")
        when = datetime.fromisoformat(created_at)
        rows = rows.filter(
            Q(created_at__lt=when) | Q(created_at=when, pk__lt=pk), created_at__lte=when
        )
    rows = rows.select_related("owner").order_by("-created_at", "-pk")[:GALLERY_PAGE_SIZE]
    return HttpResponse(_template(GALLERY_ROWS).render({"rows": list(rows)}, request))


@require_GET
def drafts(request):
    rows = _rows(Draft.objects.filter(owner=request.user).order_by("name", "pk"), request)
    return HttpResponse(_template(DRAFT_ROWS).render({"rows": rows}, request))


urlpatterns = [
    path("bench/baseline/poll/<str:pk>/", poll, name="bench-poll"),
    path("bench/baseline/jobs/", jobs, name="bench-jobs"),
    path("bench/baseline/drafts/", drafts, name="bench-drafts"),
    path("bench/baseline/gallery/", gallery, name="bench-gallery"),
    *studio_urlpatterns,
]
