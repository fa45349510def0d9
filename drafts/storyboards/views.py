"""The storyboard pages: the list, the board (one poll for its live takes and cut), shots,
takes, picks, trims, "Generate all" with its confirmation, versions and cuts."""

from collections import defaultdict

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from jobs import frames, pricing, storage
from jobs.models import VideoCreationJob
from jobs.serving import serve_file
from videostudio.links import Links
from videostudio.pagination import page_of

from . import services
from .access import can_work, get_cut, get_shot, get_storyboard_for_user, get_take, is_owner
from .forms import ShotForm, StoryboardForm, TrimForm
from .models import Cut, Storyboard, Take

PER_PAGE = 20


def _errors(exc):
    return " ".join(exc.messages)


def _back(storyboard, anchor=""):
    return redirect(f"{storyboard.get_absolute_url()}{anchor}")


# --- List and create -------------------------------------------------------------------


@require_GET
def storyboard_list(request):
    storyboards = (
        Storyboard.objects.visible_to(request.user)
        .select_related("owner")
        .annotate(shot_count=Count("shots"))
        .order_by("-updated_at", "pk")
    )
    page = page_of(storyboards, request.GET.get("page"), per_page=PER_PAGE)
    return render(request, "storyboards/list.html", {"page": page, "form": StoryboardForm()})


@require_http_methods(["GET", "POST"])
def storyboard_new(request):
    form = StoryboardForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            storyboard = services.storyboard_create(owner=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Created {storyboard.name}. Add its first shot.")
            return redirect(storyboard)
    status = 400 if request.method == "POST" else 200
    return render(request, "storyboards/new.html", {"form": form}, status=status)


def _add_errors(form, exc):
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# --- The board -------------------------------------------------------------------------


# What the board links each shot and take to (videostudio.links: one reverse() a name);
# a take's review page is its job's.
SHOT_LINKS = {
    "compare": "storyboards:compare",
    "pick": "storyboards:pick",
    "take_new": "storyboards:take-new",
    "edit": "storyboards:shot-edit",
    "move": "storyboards:shot-move",
    "trim": "storyboards:trim",
    "delete": "storyboards:shot-delete",
}
TAKE_LINKS = {"video": "storyboards:take-video", "poster": "storyboards:take-poster"}
REVIEW_LINKS = {"review": ("review:video", "job")}
# What the board, its totals and its cut's signature read of each take and its job: the
# rest of a job's row (its Google operation, lease, files, search text) it leaves unread.
BOARD_TAKE_FIELDS = [
    "shot_id",
    "job_id",
    "number",
    *(
        f"job__{name}"
        for name in (
            "status",
            "progress",
            "error",
            "prompt_text",
            "options",
            "model",
            "actual_cost_usd",
            "estimated_cost_usd",
            "review_state",
            "metadata",
        )
    ),
]


def _board_context(request, storyboard, *, version=None):
    """Return everything the board shows, in a fixed number of queries.

    Every take of the board is read once, with its job; a shot's picked take is one of
    them (take_pick only picks a take of that shot), so the shots are read without
    reading the picked takes and their jobs a second time. The takes come in their
    numbers' order: the shots' own order would join the shots and the storyboard to sort.
    """
    # The version the board's poll sends back, to be answered 204 while nothing changed:
    # read before the board, so that a write between the two is shown by the next poll.
    version = version or services.board_version(storyboard)
    shots = list(storyboard.shots.order_by("position", "created_at"))
    takes, by_pk = defaultdict(list), {}
    for take in (
        Take.objects.filter(shot__storyboard=storyboard)
        .select_related("job")
        .only(*BOARD_TAKE_FIELDS)
        .order_by("number")
    ):
        takes[take.shot_id].append(take)
        by_pk[take.pk] = take
    shot_links = Links(SHOT_LINKS, storyboard.pk)
    take_links, review_links = Links(TAKE_LINKS, storyboard.pk), Links(REVIEW_LINKS)
    for take in by_pk.values():
        take.links = {**take_links(take.pk), **review_links(take.job_id)}
        take.done = take.job.status == VideoCreationJob.Status.COMPLETED
        take.seed = (take.job.options or {}).get("seed")  # a missing key costs an exception
    for shot in shots:
        shot.storyboard = storyboard
        shot.links = shot_links(shot.pk)
        if shot.picked_id in by_pk:
            shot.picked = by_pk[shot.picked_id]
        shot.all_takes = takes.get(shot.pk, [])
        shot.running = [t for t in shot.all_takes if not t.job.is_finished]
        if shot.picked is not None:
            shot.picked_seconds = services.take_duration(shot.picked)
    ready, newest = services.latest_cut(storyboard)
    signature = services.current_signature(storyboard, shots)
    # A chained run is live between its takes too: the next one starts when one ends.
    live = (
        storyboard.chaining
        or any(shot.running for shot in shots)
        or (newest is not None and newest.is_live)
    )
    return {
        "storyboard": storyboard,
        "board_version": version,
        "shots": shots,
        "totals": services.storyboard_totals(storyboard, shots, by_pk.values()),
        "cut": ready,
        "newest_cut": newest,
        "cut_stale": ready is not None and signature != ready.signature,
        "can_assemble": signature is not None,
        "live": live,
        "can_work": can_work(request.user, storyboard),
        "is_owner": is_owner(request.user, storyboard),
    }


@require_GET
def storyboard_detail(request, pk):
    storyboard = get_storyboard_for_user(request.user, pk)
    context = _board_context(request, storyboard)
    context["shot_form"] = ShotForm(initial={"duration_seconds": 8})
    context["settings_form"] = StoryboardForm(
        initial={
            "name": storyboard.name,
            "model": storyboard.model,
            "aspect_ratio": storyboard.aspect_ratio,
            "resolution": storyboard.resolution,
            "visibility": storyboard.visibility,
        }
    )
    return render(request, "storyboards/detail.html", context)


@require_GET
def storyboard_status(request, pk):
    """The board's one poll: 204 while nothing changed since the version the page shows
    (`since`), else the strip, takes and cut re-rendered; 286 once nothing is live."""
    storyboard = get_storyboard_for_user(request.user, pk)
    version = services.board_version(storyboard)
    if request.GET.get("since") == version:
        return HttpResponse(status=204)  # nothing new: the board stays as it is
    context = _board_context(request, storyboard, version=version)
    response = render(request, "storyboards/detail.html#board", context)
    if not context["live"]:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_POST
def storyboard_settings(request, pk):
    storyboard = get_storyboard_for_user(request.user, pk, own=True)
    form = StoryboardForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return _back(storyboard)
    try:
        services.storyboard_update(storyboard=storyboard, author=request.user, **form.cleaned_data)
    except (ValidationError, services.StoryboardConflict) as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, "Saved the storyboard's settings.")
    return _back(storyboard)


