"""The batches router: a batch's live summary (a draft's run makes one)."""

from django.http import Http404
from ninja import Router

from jobs import services
from jobs.access import get_batch_for_user
from videostudio.envelope import ApiError, Envelope, error_responses, ok, read_body, request_body

from .schemas import BatchOut, CountsOut, VisibilityIn

router = Router(tags=["batches"], by_alias=True)  # camelCase in the document too


@router.get(
    "batches/{batch_id}",
    url_name="batch",
    operation_id="getBatch",
    response={200: Envelope[BatchOut], **error_responses()},
    summary="A batch's counts, progress and jobs: poll it until `finished`",
)
def get_batch(request, batch_id: str):
    return ok(_batch_out(request, _batch(request, batch_id)))


@router.patch(
    "batches/{batch_id}",
    url_name="batch",
    operation_id="updateBatch",
    response={200: Envelope[BatchOut], **error_responses(413)},
    summary="Share a batch, and so every job in it, with the team, or make it private (its owner)",
    openapi_extra=request_body(VisibilityIn),
)
def update_batch(request, batch_id: str):
    batch = _batch(request, batch_id, act=True)
    body, _raw = read_body(request, VisibilityIn)
    services.visibility_set(row=batch, visibility=body.visibility)
    return ok(_batch_out(request, batch))


def _batch(request, batch_id, *, act=False):
    """The batch if the caller may see it (else a 404) and, with act, change it (jobs.access's
    PermissionDenied is the API's 403: videostudio.api)."""
    try:
        return get_batch_for_user(request.user, batch_id, act=act)
    except Http404:
        raise ApiError(404, "Batch not found.") from None


def _batch_out(request, batch):
    summary = services.batch_summary(batch, viewer=request.user)
    return BatchOut(
        id=batch.pk,
        label=batch.label,
        created_at=batch.created_at,
        draft_version_id=batch.draft_version_id,
        counts=CountsOut(**{k: summary[k] for k in CountsOut.model_fields}),
        progress=summary["progress"],
        finished=summary["finished"],
        job_ids=list(
            batch.jobs.visible_to(request.user).order_by("created_at").values_list("pk", flat=True)
        ),
        visibility=batch.visibility,
    )
