"""The seed's draft channels over HTTP (save-draft, get-drafts, delete-draft), and runs.

    GET    drafts?scope=mine|shared|all&q=   {drafts: [JsonDraft]}
    POST   drafts                            201 JsonDraft
    GET    drafts/<id>                       JsonDraft (with its versions)
    PUT    drafts/<id>                       JsonDraft, a new version (owner or staff)
    DELETE drafts/<id>                       null (owner or staff)
    POST   drafts/<id>/run                   201 {batchId, jobIds, estimatedCostUsd};
                                             Idempotency-Key honoured

Same envelope, authentication and permission rules as jobs.api: another person's
private draft is a 404, changing someone else's shared draft a 403.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError

from jobs import options as job_options
from jobs.api import (
    ApiError,
    api_view,
    check_rate_limit,
    create_once,
    invalid,
    json_body,
    ok,
)
from jobs.pricing import BudgetExceeded
from jobs.serializers import camel

from . import services
from .access import can_edit, get_draft_for_user

MAX_DRAFTS = 500
# What a run may set: API name -> stored name.
RUN_OPTIONS = {job_options.OPTIONS[name].api_name: name for name in job_options.DRAFT_OPTIONS}


def serialize_draft(draft, *, user, versions=False):
    data = {
        "id": draft.pk,
        "name": draft.name,
        "prompts": draft.prompts,
        "createdAt": _iso(draft.created_at),
        "updatedAt": _iso(draft.updated_at),
        "version": draft.version,
        "visibility": draft.visibility,
        "owner": draft.owner.get_username(),
        "canEdit": can_edit(user, draft),
    }
    if versions:
        data["versions"] = [
            {"number": v.number, "createdAt": _iso(v.created_at), "note": v.note}
            for v in draft.versions.all()
        ]
    return data


def _iso(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _draft(request, draft_id, *, edit=False):
    try:
        return get_draft_for_user(request.user, draft_id, edit=edit)
    except PermissionDenied:
        raise ApiError(403, "Only the draft's owner can change it.") from None


def _refused(exc):
    if hasattr(exc, "error_dict"):
        fields = {camel(name): " ".join(messages) for name, messages in exc.message_dict.items()}
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        return ApiError(400, f"The request has invalid fields. {summary}", fields=fields)
    return ApiError(400, " ".join(exc.messages))


@api_view(["GET", "POST"])
def draft_list(request):
    if request.method == "POST":
        body = json_body(request, max_bytes=settings.MAX_BODY_BYTES)
        try:
            draft = services.draft_save(
                author=request.user,
                name=body.get("name", ""),
                prompts=body.get("prompts"),
                visibility=body.get("visibility"),
            )
        except ValidationError as exc:
            raise _refused(exc) from None
        return ok(serialize_draft(draft, user=request.user), status=201)
    scope = request.GET.get("scope", "all")
    if scope not in ("mine", "shared", "all"):
        raise ApiError(
            400, "scope must be mine, shared or all.", fields={"scope": "mine, shared or all"}
        )
    drafts = services.draft_list(user=request.user, scope=scope, query=request.GET.get("q", ""))
    return ok({"drafts": [serialize_draft(d, user=request.user) for d in drafts[:MAX_DRAFTS]]})


@api_view(["GET", "PUT", "DELETE"])
def draft_detail(request, draft_id):
    if request.method == "GET":
        draft = _draft(request, draft_id)
        return ok(serialize_draft(draft, user=request.user, versions=True))
    draft = _draft(request, draft_id, edit=True)
    if request.method == "DELETE":
        services.draft_delete(draft=draft)
        return ok(None)
    body = json_body(request, max_bytes=settings.MAX_BODY_BYTES)
    try:
        draft = services.draft_save(
            author=request.user,
            draft=draft,
            name=body.get("name", draft.name),
            prompts=body.get("prompts", draft.prompts),
            visibility=body.get("visibility"),
            base_version=body.get("baseVersion"),
        )
    except services.DraftConflict as exc:
        raise ApiError(409, str(exc)) from None
    except ValidationError as exc:
        raise _refused(exc) from None
    return ok(serialize_draft(draft, user=request.user))


@api_view(["POST"])
def draft_run(request, draft_id):
    draft = _draft(request, draft_id)
    body = json_body(request, max_bytes=settings.MAX_BODY_BYTES)
    number = body.get("version") or draft.version
    if not services.is_version_number(number):
        raise invalid({"version": "Use a version's number, e.g. 3."})
    version = draft.versions.filter(number=number).first()
    if version is None:
        raise ApiError(404, f"This draft has no version {number}.")
    options = _run_options(body.get("options"))
    prompt_ids = body.get("promptIds")
    if prompt_ids is None:
        prompt_ids = [p["id"] for p in version.prompts]
    elif (
        not isinstance(prompt_ids, list)
        or len(prompt_ids) > services.MAX_PROMPTS
        or not all(isinstance(i, str) for i in prompt_ids)
    ):
        raise invalid(
            {"promptIds": f"Use a list of at most {services.MAX_PROMPTS} prompt ids (strings)."}
        )
    notify = body.get("notifyByEmail", False)
    if not isinstance(notify, bool):
        raise invalid({"notifyByEmail": "Use true or false."})

    def create():
        try:
            plan = services.plan_batch(
                version=version,
                prompt_ids=prompt_ids,
                options=options,
                csv_text=body.get("values", ""),
            )
            check_rate_limit(request.user, count=len(plan.jobs))
            batch = services.draft_run(
                user=request.user,
                draft=draft,
                version=version,
                plan=plan,
                notify_by_email=notify,
            )
        except BudgetExceeded as exc:
            raise ApiError(403, " ".join(exc.messages)) from None
        except ValidationError as exc:
            raise _refused(exc) from None
        return ok(
            {
                "batchId": batch.pk,
                "jobIds": list(batch.jobs.order_by("created_at").values_list("pk", flat=True)),
                "estimatedCostUsd": str(plan.estimated_cost),
            },
            status=201,
        )

    return create_once(request, body, create)


def _run_options(raw):
    """Return a run's options, stored names, defaults filled in; a 400 naming bad ones."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise invalid({"options": 'Use an object, e.g. {"resolution": "720p"}.'})
    unknown = set(raw) - set(RUN_OPTIONS)
    if unknown:
        raise invalid({f"options.{k}": "Not an option." for k in sorted(unknown)})
    try:
        chosen = job_options.clean_values({RUN_OPTIONS[k]: v for k, v in raw.items()})
    except ValidationError as exc:
        raise invalid(
            {f"options.{camel(k)}": " ".join(v) for k, v in exc.message_dict.items()}
        ) from None
    return {"model": job_options.default_model(), **job_options.defaults(), **chosen}
