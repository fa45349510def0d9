"""What storyboards do when the jobs app signals: a take's job ended."""

from . import services


def take_job_ended(sender, *, job_id, **kwargs):
    services.take_job_ended(job_id)
