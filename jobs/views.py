from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import services, storage
from .archive import stream_zip
from .forms import JobForm
from .models import Batch, VideoCreationJob, VideoResource
from .ranges import ranged_file_response

JOBS_PER_PAGE = 20
# htmx stops polling when a response has this status (django-htmx HTTP_STATUS_STOP_POLLING).
STOP_POLLING = 286


def _get_job_for_user(request, pk):
    """Return the job if this user may see it; 404 otherwise, so ids do not leak."""
    return get_object_or_404(VideoCreationJob.objects.for_user(request.user), pk=pk)


def _poll_status(request, job):
    return STOP_POLLING if request.htmx and job.is_finished else 200


@require_http_methods(["GET", "POST"])
def index(request):
    form = JobForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        job = services.job_create(
            owner=request.user,
            prompt_text=form.cleaned_data["prompt_text"],
            model=form.cleaned_data["model"],
            options=form.job_options(),
            image=form.cleaned_data["image"],
            last_frame=form.cleaned_data["last_frame"],
        )
        messages.success(request, "Job queued. This page follows its progress.")
        return redirect(job)
    jobs = VideoCreationJob.objects.for_user(request.user).prefetch_related("resources")
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    _mark_queue_positions(page.object_list)
    status = 400 if form.is_bound else 200
    return render(request, "jobs/index.html", {"form": form, "page": page}, status=status)


def _mark_queue_positions(jobs):
    """Set queue_position (1 = next to be claimed) on the waiting jobs among jobs."""
    if not any(job.status == VideoCreationJob.Status.IDLE for job in jobs):
        return
    order = VideoCreationJob.objects.waiting().values_list("pk", flat=True)
    positions = {pk: n for n, pk in enumerate(order, start=1)}
    for job in jobs:
        job.queue_position = positions.get(job.pk)


@require_GET
def job_card(request, pk):
    job = _get_job_for_user(request, pk)
    _mark_queue_positions([job])
    return render(
        request, "jobs/index.html#job-card", {"job": job}, status=_poll_status(request, job)
    )


@require_GET
def job_detail(request, pk):
    job = _get_job_for_user(request, pk)
    _mark_queue_positions([job])
    template = "jobs/job_detail.html"
    if request.htmx:
        template += "#job-status"
    resources = list(job.resources.all())
    poster = next((r for r in resources if r.filename == storage.POSTER_NAME), None)
    context = {"job": job, "resources": resources, "poster": poster}
    return render(request, template, context, status=_poll_status(request, job))


@require_POST
def job_cancel(request, pk):
    job = _get_job_for_user(request, pk)
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
    job = _get_job_for_user(request, pk)
    try:
        retry = services.job_retry(job=job, owner=request.user)
    except (services.JobStateError, ValidationError) as exc:
        messages.error(request, _message(exc))
        return redirect(job)
    messages.success(request, "Retrying with the same prompt and options as a new job.")
    return redirect(retry)


@require_POST
def job_delete(request, pk):
    job = _get_job_for_user(request, pk)
    try:
        services.job_delete(job=job)
    except services.JobStateError as exc:
        messages.error(request, str(exc))
        return redirect(job)
    messages.success(request, "Deleted the job and its files.")
    return redirect("jobs:index")


def _message(exc):
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


NOTICE_POLL_SECONDS = 10
MAX_NOTICES = 5


@require_GET
def notices(request):
    """Return toasts for the user's jobs and batches that ended since `since`.

    The response replaces the poller with one carrying a new `since`, so nothing is
    written per poll and each end is announced once per open page.
    """
    now = timezone.now()
    since = parse_datetime(request.GET.get("since", "")) or now
    ended = list(
        VideoCreationJob.objects.filter(owner=request.user, completed_at__gt=since)
        .exclude(error=services.CANCELLED_MESSAGE)
        .select_related("batch")
        .order_by("completed_at")[:MAX_NOTICES]
    )
    if ended:
        now = max(now, ended[-1].completed_at)
    batches = {job.batch for job in ended if job.batch_id}
    finished_batches = [
        (batch, services.batch_summary(batch))
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


def _get_batch_for_user(request, pk):
    """Return the batch if it is this user's (or they are staff); 404 otherwise."""
    batches = Batch.objects.select_related("draft_version__draft")
    if not request.user.is_staff:
        batches = batches.filter(owner=request.user)
    return get_object_or_404(batches, pk=pk)


@require_GET
def batch_detail(request, pk):
    batch = _get_batch_for_user(request, pk)
    summary = services.batch_summary(batch)
    template = "jobs/batch.html"
    context = {"batch": batch, "summary": summary}
    if request.htmx:
        template += "#batch-summary"
    else:
        context["jobs"] = batch.jobs.order_by("created_at").prefetch_related("resources")
    status = STOP_POLLING if request.htmx and summary["finished"] else 200
    return render(request, template, context, status=status)


@require_POST
def batch_cancel(request, pk):
    cancelled = services.batch_cancel_rest(batch=_get_batch_for_user(request, pk))
    messages.info(
        request,
        f"Cancelled {cancelled} job(s). Any Veo had already accepted may still be billed.",
    )
    return redirect("jobs:batch", pk=pk)


@require_POST
def batch_retry(request, pk):
    batch = _get_batch_for_user(request, pk)
    try:
        retried = services.batch_retry_failed(batch=batch, owner=request.user)
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, f"Retrying {retried} failed job(s) in this batch.")
    return redirect("jobs:batch", pk=pk)


@require_GET
def batch_zip(request, pk):
    batch = _get_batch_for_user(request, pk)
    entries = []
    for n, job in enumerate(batch.jobs.filter(status="completed").order_by("created_at"), 1):
        path = storage.absolute(job.video_url)
        if path.is_file():
            words = "".join(c if c.isalnum() else "-" for c in job.prompt_text[:40]).strip("-")
            entries.append((f"{n:03d}-{words or 'video'}.mp4", path))
    if not entries:
        messages.error(request, "No finished videos in this batch yet.")
        return redirect("jobs:batch", pk=pk)
    response = StreamingHttpResponse(stream_zip(entries), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk[:8]}.zip"'
    return response


@require_GET
def job_video(request, pk):
    job = _get_job_for_user(request, pk)
    if not job.video_url:
        raise Http404("This job has no video yet.")
    return _serve(request, job.video_url, content_type="video/mp4")


@require_GET
def resource_file(request, pk, resource_id):
    job = _get_job_for_user(request, pk)
    resource = get_object_or_404(VideoResource, job=job, pk=resource_id)
    if not resource.file_path:
        raise Http404("This resource has no local file.")
    return _serve(request, resource.file_path, content_type=resource.content_type)


def _serve(request, relative_path, *, content_type):
    path = storage.absolute(relative_path)
    if not path.is_file():
        raise Http404("The file is missing from the data directory.")
    response = ranged_file_response(request, path, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response
