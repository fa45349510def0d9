"""Who may see a job or a batch: the one lookup the pages, the JSON API and the ZIP share.

The rule itself is the querysets' `for_user` (jobs.models): a user sees their own work,
and staff with the jobs.view_all_jobs permission see everyone's. Anything else is a 404,
exactly like an id that does not exist, so ids of others' work do not leak.
"""

from django.shortcuts import get_object_or_404

from .models import Batch, VideoCreationJob


def get_job_for_user(user, pk) -> VideoCreationJob:
    """Return the job if this user may see it; raise Http404 otherwise."""
    return get_object_or_404(VideoCreationJob.objects.for_user(user), pk=pk)


def get_batch_for_user(user, pk) -> Batch:
    """Return the batch if this user may see it; raise Http404 otherwise.

    Its pages, summary and ZIP then show only the jobs in it this user may see.
    """
    batches = Batch.objects.for_user(user).select_related("draft_version__draft")
    return get_object_or_404(batches, pk=pk)