def _message(exc):
    return _errors(exc) if isinstance(exc, ValidationError) else str(exc)


@require_POST
def storyboard_delete(request, pk):
    storyboard = get_storyboard_for_user(request.user, pk, own=True)
    services.storyboard_delete(storyboard=storyboard)
    messages.success(request, f"Deleted {storyboard.name}. Its takes are kept as jobs.")
    return redirect("storyboards:list")


@require_GET
def storyboard_versions(request, pk):
    storyboard = get_storyboard_for_user(request.user, pk)
    versions = storyboard.versions.select_related("author")[:100]
    context = {
        "storyboard": storyboard,
        "versions": versions,
        "is_owner": is_owner(request.user, storyboard),
    }
    return render(request, "storyboards/versions.html", context)


@require_POST
def storyboard_restore(request, pk, number):
    # The owner's: a version brings back the name and defaults, which only they change.
    storyboard = get_storyboard_for_user(request.user, pk, own=True)
    version = get_object_or_404(storyboard.versions, number=number)
    try:
        services.storyboard_restore(storyboard=storyboard, version=version, author=request.user)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, f"Restored version {number} as version {storyboard.version}.")
    return _back(storyboard)


@require_http_methods(["GET", "POST"])
def storyboard_generate(request, pk):
    """Confirm "Generate all" (how many jobs, what they cost), then run it as one batch."""
    storyboard = get_storyboard_for_user(request.user, pk, work=True)
    chain = request.POST.get("chain") == "on" or request.GET.get("chain") == "on"
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            _batch, plan = services.storyboard_generate_all(
                storyboard=storyboard, user=request.user, chain=chain
            )
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        else:
            messages.success(
                request,
                f"Started {len(plan.now)} take{'s' if len(plan.now) != 1 else ''}"
                + (f"; {len(plan.later)} more follow in a chain." if plan.later else "."),
            )
        return _back(storyboard)
    plan = services.generate_all_plan(storyboard, chain=chain)
    over_budget = None
    try:
        pricing.check_budgets(owner=request.user, amount=plan.cost)
    except pricing.BudgetExceeded as exc:
        over_budget = _errors(exc)
    context = {"storyboard": storyboard, "plan": plan, "chain": chain, "over_budget": over_budget}
    return render(request, "storyboards/generate.html", context)


