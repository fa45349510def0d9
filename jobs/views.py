"""The studio's HTML pages for jobs, batches, usage and notices, and the files they link to.

A request reads in one direction: the view looks its object up through jobs.access
(someone else's job or batch is a 404, like one that does not exist), calls a service in
jobs.services for anything it changes (never writing a job's status itself), then renders
a page or redirects with a message. Media goes out through jobs.serving, after that check.
The JSON API (jobs.api) shares the same access lookups, services and file sender.

Poll partials: the job list, a job's page and a batch's page poll while something on
them waits or runs. An htmx request gets the page's partial (`template#partial`); the
render that finds nothing left running carries no trigger and answers 286, which stops
htmx. Every page also polls `notices` for toasts about work that ended.

Sections: the job list and create form; polling a job; actions on a job; the cost
estimate; usage; notices; batches; files.
"""

import csv
import functools
import hashlib
from datetime import UTC, datetime
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from videostudio.auth import session_user_from
from videostudio.pagination import page_of

from . import catalog, limits, pricing, services, storage, usage
from .access import can_act, get_batch_for_user, get_job_for_user
from .archive import stream_zip
from .forms import FromVideoForm, GenerationOptionsForm, JobForm, UsageForm, offer
from .models import Batch, VideoCreationJob, VideoResource, sees_all_jobs
from .serving import serve_file
from .veo.base import Task

JOBS_PER_PAGE = 20
# What a job's card shows; a list reads no other column (the ORM's cost grows with them).
CARD_FIELDS = [
    "prompt_text",
    "status",
    "stage",
    "progress",
    "error",
    "model",
    "options",
    "created_at",
    "metadata",
    "updated_at",
    "review_state",
]
# htmx stops polling when a response has this status (django-htmx HTTP_STATUS_STOP_POLLING).
STOP_POLLING = 286
Status = VideoCreationJob.Status
FINISHED = (Status.COMPLETED, Status.FAILED)  # as VideoCreationJob.is_finished


def _poll_status(request, job):
    return STOP_POLLING if request.htmx and job.is_finished else 200


# --- The job list and the create form -------------------------------------------------


@require_http_methods(["GET", "POST"])
def index(request):
    """The job list and the create form.

    A POST with `refresh` (the form's button for a browser without JavaScript, after
    choosing another model or task) shows the form again with that model's and task's
    fields, the values kept, and creates nothing.
    """
    if request.method == "POST" and "refresh" in request.POST:
        form = JobForm(initial=_chosen(request.POST))
    else:
        form = JobForm(request.POST or None, request.FILES or None)
    if form.is_bound and form.is_valid():
        try:
            job = services.job_create(
                owner=request.user,
                prompt_text=form.cleaned_data["prompt_text"],
                model=form.cleaned_data["model"],
                options=form.job_options(),
                image=form.cleaned_data.get("image"),
                last_frame=form.cleaned_data.get("last_frame"),
                task=form.job_task(),
                reference_images=form.cleaned_data.get("reference_images") or (),
            )
        except (pricing.BudgetExceeded, limits.CreationLimitExceeded) as exc:
            form.add_error(None, exc)
        except ValidationError as exc:
            form.add_catalog_errors(exc)  # the prompt's length, checked by job_create
        else:
            messages.success(request, "Job queued. This page follows its progress.")
            return redirect(job)
    jobs = VideoCreationJob.objects.for_user(request.user).only(*CARD_FIELDS)
    page = page_of(jobs, request.GET.get("page"), per_page=JOBS_PER_PAGE)
    _mark_queue_positions(page.object_list)
    live = [job for job in page.object_list if not job.is_finished]
    context = {"form": form, "page": page, "poller": _card_poller(live)}
    status = 400 if form.is_bound else 200
    context["estimate"] = _estimate(_options_data(form))
    return render(request, "jobs/index.html", context, status=status)


# The create form's values a re-render keeps: every field but the files.
KEPT_VALUES = [
    name for name, field in JobForm.base_fields.items() if not isinstance(field, forms.FileField)
]


def _chosen(data):
    """Return the create form's values as sent, as the initial values of a new form."""
    return {name: data[name] for name in KEPT_VALUES if name in data}


@require_GET
def form_fields(request):
    """Return the create form's options for the model and task chosen (an htmx partial).

    The form's values come along and are kept; nothing is checked or created.
    """
    form = JobForm(initial=_chosen(request.GET))
    return render(request, "jobs/index.html#job-options", {"form": form})


