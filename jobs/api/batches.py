"""The batches router: a batch's live summary (a draft's run makes one)."""

from django.http import Http404
from ninja import Router

from jobs import services
from jobs.access import get_batch_for_user
from videostudio.envelope import ApiError, Envelope, error_responses, ok

from .schemas import BatchOut, CountsOut

router = Router(tags=["batches"], by_alias=True)  # camelCase in the document too


@router.get(
    "batches/{batch_id}",
    url_name="batch",
    operation_id="getBatch",
    response={200: Envelope[BatchOut], **error_responses()},
    summary="A batch's counts, progress and jobs: poll it until `finished`",
)
def get_batch(request, batch_id: str):
    try:
        batch = get_batch_for_user(request.user, batch_id)
    except Http404:
        raise ApiError(404, "Batch not found.") from None
    summary = services.batch_summary(batch, viewer=request.user)
    return ok(
        BatchOut(
            id=batch.pk,
            label=batch.label,
            created_at=batch.created_at,
            draft_version_id=batch.draft_version_id,
            counts=CountsOut(**{k: summary[k] for k in CountsOut.model_fields}),
            progress=summary["progress"],
            finished=summary["finished"],
            job_ids=list(
                batch.jobs.for_user(request.user)
                .order_by("created_at")
                .values_list("pk", flat=True)
            ),
        )
    )
