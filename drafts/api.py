"""The drafts router: the seed's save-draft, get-drafts and delete-draft, and runs.

    GET    drafts?scope=mine|shared|all&q=   [JsonDraft], nextCursor (always null)
    POST   drafts                            201 JsonDraft
    GET    drafts/<id>                       JsonDraft (with its versions)
    PUT    drafts/<id>                       JsonDraft, a new version (owner or staff)
    DELETE drafts/<id>                       null (owner or staff)
    POST   drafts/<id>/run                   201 {batchId, jobIds, estimatedCostUsd};
                                             Idempotency-Key honoured

Same envelope, authentication and permission rules as jobs.api: another person's
private draft is a 404, changing someone else's shared draft a 403.
"""

from typing import Literal

from django.core.exceptions import PermissionDenied, ValidationError
from ninja import Query, Router, Schema

from jobs import options as job_options
from jobs.api import idempotency
from jobs.api.creation import budget_refused, check_rate_limit, refused
from jobs.api.schemas import (
    DraftDetailOut,
    DraftIn,
    DraftOut,
    DraftUpdateIn,
    RunIn,
    RunOut,
    VersionOut,
    stored_options,
)
from jobs.pricing import BudgetExceeded
from videostudio.envelope import (
    ApiError,
    Envelope,
    ListEnvelope,
    error_responses,
    invalid,
    links,
    ok,
    ok_list,
    read_body,
    request_body,
)

from . import services
from .access import can_edit, get_draft_for_user

router = Router(tags=["drafts"], by_alias=True)  # camelCase in the document too
MAX_DRAFTS = 500
# The operations that take a draft's id, for the link from the answer that creates one.
DRAFT_OPERATIONS = ("getDraft", "updateDraft", "runDraft", "deleteDraft")


class DraftFilters(Schema):
    scope: Literal["mine", "shared", "all"] = "all"
    q: str = ""


def draft_out(draft, *, user, versions=False):
    fields = {
        "id": draft.pk,
        "name": draft.name,
        "prompts": draft.prompts,
        "created_at": draft.created_at,
        "updated_at": draft.updated_at,
        "version": draft.version,
        "visibility": draft.visibility,
        "owner": draft.owner.get_username(),
        "can_edit": can_edit(user, draft),
    }
    if not versions:
        return DraftOut(**fields)
    history = [
        VersionOut(number=v.number, created_at=v.created_at, note=v.note)
        for v in draft.versions.all()
    ]
    return DraftDetailOut(**fields, versions=history)


def _draft(request, draft_id, *, edit=False):
    try:
        return get_draft_for_user(request.user, draft_id, edit=edit)
    except PermissionDenied:
        raise ApiError(403, "Only the draft's owner can change it.") from None


@router.get(
    "drafts",
    url_name="drafts",
    operation_id="listDrafts",
    response={200: ListEnvelope[DraftOut], **error_responses()},
    summary="List drafts (the seed's getDrafts)",
)
def list_drafts(request, filters: Query[DraftFilters]):
    drafts = services.draft_list(user=request.user, scope=filters.scope, query=filters.q)
    return ok_list([draft_out(d, user=request.user) for d in drafts[:MAX_DRAFTS]])


@router.post(
    "drafts",
    url_name="drafts",
    operation_id="createDraft",
    response={201: Envelope[DraftOut], **error_responses(413)},
    summary="Save a new draft (the seed's saveDraft)",
    openapi_extra={
        **request_body(DraftIn),
        **links(201, "draft_id", "$response.body#/data/id", *DRAFT_OPERATIONS),
    },
)
def create_draft(request):
    body, _raw = read_body(request, DraftIn)
    try:
        draft = services.draft_save(
            author=request.user, name=body.name, prompts=body.prompts, visibility=body.visibility
        )
    except ValidationError as exc:
        raise refused(exc) from None
    return ok(draft_out(draft, user=request.user), status=201)


@router.get(
    "drafts/{draft_id}",
    url_name="draft",
    operation_id="getDraft",
    response={200: Envelope[DraftDetailOut], **error_responses()},
    summary="Get a draft with its versions",
)
def get_draft(request, draft_id: str):
    return ok(draft_out(_draft(request, draft_id), user=request.user, versions=True))


@router.put(
    "drafts/{draft_id}",
    url_name="draft",
    operation_id="updateDraft",
    response={200: Envelope[DraftOut], **error_responses(409, 413)},
    summary="Save a new version of a draft (its owner, or staff)",
    openapi_extra=request_body(DraftUpdateIn),
)
def update_draft(request, draft_id: str):
    draft = _draft(request, draft_id, edit=True)
    body, _raw = read_body(request, DraftUpdateIn)
    try:
        draft = services.draft_save(
            author=request.user,
            draft=draft,
            name=draft.name if body.name is None else body.name,
            prompts=draft.prompts if body.prompts is None else body.prompts,
            visibility=body.visibility,
            base_version=body.base_version,
        )
    except services.DraftConflict as exc:
        raise ApiError(409, str(exc)) from None
    except ValidationError as exc:
        raise refused(exc) from None
    return ok(draft_out(draft, user=request.user))


@router.delete(
    "drafts/{draft_id}",
    url_name="draft",
    operation_id="deleteDraft",
    response={200: Envelope[None], **error_responses()},
    summary="Delete a draft (the seed's deleteDraft; its owner, or staff)",
)
def delete_draft(request, draft_id: str):
    services.draft_delete(draft=_draft(request, draft_id, edit=True))
    return ok(None)


@router.post(
    "drafts/{draft_id}/run",
    url_name="run",
    operation_id="runDraft",
    response={201: Envelope[RunOut], **error_responses(409, 413, 429)},
    summary="Run a draft's version as a batch of jobs",
    openapi_extra={
        **request_body(RunIn),
        **links(201, "batch_id", "$response.body#/data/batchId", "getBatch"),
    },
)
def run_draft(request, draft_id: str, idempotency_key: str | None = idempotency.key_header()):
    draft = _draft(request, draft_id)
    body, raw = read_body(request, RunIn)
    number = body.version or draft.version
    if not services.is_version_number(number):
        raise invalid({"version": "Use a version's number, e.g. 3."})
    version = draft.versions.filter(number=number).first()
    if version is None:
        raise ApiError(404, f"This draft has no version {number}.")
    options = {"model": job_options.default_model(), **job_options.defaults()}
    options.update(stored_options(body.options))
    prompt_ids = body.prompt_ids
    if prompt_ids is None:
        prompt_ids = [p["id"] for p in version.prompts]
    elif len(prompt_ids) > services.MAX_PROMPTS:
        raise invalid({"promptIds": f"Use a list of at most {services.MAX_PROMPTS} prompt ids."})

    def create():
        try:
            plan = services.plan_batch(
                version=version, prompt_ids=prompt_ids, options=options, csv_text=body.values
            )
            check_rate_limit(request.user, count=len(plan.jobs))
            batch = services.draft_run(
                user=request.user,
                draft=draft,
                version=version,
                plan=plan,
                notify_by_email=body.notify_by_email,
            )
        except BudgetExceeded as exc:
            raise budget_refused(exc) from None
        except ValidationError as exc:
            raise refused(exc) from None
        return ok(
            RunOut(
                batch_id=batch.pk,
                job_ids=list(batch.jobs.order_by("created_at").values_list("pk", flat=True)),
                estimated_cost_usd=str(plan.estimated_cost),
            ),
            status=201,
        )

    return idempotency.create_once(request, idempotency_key, raw, create)
