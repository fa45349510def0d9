"""Signals other apps listen to, so that the jobs app never imports their services."""

from django.dispatch import Signal

# Sent after the commit that ends a job (completed, failed or cancelled), with job_id:
# drafts' storyboards fire take.completed and move a chained run on.
job_ended = Signal()
