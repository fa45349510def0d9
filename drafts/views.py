import json
from collections import defaultdict

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from jobs.models import Batch, VideoCreationJob
from videostudio.pagination import page_of

from . import services
from .access import can_edit, get_draft_for_user
from .forms import DraftForm, ImportForm, RunForm
from .models import Draft

DRAFTS_PER_PAGE = 20
TABS = {"mine": "Mine", "shared": "Shared with the team"}


def _errors(exc):
    return " ".join(exc.messages)


def _redirect(request, to):
    """Redirect, telling htmx to load the whole page rather than swap a fragment."""
    target = to if isinstance(to, str) else to.get_absolute_url()
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


@require_GET
def library(request):
    tab = request.GET.get("tab") if request.GET.get("tab") in TABS else "mine"
    query = request.GET.get("q", "").strip()
    # A row shows the prompts' count, never the prompts: leave the JSON unread.
    drafts = services.draft_list(user=request.user, scope=tab, query=query).defer(
        "prompts", "search_text"
    )
    if tab == "mine":  # every row is "yours": no owner to show, so none to join
        drafts = drafts.select_related(None)
    page = page_of(drafts, request.GET.get("page"), per_page=DRAFTS_PER_PAGE)
    template = "drafts/library.html"
    if request.htmx and request.htmx.target == "results":
        template += "#results"
    context = {"page": page, "tab": tab, "tabs": TABS, "query": query, "import_form": ImportForm()}
    return render(request, template, context)


# --- The editor ----------------------------------------------------------------------------


def _rows_from_post(data):
    """Return the editor's prompt rows as posted, keeping each prompt's id and options."""
    rows = []
    for prompt_id, text, options in zip(
        data.getlist("prompt_id"),
        data.getlist("prompt_text"),
        data.getlist("prompt_options"),
        strict=False,
    ):
        row = {"id": prompt_id or services.new_prompt_id(), "text": text}
        try:
            parsed = json.loads(options) if options else {}
        except (ValueError, RecursionError):
            # Kept as sent, so that saving refuses it with the prompt named.
            parsed = options
        if parsed:
            row["options"] = parsed
        rows.append(row)
    return rows


def _apply(op, rows):
    """Apply an editor button (add, remove:N, up:N, down:N) to the rows."""
    action, _, index = op.partition(":")
    if action == "add":
        rows.append({"id": services.new_prompt_id(), "text": ""})
        return rows
    if not index.isdigit() or int(index) >= len(rows):
        return rows
    i = int(index)
    if action == "remove":
        rows.pop(i)
    elif action == "up" and i > 0:
        rows[i - 1], rows[i] = rows[i], rows[i - 1]
    elif action == "down" and i < len(rows) - 1:
        rows[i + 1], rows[i] = rows[i], rows[i + 1]
    return rows


@require_http_methods(["GET", "POST"])
def draft_new(request):
    return _editor(request, draft=None)


@require_http_methods(["GET", "POST"])
def draft_edit(request, pk):
    return _editor(request, draft=get_draft_for_user(request.user, pk, edit=True))


def _editor(request, *, draft):
    mode, json_error, status = "list", "", 200
    if request.method == "GET":
        initial = {"name": "", "visibility": Draft.Visibility.PRIVATE, "base_version": None}
        if draft is not None:
            initial = {
                "name": draft.name,
                "visibility": draft.visibility,
                "base_version": draft.version,
            }
        form = DraftForm(initial=initial)
        rows = list(draft.prompts) if draft else [{"id": services.new_prompt_id(), "text": ""}]
        json_text = json.dumps(rows, indent=2, ensure_ascii=False)
        return _render_editor(request, draft, form, rows, mode, json_text, json_error, status)

    form = DraftForm(request.POST)
    mode = "json" if request.POST.get("mode") == "json" else "list"
    op = request.POST.get("op", "save")
    rows = _rows_from_post(request.POST)
    json_text = request.POST.get("prompts_json", "")
    if op == "json":
        mode, json_text = "json", json.dumps(rows, indent=2, ensure_ascii=False)
    elif op == "list":
        try:
            rows = services.normalise_prompts(services.parse_json(json_text))
            mode = "list"
        except ValidationError as exc:
            json_error, status = _errors(exc), 400
    elif op != "save":
        rows = _apply(op, rows)
    else:
        saved, json_error = _save(request, draft, form, mode, rows, json_text)
        if saved is not None:
            messages.success(request, f"Saved {saved.name}, version {saved.version}.")
            return _redirect(request, saved)
        status = 400
    return _render_editor(request, draft, form, rows, mode, json_text, json_error, status)


def _save(request, draft, form, mode, rows, json_text):
    """Save the editor's content; return (draft, "") or (None, error shown beside the prompts)."""
    if not form.is_valid():
        return None, ""
    try:
        if mode == "json":
            prompts = services.parse_json(json_text)
        else:
            prompts = [row for row in rows if row["text"].strip()]
        saved = services.draft_save(
            author=request.user,
            draft=draft,
            name=form.cleaned_data["name"],
            prompts=prompts,
            visibility=form.cleaned_data["visibility"],
            base_version=form.cleaned_data["base_version"],
        )
    except services.DraftConflict as exc:
        return None, str(exc)
    except ValidationError as exc:
        if hasattr(exc, "error_dict") and "name" in exc.error_dict:
            form.add_error("name", exc.error_dict["name"])
            return None, ""
        return None, _errors(exc)
    return saved, ""


