"""The studio's URLs plus the baselines that benchmarks compare the studio's views with.

Each baseline does the least a view of its kind can do, behind the same middleware (so
it pays the same session and user lookups), and shows a status or a review state by the
same enum labels as the studio's pages (`status_label`, `review_label`: Django's
get_FOO_display() builds a dict of every choice on each call). The poll baseline
(bench.bare_urls, also served with no middleware at all) reads one row by primary key and
renders the job page's polled partial; the file baseline (the same) sends the job's video
by sendfile; each list baseline reads its rows in one query (the columns it shows,
nothing else; the job list, as the studio's does, one more for the order of the line when
a waiting job is on the page) and renders, through a minimal template with none of the
page around them, the same fields for each row as the studio's page does: the job list's
20 cards (poster, prompt, model, resolution, length, date, status, review badge, place in
line or stage, progress, error), the library's 20 drafts, the gallery's 24 cards, a
storyboard's shots with every take.
"""

import functools
import itertools
from datetime import datetime

from django.db.models import F, Q
from django.http import HttpResponse
from django.template import engines
from django.urls import path
from django.views.decorators.http import require_GET

from bench.bare_urls import poll, video
from drafts.models import Draft, Take
from jobs.models import VideoCreationJob
from jobs.views import CARD_FIELDS
from videostudio.urls import urlpatterns as studio_urlpatterns