# --- The job list's one poller ----------------------------------------------------------
# A list page polls once for all its live cards, as healthchecks' status endpoint does:
# the poller carries the ids of the cards still waiting or running and the newest
# updated_at the page has seen; the answer swaps the changed cards out of band and
# replaces the poller with one carrying the new cursor.

# The most cards one poll reads: a page of jobs, or a large batch.
MAX_POLLED_CARDS = 200


def _card_poller(live, since=None):
    """Return the poller's URL for these live jobs, or None when none is live."""
    if not live:
        return None
    query = {"since": _cursor(live, since).isoformat(), "id": [job.pk for job in live]}
    return f"{reverse('jobs:list-changes')}?{urlencode(query, doseq=True)}"


def _cursor(jobs, since=None):
    """Return the newest of these jobs' updated_at and `since`; None for neither."""
    stamps = [job.updated_at for job in jobs] + ([since] if since else [])
    return max(stamps, default=None)


def _changed_cards(jobs, since):
    """Return the cards of these jobs to render again after a poll with cursor `since`.

    A job that changed since then renders, and so does one that finished (its last render)
    or waits (its place in line comes from other rows). Every write to a job moves its
    updated_at; a write stamped before the cursor but committed after the read that moved
    it shows at the job's next write, and a job's end is never missed, as a finished job
    on the page always renders.
    """
    _mark_queue_positions(jobs)
    return [
        job
        for job in jobs
        if job.is_finished or job.status == VideoCreationJob.Status.IDLE or job.updated_at > since
    ]


def _since(request):
    """Return the poll's cursor: the oldest time when missing, None when not a date."""
    if not (value := request.GET.get("since")):
        return datetime.min.replace(tzinfo=UTC)
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def _not_a_date():
    return HttpResponse(
        "since is not a date and time, e.g. 2026-01-31T12:00:00Z.",
        status=400,
        content_type="text/plain; charset=utf-8",
    )


@require_GET
def list_changes(request):
    """Answer the job list's poller: the cards that changed since its last poll.

    The changed cards come out of band, with a new poller for the cards still live; 204
    (htmx swaps nothing and keeps polling) when none changed, and 286 with the last
    renders when none on the page is live any more. Ids this user may not see are ignored;
    without a cursor every card given renders.
    """
    since = _since(request)
    if since is None:
        return _not_a_date()
    ids = request.GET.getlist("id")[:MAX_POLLED_CARDS]
    visible = VideoCreationJob.objects.for_user(request.user).filter(pk__in=ids)
    # What the answer turns on, without building a card: most polls find nothing new.
    rows = list(visible.values_list("pk", "status", "updated_at", named=True))
    live = [row for row in rows if row.status not in FINISHED]
    changed = [
        row.pk
        for row in rows
        if row.status in FINISHED or row.status == Status.IDLE or row.updated_at > since
    ]
    if live and not changed:
        return HttpResponse(status=204)
    # A card that moved again since the rows were read shows its newer state; the
    # poller's cursor, from the rows, brings it once more.
    cards = list(visible.filter(pk__in=changed).only(*CARD_FIELDS))
    _mark_queue_positions(cards)
    context = {"cards": cards, "poller": _card_poller(live, since)}
    status = 200 if live else STOP_POLLING
    return render(request, "jobs/index.html#card-changes", context, status=status)


def _options_data(form):
    """Return the generation options a create form shows: as sent, or its initial values."""
    if form.is_bound:
        return form.data
    names = [name for name in GenerationOptionsForm.base_fields if name in form.fields]
    values = {name: form[name].initial for name in names if form[name].initial is not None}
    return {**values, **{k: v for k, v in form.initial.items() if k in names}}


def _mark_queue_positions(jobs):
    """Set queue_position (1 = next to be claimed) on the waiting jobs, None on the others.

    Always set: a template's lookup of a missing attribute costs an exception and a dir().
    """
    positions = {}
    if any(job.status == VideoCreationJob.Status.IDLE for job in jobs):
        order = VideoCreationJob.objects.waiting().values_list("pk", flat=True)
        positions = {pk: n for n, pk in enumerate(order, start=1)}
    for job in jobs:
        job.queue_position = positions.get(job.pk)


# --- Polling a job: its card in the list and its page ---------------------------------


