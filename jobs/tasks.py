"""django-q2 entry points: look the job up by id and hand it to the pipeline."""

from . import pipeline


def run_job(job_id):
    """Advance one job; the pipeline itself writes every state, including failures."""
    pipeline.run(job_id)