PAGE_SIZE = 20
# A job card's fields, as templates/jobs/index.html's job-card shows them.
JOB_ROWS = (
    '{% for job in rows %}<article class="job-card status-{{ job.status }}" id="job-{{ job.pk }}">'
    '{% if job.status == "completed" and job.metadata.poster_url %}'
    '<a href="{% url "jobs:detail" job.pk %}"><img src="{{ job.metadata.poster_url }}" alt=""></a>'
    "{% endif %}"
    '<h3><a href="{% url "jobs:detail" job.pk %}">{{ job.prompt_text|truncatechars:90 }}</a></h3>'
    "<p>{{ job.model }} · {{ job.options.resolution }} · {{ job.options.duration_seconds }} s · "
    '<time datetime="{{ job.created_at|date:\'c\' }}">{{ job.created_at|date:"M j, H:i" }}</time></p>'
    "<span>{{ job.status_label }}</span>"
    '{% if job.review_state != "draft" %}<span>{{ job.review_label }}</span>{% endif %}'
    '{% if job.status == "idle" or job.status == "processing" %}'
    "{% if job.queue_position %}Waiting for a free slot: number {{ job.queue_position }} in line"
    "{% else %}{{ job.stage_label }}{% endif %}"
    '<progress max="100" value="{{ job.progress }}"></progress> {{ job.progress }} %'
    "{% elif job.error %}<p>{{ job.error|truncatechars:160 }}</p>{% endif %}"
    "</article>{% endfor %}"
)
# The fields the studio's cards read, but updated_at: the cards' poller's cursor, which a
# bare list has no use for.
JOB_FIELDS = [name for name in CARD_FIELDS if name != "updated_at"]
GALLERY_PAGE_SIZE = 24
GALLERY_ROWS = (
    '<ul>{% for job in rows %}<li><a href="{% url "review:video" "job" job.pk %}">'
    '<video muted preload="none" src="{% url "jobs:video" job.pk %}" '
    'poster="{{ job.metadata.poster_url }}"></video></a>'
    '<a href="{% url "review:video" "job" job.pk %}">{{ job.prompt_text|truncatechars:80 }}</a>'
    "{{ job.review_label }} {{ job.owner.get_username }} · {{ job.model }} · "
    '{{ job.get_task_display }} · {{ job.created_at|date:"M j, Y H:i" }}'
    '<input type="checkbox" name="v" value="job:{{ job.pk }}"></li>{% endfor %}</ul>'
)
# A library row's fields, as templates/drafts/library.html's draft-row shows them.
DRAFT_ROWS = (
    '{% for draft in rows %}<article><h2><a href="{% url "drafts:detail" draft.pk %}">'
    "{{ draft.name }}</a></h2><p>{{ draft.prompt_count }} prompt{{ draft.prompt_count|pluralize }}"
    " · version {{ draft.version }} · {% if draft.owner_id == user.pk %}yours{% else %}by "
    "{{ draft.owner.get_username }}{% endif %} · {{ draft.get_visibility_display }} · updated "
    '<time datetime="{{ draft.updated_at|date:\'c\' }}">{{ draft.updated_at|date:"M j, H:i" }}'
    "</time></p></article>{% endfor %}"
)
DRAFT_FIELDS = ["name", "version", "prompt_count", "owner_id", "visibility", "updated_at"]
# A storyboard's shots and their takes, the fields templates/storyboards/detail.html shows
# for each (not the owner's forms: new take, edit, move, trim, remove, pick).
BOARD_ROWS = (
    "<ol>{% for shot, takes, picked in shots %}<li>"
    "<h3>Shot {{ shot.position }}</h3>{{ shot.get_task_display }} · {{ shot.duration_seconds }} s"
    "{% if picked %}"
    '<a href="{% url "storyboards:take-video" board picked.pk %}">'
    '<img src="{% url "storyboards:take-poster" board picked.pk %}" alt=""></a>'
    "<p>Picked: take {{ picked.number }}"
    '{% if picked.job.review_state != "draft" %} {{ picked.job.review_label }}{% endif %}'
    " · {% if picked.job.metadata.video.duration_seconds %}"
    "{{ picked.job.metadata.video.duration_seconds|floatformat:1 }} s{% endif %}"
    " · ${{ picked.job.actual_cost_usd|default:picked.job.estimated_cost_usd|floatformat:2 }}"
    '{% if shot.trim_in or shot.trim_out is not None %} · trimmed {{ shot.trim_in|floatformat:"-3" }}'
    '\u2013{% if shot.trim_out is not None %}{{ shot.trim_out|floatformat:"-3" }}{% else %}end'
    "{% endif %} s{% endif %}</p>"
    "{% else %}<p>No take picked</p>{% endif %}"
    "<p>{{ shot.prompt }}</p>{% if shot.notes %}<p>{{ shot.notes }}</p>{% endif %}"
    "<table>{% for take in takes %}<tr>"
    '<td>{% if take.job.status == "completed" %}<input type="checkbox" name="takes" '
    'value="{{ take.pk }}">{% endif %}</td>'
    '<td><a href="{% url "storyboards:take-video" board take.pk %}">Take {{ take.number }}</a></td>'
    "<td>{{ take.job.status_label }}"
    '{% if take.job.review_state != "draft" %} {{ take.job.review_label }}{% endif %}'
    '{% if take.job.status == "completed" %} <a href="{% url "review:video" "job" take.job_id %}">'
    'Review</a>{% endif %}{% if take.job.status == "processing" %} {{ take.job.progress }} %{% endif %}'
    "{% if take.job.error %} {{ take.job.error }}{% endif %}"
    "{% if take.job.prompt_text != shot.prompt %} Made from an earlier prompt: "
    "“{{ take.job.prompt_text|truncatechars:80 }}”"
    "{% endif %}</td>"
    '<td>{{ take.job.options.seed|default:"—" }}</td><td>{{ take.job.model }}</td>'
    "<td>${{ take.job.actual_cost_usd|default:take.job.estimated_cost_usd|floatformat:2 }}</td>"
    "<td>{% if shot.picked_id == take.pk %}Picked{% endif %}</td>"
    "</tr>{% endfor %}</table></li>{% endfor %}</ol>"
)
TAKE_FIELDS = [
    "number",
    "shot_id",
    "job_id",
    *(
        f"shot__{name}"
        for name in ("position", "created_at", "task", "duration_seconds", "picked_id")
    ),
    *(f"shot__{name}" for name in ("trim_in", "trim_out", "prompt", "notes")),
    *(
        f"job__{name}"
        for name in ("status", "review_state", "metadata", "progress", "error", "prompt_text")
    ),
    *(f"job__{name}" for name in ("options", "model", "actual_cost_usd", "estimated_cost_usd")),
]


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
    """The viewer's jobs, newest first: one query, and the line's order when one waits.

    As the studio does, the place in line of a waiting job on the page comes from the
    order of every waiting job (a second query, only then): a subquery per row would be
    evaluated for every row an OFFSET skips on PostgreSQL.
    """
    rows = _rows(
        VideoCreationJob.objects.filter(owner=request.user)
        .only(*JOB_FIELDS)
        .order_by("-created_at"),
        request,
    )
    line = {}
    if any(job.status == VideoCreationJob.Status.IDLE for job in rows):
        waiting = VideoCreationJob.objects.filter(status=VideoCreationJob.Status.IDLE)
        order = waiting.order_by("created_at", "pk").values_list("pk", flat=True)
        line = {pk: n for n, pk in enumerate(order, start=1)}
    for job in rows:
        job.queue_position = line.get(job.pk)
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
    rows = Draft.objects.filter(owner=request.user).only(*DRAFT_FIELDS).order_by("name", "pk")
    return HttpResponse(_template(DRAFT_ROWS).render({"rows": _rows(rows, request)}, request))


@require_GET
def storyboard(request, pk):
    """Every take of the viewer's storyboard with its shot and job, in order: one query."""
    takes = (
        Take.objects.filter(shot__storyboard=pk, shot__storyboard__owner=request.user)
        .select_related("shot", "job")
        .only(*TAKE_FIELDS)
        .order_by(F("shot__position"), F("shot__created_at"), "shot_id", "number")
    )
    shots = []
    for _shot_id, group in itertools.groupby(takes, key=lambda take: take.shot_id):
        group = list(group)
        shot = group[0].shot
        picked = next((take for take in group if take.pk == shot.picked_id), None)
        shots.append((shot, group, picked))
    context = {"shots": shots, "board": pk}
    return HttpResponse(_template(BOARD_ROWS).render(context, request))


urlpatterns = [
    path("bench/baseline/poll/<str:pk>/", poll, name="bench-poll"),
    path("bench/baseline/video/<str:pk>/", video, name="bench-video"),
    path("bench/baseline/jobs/", jobs, name="bench-jobs"),
    path("bench/baseline/drafts/", drafts, name="bench-drafts"),
    path("bench/baseline/gallery/", gallery, name="bench-gallery"),
    path("bench/baseline/storyboard/<str:pk>/", storyboard, name="bench-storyboard"),
    *studio_urlpatterns,
]