def _poll_etag(request, job_id, status, updated_at):
    """Return the ETag of a running job's polled partial, or None for any other job.

    Only a running job is revalidated: a waiting one's place in line comes from other
    rows, and a finished one must render so that htmx gets the 286 that stops polling.
    Every write to a job moves updated_at; the user is in the tag too, so one user's copy
    is never another's. A running job's partial holds no form, so no CSRF token to renew.
    """
    if status != VideoCreationJob.Status.PROCESSING:
        return None
    state = (job_id, updated_at.isoformat(), request.user.pk)
    return f'"{hashlib.sha256(repr(state).encode()).hexdigest()[:32]}"'


# What an htmx poll of a waiting or running job reads: its partial and ETag, and of its
# owner what authenticates the session. A full page, and the last poll (which renders a
# finished job whole), read the whole row.
POLL_FIELDS = [
    "status",
    "stage",
    "progress",
    "error",
    "cancelled_at",
    "submitted_at",
    "updated_at",
    "owner",
    "owner__password",
    "owner__is_active",
]


def _polled(view):
    """Give a polled partial's view its job for two queries: the session, the job's row.

    Every open job page polls every two seconds while its job runs (a list page polls
    once for all its cards instead: list_changes). LoginRequiredMiddleware would read the
    user before the view; instead the job is read with its owner, and when that owner is
    the session's user Django's own get_user checks the session against that row
    (videostudio.auth). Anyone else goes through the usual lookup and permission check:
    a job they may not see is a 404. A poll reads only POLL_FIELDS (the ORM's cost grows
    with the columns); the poll that finds the job finished reads it again whole, once.
    """

    @login_not_required
    @functools.wraps(view)
    def wrapper(request, pk):
        jobs = VideoCreationJob.objects.select_related("owner")
        try:  # get(), unlike first(), adds no ORDER BY to compile and run
            job = (jobs.only(*POLL_FIELDS) if request.htmx else jobs).get(pk=pk)
        except VideoCreationJob.DoesNotExist:
            job = None
        with session_user_from(job.owner if job else None):
            request.user = get_user(request)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if job is None or job.owner_id != request.user.pk:
            job = get_job_for_user(request.user, pk)
        elif job.is_finished and job.get_deferred_fields():
            job = jobs.get(pk=pk)
        return view(request, job)

    return wrapper


def _not_modified(request, job):
    """Return a 304 when the browser's copy of a running job's partial is current, else None.

    A job that changed or finished goes on to render.
    """
    if not request.META.get("HTTP_IF_NONE_MATCH"):
        return None
    etag = _poll_etag(request, job.pk, job.status, job.updated_at)
    if not etag or (response := get_conditional_response(request, etag=etag)) is None:
        return None
    return _revalidated(response, etag)


def _revalidated(response, etag):
    """Let the browser keep a polled partial but revalidate it on every poll.

    htmx sends no validators itself; the browser adds If-None-Match to the next poll
    because the partial is cacheable (private, no-cache) and has an ETag. Vary keeps the
    full page and the partial of one URL apart in its cache.
    """
    if etag:
        response.headers["ETag"] = etag
    patch_cache_control(response, private=True, no_cache=True)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@_polled
def job_detail(request, job):
    """The job's page; polled by htmx for its status partial while the job runs.

    A poll of a running job renders the status alone: its resources (the input frames)
    and its actions are on the page already and do not change until it ends. The poll
    that finds it finished brings those in too, out of band (see the template).
    """
    if request.htmx and (not_modified := _not_modified(request, job)) is not None:
        return not_modified
    context = _detail_context(request, job)
    template = "jobs/job_detail.html"
    if request.htmx:
        template += "#job-status"
    response = render(request, template, context, status=_poll_status(request, job))
    if request.htmx:
        return _revalidated(response, _poll_etag(request, job.pk, job.status, job.updated_at))
    patch_vary_headers(response, ["HX-Request"])  # The full page, never the partial.
    return response


def _detail_context(request, job, *, video_forms=None):
    """Return what the job's page (or its last poll) shows; `video_forms` as sent, if any."""
    _mark_queue_positions([job])
    context = {"job": job, "can_act": can_act(request.user, job)}
    if not request.htmx:
        context["warning"] = offer(job.model).warning
        context["prompt_place"] = _prompt_place(job)
        context["lineage"] = _lineage(job, request.user)
    if job.is_finished or not request.htmx:
        resources = list(job.resources.all())
        poster = next((r for r in resources if r.filename == storage.POSTER_NAME), None)
        context.update(resources=resources, poster=poster, swap_oob=request.htmx)
    if job.is_finished:
        context["video_forms"] = _video_forms(job, video_forms or {})
    return context