def _render_editor(request, draft, form, rows, mode, json_text, json_error, status):
    context = {
        "draft": draft,
        "form": form,
        "rows": [{**row, "options_json": json.dumps(row.get("options") or {})} for row in rows],
        "mode": mode,
        "json_text": json_text,
        "json_error": json_error,
    }
    template = "drafts/editor.html"
    if request.htmx and request.htmx.target == "editor":
        # The form alone; its errors come as 422, the status base.html's htmx config swaps.
        template += "#editor"
        status = 422 if status == 400 else status
    return render(request, template, context, status=status)


# --- One draft -----------------------------------------------------------------------------


@require_GET
def draft_detail(request, pk):
    draft = get_draft_for_user(request.user, pk)
    jobs = (
        VideoCreationJob.objects.for_user(request.user)
        .filter(draft=draft)
        .select_related("draft_version")
        .order_by("-created_at")[:200]
    )
    by_prompt = defaultdict(list)
    for job in jobs:
        by_prompt[job.prompt_id].append(job)
    prompts = [{**prompt, "jobs": by_prompt.get(prompt["id"], [])} for prompt in draft.prompts]
    context = {
        "draft": draft,
        "prompts": prompts,
        "versions": draft.versions.select_related("author")[:50],
        "can_edit": can_edit(request.user, draft),
        # The viewer's own runs of this draft; every batch is on the batch list.
        "batches": Batch.objects.filter(owner=request.user, draft_version__draft=draft)
        .with_counts()
        .select_related("draft_version")
        .defer("draft_version__prompts", "options")
        .order_by("-created_at")[:20],
    }
    return render(request, "drafts/detail.html", context)


@require_POST
def draft_share(request, pk):
    draft = get_draft_for_user(request.user, pk, edit=True)
    visibility = request.POST.get("visibility", "")
    try:
        services.draft_set_visibility(draft=draft, visibility=visibility)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, f"{draft.name} is now: {draft.get_visibility_display().lower()}.")
    return redirect(draft)


@require_POST
def draft_delete(request, pk):
    draft = get_draft_for_user(request.user, pk, edit=True)
    services.draft_delete(draft=draft)
    messages.success(request, f"Deleted {draft.name}. Videos it made are kept.")
    return redirect("drafts:library")


@require_POST
def draft_duplicate(request, pk):
    copy = services.draft_duplicate(draft=get_draft_for_user(request.user, pk), user=request.user)
    messages.success(request, f"Copied into your library as {copy.name}.")
    return redirect(copy)


@require_POST
def draft_restore(request, pk, number):
    draft = get_draft_for_user(request.user, pk, edit=True)
    version = get_object_or_404(draft.versions, number=number)
    draft = services.draft_restore(draft=draft, version=version, author=request.user)
    messages.success(request, f"Restored version {number} as version {draft.version}.")
    return redirect(draft)


@require_GET
def draft_export(request, pk):
    draft = get_draft_for_user(request.user, pk)
    body = json.dumps(services.draft_export(draft), indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    filename = "".join(c if c.isalnum() or c in "-_" else "-" for c in draft.name)[:60] or "draft"
    response["Content-Disposition"] = f'attachment; filename="{filename}.json"'
    return response


@require_POST
def draft_import(request):
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a JSON file to import.")
        return redirect("drafts:library")
    try:
        draft = services.draft_import(author=request.user, uploaded=form.cleaned_data["file"])
    except ValidationError as exc:
        messages.error(request, f"Nothing was imported: {_errors(exc)}")
        return redirect("drafts:library")
    messages.success(request, f"Imported {draft.name} with {len(draft.prompts)} prompts.")
    return redirect(draft)


# --- Running a draft as a batch ----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def draft_run(request, pk):
    draft = get_draft_for_user(request.user, pk)
    number = request.POST.get("version") or str(draft.version)
    if not (number.isascii() and number.isdecimal() and len(number) <= 10):
        raise Http404("This draft has no such version.")
    version = get_object_or_404(draft.versions, number=int(number))
    form = RunForm(request.POST or None, version=version)
    if request.method == "POST" and form.is_valid():
        if request.POST.get("confirm") == "yes":
            try:
                batch = services.draft_run(
                    user=request.user,
                    draft=draft,
                    version=version,
                    plan=form.plan,
                    notify_by_email=form.cleaned_data["notify_by_email"],
                )
            except ValidationError as exc:  # a budget, the creation limit, job_create's rules
                form.add_catalog_errors(exc)
                context = {"draft": draft, "version": version, "form": form, "confirming": False}
                return render(request, "drafts/run.html", context, status=400)
            messages.success(request, f"Started {batch.label}.")
            return _redirect(request, batch)
        plan = form.plan
        rows = [(job.text, [job.values.get(n, "") for n in plan.placeholders]) for job in plan.jobs]
        context = {
            "draft": draft,
            "version": version,
            "form": form,
            "plan": plan,
            "plan_rows": rows,
            "confirming": True,
        }
        return render(request, "drafts/run.html", context)
    status = 400 if form.is_bound else 200
    context = {"draft": draft, "version": version, "form": form, "confirming": False}
    return render(request, "drafts/run.html", context, status=status)
