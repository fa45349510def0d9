"""Who may see and who may act on a job or a batch: the one lookup pages, API and ZIP share.

A user sees their own work, the work their teammates shared with the team (a job, its
batch or its storyboard shared: jobs.models.JobQuerySet.shared_q), and staff with the
jobs.view_all_jobs permission see everyone's. Anything else is a 404, exactly like an id
that does not exist, so ids of others' work do not leak. Acting on a job or a batch
(cancel, retry, delete, share) is its owner's, or those staff's: a teammate who only
sees it is refused (403). Building on a shared video (extend, edit, upscale into a job
of one's own) takes only seeing it.
"""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from .models import Batch, VideoCreationJob, sees_all_jobs


def get_job_for_user(user, pk, *, act=False) -> VideoCreationJob:
    """Return the job if this user may see it (404 otherwise) and, with act, act on it (403)."""
    job = get_object_or_404(VideoCreationJob.objects.visible_to(user), pk=pk)
    if act and not can_act(user, job):
        raise PermissionDenied("Only the job's owner can do this.")
    return job


def get_batch_for_user(user, pk, *, act=False) -> Batch:
    """Return the batch if this user may see it (404) and, with act, act on it (403).

    Its pages, summary and ZIP then show only the jobs in it this user may see.
    """
    batches = Batch.objects.visible_to(user).select_related("draft_version__draft")
    batch = get_object_or_404(batches, pk=pk)
    if act and not can_act(user, batch):
        raise PermissionDenied("Only the batch's owner can do this.")
    return batch


def can_act(user, row) -> bool:
    """Return whether user may cancel, retry, delete or share the job or batch `row`."""
    return row.owner_id == user.pk or sees_all_jobs(user)