def _video_forms(job, sent):
    """Return the forms that make a child of this finished job, for the tasks its model offers."""
    if job.status != VideoCreationJob.Status.COMPLETED or not job.video_url:
        return []
    tasks = offer(job.model).video_tasks()
    if Task.EXTEND in tasks and catalog.chain_room(job) == 0:
        tasks.remove(Task.EXTEND)  # the chain is as long as the model makes them
    return [sent.get(task) or FromVideoForm(task=task, parent=job) for task in tasks]


def _lineage(job, viewer):
    """Return the job's parent, its children and its extension chain's length and room left.

    The length counts along the chain of extensions back to the first video
    (catalog.chain_seconds); the room left is what the model's limit leaves of it.
    """
    children = list(
        job.children.visible_to(viewer)
        .order_by("created_at")
        .only("pk", "task", "status", "prompt_text", "options", "created_at")
    )
    room = catalog.chain_room(job)
    limit = offer(job.model).limit(Task.EXTEND, "chain_max_seconds")
    extended = job.task == Task.EXTEND or room is not None
    return {
        "parent": job.parent if job.parent_id else None,
        "children": children,
        "chain_seconds": catalog.chain_seconds(job) if extended else None,
        "chain_limit": limit if room is not None else None,
        "room_left": room,
    }


def _prompt_place(job):
    """Return (n, of) for the job's prompt within the draft version it ran from, or None."""
    if not job.draft_version_id:
        return None
    ids = [prompt.get("id") for prompt in job.draft_version.prompts]
    return (ids.index(job.prompt_id) + 1, len(ids)) if job.prompt_id in ids else None


# --- Actions on one job ---------------------------------------------------------------


@require_POST
def job_cancel(request, pk):
    job = get_job_for_user(request.user, pk, act=True)
    if services.job_cancel(job=job):
        messages.info(
            request,
            "Cancelled. If Veo had already accepted the prompt, Google may still bill it.",
        )
    else:
        messages.error(request, "This job had already finished, so there was nothing to cancel.")
    return redirect(job)


@require_POST
def job_retry(request, pk):
    job = get_job_for_user(request.user, pk, act=True)
    try:
        retry = services.job_retry(job=job, owner=request.user)
    except (services.JobStateError, ValidationError) as exc:
        messages.error(request, _message(exc))
        return redirect(job)
    messages.success(request, "Retrying with the same prompt and options as a new job.")
    return redirect(retry)


@require_POST
def job_delete(request, pk):
    job = get_job_for_user(request.user, pk, act=True)
    try:
        services.job_delete(job=job)
    except services.JobStateError as exc:
        messages.error(request, str(exc))
        return redirect(job)
    messages.success(request, "Deleted the job and its files.")
    return redirect("jobs:index")


@require_POST
def job_share(request, pk):
    """Share the job with the team (its page, video and review), or make it private again."""
    job = get_job_for_user(request.user, pk, act=True)
    _share(request, job, "This job")
    return redirect(job)


def _share(request, row, what):
    try:
        services.visibility_set(row=row, visibility=request.POST.get("visibility", ""))
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, f"{what} is now seen by: {row.get_visibility_display().lower()}.")


@require_POST
def job_from_video(request, pk, task):
    """Extend, edit or upscale a finished job's video as a new job linked to it."""
    job = get_job_for_user(request.user, pk)
    form = FromVideoForm(request.POST, task=task, parent=job)
    if form.is_valid():
        try:
            child = services.job_create(
                owner=request.user,
                prompt_text=form.job_prompt(),
                model=job.model,
                options=form.job_options(),
                task=task,
                parent=job,
            )
        except (pricing.BudgetExceeded, limits.CreationLimitExceeded) as exc:
            form.add_error(None, exc)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"{TASK_DONE[task]} queued as a new job.")
            return redirect(child)
    context = _detail_context(request, job, video_forms={Task(task): form})
    return render(request, "jobs/job_detail.html", context, status=400)


TASK_DONE = {Task.EXTEND: "The extension", Task.EDIT: "The edit", Task.UPSCALE: "The upscale"}


def _add_errors(form, error):
    """Show a ValidationError from job_create on the prompt when it names it, else above."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages_ in error.message_dict.items():
        for message in messages_:
            form.add_error("prompt_text" if field == "prompt_text" else None, message)


def _message(exc):
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


# --- The create form's cost estimate --------------------------------------------------


@require_GET
def estimate(request):
    """Return the cost estimate for the create form's current options (an htmx partial)."""
    return render(request, "jobs/index.html#estimate", {"estimate": _estimate(request.GET)})


