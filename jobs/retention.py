"""Which finished jobs the retention policy lets go, and which it always keeps.

The recovery sweep deletes what `expired()` returns, a chunk at a time, through
services.job_delete (see services.jobs_delete_expired). The settings say how old a job
must be (RETENTION_FAILED_DAYS, RETENTION_UNREVIEWED_DAYS); `protected()` says what is
never deleted, whatever its age. A job is "kept" by a person only through `protected()`:
when the review of takes arrives (approving, rating), its rule goes there and nowhere
else, e.g. `| Q(approved_at__isnull=False) | Q(rating__isnull=False)`.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .models import VideoCreationJob

Status = VideoCreationJob.Status


def protected() -> Q:
    """Return the jobs retention never deletes, as a filter on VideoCreationJob.

    - anything not finished (queued or processing), and a finished job whose files a
      task may still be writing (not yet settled by the sweep: a late result, a
      transcript);
    - a source: the parent of another job (its video is what an extend, edit or upscale
      starts from), however far down the chain;
    - a failed job whose retry still exists (the retry's lineage points at it);
    - any job of a batch that has not finished, so its counts and ZIP stay whole;
    - a storyboard's picked take, and a segment of a stored cut (a cut's sources).
    """
    jobs = VideoCreationJob.objects
    return (
        ~Q(status__in=[Status.COMPLETED, Status.FAILED])
        | Q(files_settled_at__isnull=True)
        | Q(Exists(jobs.filter(parent=OuterRef("pk"))))
        | Q(Exists(jobs.filter(retry_of=OuterRef("pk"))))
        | Q(Exists(jobs.active().filter(batch=OuterRef("batch"))))
        | Q(take__picked_for__isnull=False)
        | Q(cut_segments__isnull=False)
    )


def _finished_before(cutoff) -> Q:
    """Jobs that finished before cutoff; a job without an end time counts from its creation."""
    return Q(completed_at__lt=cutoff) | Q(completed_at__isnull=True, created_at__lt=cutoff)


def expired(*, now=None):
    """Return the jobs the policy deletes now, oldest first (none when it keeps everything).

    Failed jobs (cancelled ones too) older than RETENTION_FAILED_DAYS, and completed ones
    older than RETENTION_UNREVIEWED_DAYS, that `protected()` does not keep; 0 turns a
    rule off.
    """
    now = now or timezone.now()
    rules = []
    if settings.RETENTION_FAILED_DAYS:
        cutoff = now - timedelta(days=settings.RETENTION_FAILED_DAYS)
        rules.append(Q(status=Status.FAILED) & _finished_before(cutoff))
    if settings.RETENTION_UNREVIEWED_DAYS:
        cutoff = now - timedelta(days=settings.RETENTION_UNREVIEWED_DAYS)
        rules.append(Q(status=Status.COMPLETED) & _finished_before(cutoff))
    if not rules:
        return VideoCreationJob.objects.none()
    due = rules[0]
    for rule in rules[1:]:
        due |= rule
    return VideoCreationJob.objects.filter(due).exclude(protected()).order_by("created_at", "pk")