# --- Shots -----------------------------------------------------------------------------


def _uploaded_frames(request, form):
    uploads = request.FILES.getlist("images")
    return [frames.read_frame(f, max_bytes=settings.VEO_IMAGE_MAX_BYTES) for f in uploads]


@require_POST
def shot_add(request, pk):
    storyboard = get_storyboard_for_user(request.user, pk, work=True)
    form = ShotForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            images = _uploaded_frames(request, form)
            services.shot_add(
                storyboard=storyboard,
                author=request.user,
                position=form.cleaned_data.get("position"),
                images=images,
                **form.shot_values(),
            )
        except (ValidationError, services.StoryboardConflict) as exc:
            _add_errors(form, exc) if isinstance(exc, ValidationError) else form.add_error(
                None, str(exc)
            )
        else:
            messages.success(request, f"Added shot {storyboard.shots.count()}.")
            return _back(storyboard, "#shots")
    context = _board_context(request, storyboard)
    context["shot_form"] = form
    context["settings_form"] = None
    return render(request, "storyboards/detail.html", context, status=400)


@require_http_methods(["GET", "POST"])
def shot_edit(request, pk, shot):
    storyboard = get_storyboard_for_user(request.user, pk, work=True)
    shot = get_shot(storyboard, shot)
    initial = {
        "prompt": shot.prompt,
        "task": shot.task,
        "duration_seconds": shot.duration_seconds,
        "seed": shot.options.get("seed"),
        "negative_prompt": shot.options.get("negative_prompt", ""),
        "notes": shot.notes,
    }
    form = ShotForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            uploads = _uploaded_frames(request, form)
            services.shot_update(
                shot=shot, author=request.user, images=uploads or None, **form.shot_values()
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        except services.StoryboardConflict as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Saved shot {shot.position}.")
            return _back(storyboard, f"#shot-{shot.pk}")
    status = 400 if request.method == "POST" else 200
    context = {"storyboard": storyboard, "shot": shot, "form": form}
    return render(request, "storyboards/shot_edit.html", context, status=status)


@require_POST
def shot_delete(request, pk, shot):
    storyboard = get_storyboard_for_user(request.user, pk, work=True)
    shot = get_shot(storyboard, shot)
    services.shot_delete(shot=shot, author=request.user)
    messages.success(request, f"Removed shot {shot.position}. Its takes are kept as jobs.")
    return _back(storyboard, "#shots")


@require_POST
def shot_move(request, pk, shot):
    """Move a shot: to a position (drag and drop posts one), or up or down by one."""
    storyboard = get_storyboard_for_user(request.user, pk, work=True)
    shot = get_shot(storyboard, shot)
    direction = request.POST.get("direction")
    to = {"up": shot.position - 1, "down": shot.position + 1}.get(direction, request.POST.get("to"))
    try:
        services.shot_move(shot=shot, author=request.user, to=to)
    except ValidationError as exc:
        if request.htmx:
            return HttpResponse(_errors(exc), status=400)
        messages.error(request, _errors(exc))
    if request.htmx:
        return render(request, "storyboards/detail.html#board", _board_context(request, storyboard))
    return _back(storyboard, f"#shot-{shot.pk}")


# --- Takes, picks, trims ---------------------------------------------------------------


@require_POST
def take_new(request, pk, shot):
    storyboard = get_storyboard_for_user(request.user, pk, work=True)
    shot = get_shot(storyboard, shot)
    try:
        take = services.take_generate(shot=shot, user=request.user)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, f"Started take {take.number} of shot {shot.position}.")
    return _back(storyboard, f"#shot-{shot.pk}")