def _estimate(data):
    """Return what the estimate partial shows for these generation options."""
    form = GenerationOptionsForm(data)
    if not form.is_valid():
        return {}
    model, options = form.cleaned_data["model"], form.job_options()
    spec = catalog.models()[model]
    try:
        catalog.validate_options(model, options)
    except ValidationError as exc:
        return {"problem": " ".join(exc.messages)}
    cost = pricing.job_estimate(model, options)
    return {
        "cost": cost,
        "rate": spec.price(options["resolution"]),
        "spec": spec,
        "options": options,
    }


# --- Usage ----------------------------------------------------------------------------


@require_GET
def usage_page(request):
    form = UsageForm(request.GET or None)
    scope, period = "mine", usage.preset("this-month")
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        scope = data.get("scope") or "mine"
        if data.get("period") == "custom":
            period = usage.Period(data["start"], data["end"])
        else:
            period = usage.preset(data.get("period") or "this-month")
    if scope == "team" and not sees_all_jobs(request.user):
        raise PermissionDenied("Only those who may see everyone's jobs can see the team's usage.")
    figures = usage.report(period, user=None if scope == "team" else request.user)
    if request.GET.get("format") == "csv":
        return _usage_csv(period, scope, figures)
    jobs = VideoCreationJob.objects.all()
    context = {
        "form": form,
        "period": period,
        "scope": scope,
        "figures": figures,
        "space": usage.space(jobs if scope == "team" else jobs.filter(owner=request.user)),
        "chart": usage.chart(figures["days"]),
        "csv_query": request.GET.urlencode(),
    }
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "jobs/usage.html", context, status=status)


def _usage_csv(period, scope, figures):
    """Write the page's figures as one table: rows by day, person and model, and a total."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"usage-{scope}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "by",
            "key",
            "jobs",
            "seconds_of_video",
            "billed_usd",
            "may_have_been_billed_usd",
            "reserved_usd",
        ]
    )
    rows = [
        *(("day", row["day"].isoformat(), row) for row in figures["days"]),
        *(("person", row["owner__username"] or "", row) for row in figures["people"]),
        *(("model", row["model"], row) for row in figures["models"]),
        ("total", "", figures["totals"]),
    ]
    for by, key, row in rows:
        writer.writerow(
            [
                by,
                key,
                row["jobs"],
                row["seconds"],
                f"{row['spend']:.4f}",
                f"{row['maybe']:.4f}",
                f"{row['reserved']:.4f}",
            ]
        )
    return response


# --- Notices: toasts for what ended, polled by every page -----------------------------


NOTICE_POLL_SECONDS = 10
MAX_NOTICES = 5


@require_GET
def notices(request):
    """Return toasts for the user's jobs and batches that ended since `since`.

    The response replaces the poller with one carrying a new `since`, so nothing is
    written per poll and each end is announced once per open page.
    """
    now = timezone.now()
    try:
        since = parse_datetime(request.GET.get("since", "")) or now
    except ValueError:
        return _not_a_date()
    ended = list(
        VideoCreationJob.objects.filter(owner=request.user, completed_at__gt=since)
        .filter(cancelled_at__isnull=True)
        .select_related("batch")
        .order_by("completed_at")[:MAX_NOTICES]
    )
    if ended:
        now = max(now, ended[-1].completed_at)
    batches = {job.batch for job in ended if job.batch_id}
    finished_batches = [
        (batch, services.batch_summary(batch, viewer=request.user))
        for batch in batches
        if not batch.jobs.active().exists()
    ]
    context = {
        "jobs": [job for job in ended if not job.batch_id],
        "batches": finished_batches,
        "since": now.isoformat(),
        "poll_seconds": NOTICE_POLL_SECONDS,
    }
    return render(request, "jobs/notices.html", context)


# --- Batches: their list, page, actions and ZIP ---------------------------------------


BATCHES_PER_PAGE = 20


@require_GET
def batch_list(request):
    """List my batches, newest first, or everyone's for those allowed to see all jobs."""
    can_see_all = sees_all_jobs(request.user)
    everyone = can_see_all and request.GET.get("whose") == "all"
    batches = Batch.objects.for_user(request.user)
    if not everyone:
        batches = batches.filter(owner=request.user)
    batches = (
        batches.select_related("owner", "draft_version__draft")
        .defer("draft_version__prompts", "draft_version__draft__prompts", "options")
        .order_by("-created_at", "-pk")
    )
    page = page_of(batches, request.GET.get("page"), per_page=BATCHES_PER_PAGE)
    Batch.objects.count_jobs_of(page.object_list)
    context = {"page": page, "everyone": everyone, "can_see_all": can_see_all}
    return render(request, "jobs/batches.html", context)


