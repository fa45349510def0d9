"""django-q2 entry points: thin adapters from a task to the pipeline or a service."""

from . import pipeline, services, transcripts


def run_job(job_id):
    """Advance one job; the pipeline itself writes every state, including failures."""
    pipeline.run(job_id)


def collect_late_result(job_id):
    """Keep a cancelled job's video if Veo delivers it anyway."""
    pipeline.collect_late_result(job_id)


def recover_jobs():
    """The cluster's schedule: resume stalled jobs, time out old ones, queue waiting ones."""
    return services.jobs_recover()


def transcribe_job(job_id):
    """Write a completed job's transcript; a failure is noted on the job, never raised."""
    transcripts.transcribe(job_id)
