"""The JSON API's shapes: the seed's VideoCreationJob and VideoResource, in camelCase.

Dates are left as datetimes for DjangoJSONEncoder, which writes them as the seed's
`new Date().toISOString()` does (ISO 8601, milliseconds, "Z" for UTC).
"""

from django.urls import reverse


def camel(name) -> str:
    """Return a snake_case name in camelCase: duration_seconds -> durationSeconds."""
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def serialize_resource(resource) -> dict:
    """Return a VideoResource; its url is the API path that serves the file."""
    return {
        "id": resource.pk,
        "jobId": resource.job_id,
        "type": resource.type,
        "url": reverse("api:resource", args=[resource.job_id, resource.pk]),
        "filename": resource.filename,
        "filePath": resource.file_path,
        "createdAt": resource.created_at,
    }


def serialize_job(job) -> dict:
    """Return a VideoCreationJob with its resources, plus what a script needs besides.

    The provider's operation name and the lease and heartbeat fields stay internal.
    """
    return {
        "id": job.pk,
        "promptId": job.prompt_id,
        "promptText": job.prompt_text,
        "status": job.status,
        "progress": job.progress,
        "videoUrl": reverse("api:video", args=[job.pk]) if job.video_url else None,
        "error": job.error,
        "createdAt": job.created_at,
        "completedAt": job.completed_at,
        "resources": [serialize_resource(r) for r in job.resources.all()],
        "model": job.model,
        "options": {camel(key): value for key, value in (job.options or {}).items()},
        "stage": job.stage,
        "retryOf": job.retry_of_id,
        "estimatedCostUsd": str(job.estimated_cost_usd),
        "origin": serialize_origin(job),
    }


def serialize_origin(job) -> dict:
    """Return where a job came from: draft, the version run, its prompt, batch, retried job.

    Reads the version's number: a list should select it (`select_related`).
    """
    version = job.draft_version if job.draft_version_id else None
    return {
        "draftId": job.draft_id,
        "draftVersionId": job.draft_version_id,
        "draftVersion": version.number if version else None,
        "promptId": job.prompt_id if job.draft_id else None,
        "batchId": job.batch_id,
        "retryOf": job.retry_of_id,
    }