def _batch_unchanged(summary, since, counted):
    """Whether a batch's poll with this cursor and count would show what the page shows."""
    return (
        counted == str(summary["total"])
        and not summary["finished"]
        and not summary["idle"]
        and summary["updated_at"] is not None
        and summary["updated_at"] <= since
    )


@require_GET
def batch_detail(request, pk):
    """The batch's page; its summary is its one poller, and brings the changed cards.

    The summary's poll carries the newest updated_at the page has seen (as the job list's
    poller does) and the number of jobs it counted; it answers the summary with the
    batch's cards that changed since then, out of band, or 204 (htmx swaps nothing and
    keeps polling) when nothing did: no job was written since, none waits (its place in
    line comes from other rows) and none came or went.
    """
    batch = get_batch_for_user(request.user, pk)
    summary = services.batch_summary(batch, viewer=request.user)
    since = _since(request) if request.htmx else None
    if since is not None and _batch_unchanged(summary, since, request.GET.get("n")):
        return HttpResponse(status=204)
    template = "jobs/batch.html"
    context = {"batch": batch, "summary": summary, "can_act": can_act(request.user, batch)}
    jobs = batch.jobs.visible_to(request.user)
    if request.htmx:
        template += "#batch-poll"
        if since is not None:
            changed = Q(updated_at__gt=since) | Q(status=VideoCreationJob.Status.IDLE)
            jobs = list(jobs.filter(changed).only(*CARD_FIELDS).order_by("created_at"))
            context["cards"] = _changed_cards(jobs, since)
            context["since"] = _cursor(jobs, since)
    else:
        context["jobs"] = list(jobs.order_by("created_at"))
        _mark_queue_positions(context["jobs"])
        context["since"] = _cursor(context["jobs"])
    status = STOP_POLLING if request.htmx and summary["finished"] else 200
    return render(request, template, context, status=status)


@require_POST
def batch_cancel(request, pk):
    batch = get_batch_for_user(request.user, pk, act=True)
    cancelled = services.batch_cancel_rest(batch=batch, viewer=request.user)
    messages.info(
        request,
        f"Cancelled {cancelled} job(s). Any Veo had already accepted may still be billed.",
    )
    return redirect("jobs:batch", pk=pk)


@require_POST
def batch_retry(request, pk):
    batch = get_batch_for_user(request.user, pk, act=True)
    try:
        retried = services.batch_retry_failed(batch=batch, owner=request.user)
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, f"Retrying {retried} failed job(s) in this batch.")
    return redirect("jobs:batch", pk=pk)


@require_POST
def batch_share(request, pk):
    """Share the batch, and so every job in it, with the team; or make it private again."""
    batch = get_batch_for_user(request.user, pk, act=True)
    _share(request, batch, "This batch")
    return redirect("jobs:batch", pk=pk)


@require_GET
def batch_zip(request, pk):
    batch = get_batch_for_user(request.user, pk)
    entries = []
    jobs = batch.jobs.visible_to(request.user).filter(status="completed").order_by("created_at")
    for n, job in enumerate(jobs, 1):
        if storage.exists(job.video_url):
            words = "".join(c if c.isalnum() else "-" for c in job.prompt_text[:40]).strip("-")
            entries.append((f"{n:03d}-{words or 'video'}.mp4", job.video_url))
    if not entries:
        messages.error(request, "No finished videos in this batch yet.")
        return redirect("jobs:batch", pk=pk)
    response = StreamingHttpResponse(stream_zip(entries), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk[:8]}.zip"'
    return response


# --- Files, sent after the access check -----------------------------------------------


@require_GET
def job_video(request, pk):
    job = get_job_for_user(request.user, pk)
    if not job.video_url:
        raise Http404("This job has no video yet.")
    return serve_file(request, job.video_url, content_type="video/mp4")


@require_GET
def resource_file(request, pk, resource_id):
    job = get_job_for_user(request.user, pk)
    resource = get_object_or_404(VideoResource, job=job, pk=resource_id)
    if not resource.file_path:
        raise Http404("This resource has no local file.")
    return serve_file(request, resource.file_path, content_type=resource.content_type)