@require_POST
def take_pick(request, pk, shot):
    storyboard = get_storyboard_for_user(request.user, pk, work=True)
    shot = get_shot(storyboard, shot)
    take_pk = request.POST.get("take", "")
    take = get_take(storyboard, take_pk) if take_pk else None
    try:
        services.take_pick(shot=shot, take=take, author=request.user)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        if take:
            messages.success(request, f"Picked take {take.number} for shot {shot.position}.")
    return _back(storyboard, f"#shot-{shot.pk}")


@require_POST
def shot_trim(request, pk, shot):
    storyboard = get_storyboard_for_user(request.user, pk, work=True)
    shot = get_shot(storyboard, shot)
    form = TrimForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the in and out points in seconds, like 1.5.")
        return _back(storyboard, f"#shot-{shot.pk}")
    try:
        services.shot_set_trim(
            shot=shot,
            author=request.user,
            trim_in=form.cleaned_data.get("trim_in"),
            trim_out=form.cleaned_data.get("trim_out"),
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, f"Trimmed shot {shot.position}.")
    return _back(storyboard, f"#shot-{shot.pk}")


@require_GET
def take_video(request, pk, take):
    """A take's video, for anyone who may see the storyboard (the job may be a teammate's)."""
    take = get_take(get_storyboard_for_user(request.user, pk), take)
    if not take.job.video_url:
        raise Http404("This take has no video yet.")
    return serve_file(request, take.job.video_url, content_type="video/mp4")


@require_GET
def take_poster(request, pk, take):
    take = get_take(get_storyboard_for_user(request.user, pk), take)
    name = storage.relative_resource(take.job_id, "image", storage.POSTER_NAME)
    return serve_file(request, name, content_type="image/jpeg")


# --- Cuts ------------------------------------------------------------------------------


@require_POST
def cut_new(request, pk):
    storyboard = get_storyboard_for_user(request.user, pk, work=True)
    try:
        cut = services.cut_request(storyboard=storyboard, user=request.user)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        if cut.created_by_id == request.user.pk and cut.status == Cut.Status.QUEUED:
            messages.success(request, "Assembling the cut; it plays here when it is ready.")
        else:
            messages.info(request, "A cut is already being assembled; it plays here when ready.")
    return _back(storyboard, "#cut")


@require_GET
def cut_detail(request, pk, cut):
    storyboard = get_storyboard_for_user(request.user, pk)
    cut = get_cut(storyboard, cut)
    jobs = VideoCreationJob.objects.filter(pk__in=[s["jobId"] for s in cut.edit_list]).filter(
        Q(owner=request.user) | Q(take__shot__storyboard=storyboard)
    )
    present = set(jobs.values_list("pk", flat=True))
    context = {"storyboard": storyboard, "cut": cut, "present": present}
    return render(request, "storyboards/cut.html", context)


def _cut_file(request, pk, cut, filename, content_type):
    storyboard = get_storyboard_for_user(request.user, pk)
    cut = get_cut(storyboard, cut)
    if cut.status != Cut.Status.READY:
        raise Http404("This cut is not ready.")
    name = storage.relative_storyboard_file(storyboard.pk, f"cuts/{cut.pk}/{filename}")
    download = f"{storyboard.name[:60]}-cut.mp4" if filename == "cut.mp4" else None
    return serve_file(request, name, content_type=content_type, filename=download)


@require_GET
def cut_video(request, pk, cut):
    return _cut_file(request, pk, cut, "cut.mp4", "video/mp4")


@require_GET
def cut_poster(request, pk, cut):
    return _cut_file(request, pk, cut, "poster.jpg", "image/jpeg")


@require_GET
def cut_edit_list(request, pk, cut):
    storyboard = get_storyboard_for_user(request.user, pk)
    cut = get_cut(storyboard, cut)
    if cut.status != Cut.Status.READY:
        raise Http404("This cut is not ready.")
    body = {
        "storyboard": storyboard.pk,
        "cut": cut.pk,
        "durationSeconds": cut.duration_seconds,
        "streamCopy": cut.stream_copy,
        "segments": cut.edit_list,
    }
    return JsonResponse(body, json_dumps_params={"indent": 2})
