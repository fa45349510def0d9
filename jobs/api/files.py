"""The files router: a job's video and its resources' files, with Range.

They are sent as the studio's pages send them (jobs.views), to the same callers: a
Range outside the file is a 416 in the envelope, a missing file a 404.
"""

from ninja import Router

from jobs.models import VideoResource
from jobs.serving import serve_file
from videostudio.envelope import ApiError, error_responses

from .jobs import get_job

router = Router(tags=["files"], by_alias=True)  # camelCase in the document too


def _file(content_type, description):
    schema = {"type": "string", "format": "binary"}
    return {
        "responses": {
            200: {"description": description, "content": {content_type: {"schema": schema}}},
            206: {"description": "The part a Range asked for."},
            302: {
                "description": "Media in a bucket: a presigned URL (Location) that lives "
                "S3_URL_SECONDS and answers Range itself."
            },
        }
    }


@router.get(
    "jobs/{job_id}/video",
    url_name="video",
    operation_id="getJobVideo",
    response={200: None, 206: None, **error_responses(416)},
    openapi_extra=_file("video/mp4", "The job's MP4."),
    summary="Download a job's video",
)
def job_video(request, job_id: str):
    job = get_job(request, job_id)
    if not job.video_url:
        raise ApiError(404, "This job has no video yet.")
    return _serve(request, job.video_url, content_type="video/mp4")


@router.get(
    "jobs/{job_id}/resources/{resource_id}",
    url_name="resource",
    operation_id="getJobResource",
    response={200: None, 206: None, **error_responses(416)},
    openapi_extra=_file("application/octet-stream", "The resource's file, as its type says."),
    summary="Download one of a job's resources (poster, frames, audio)",
)
def resource_file(request, job_id: str, resource_id: str):
    job = get_job(request, job_id)
    resource = VideoResource.objects.filter(job=job, pk=resource_id).first()
    if resource is None:
        raise ApiError(404, "Resource not found.")
    if not resource.file_path:
        raise ApiError(404, "This resource has no local file.")
    return _serve(request, resource.file_path, content_type=resource.content_type)


def _serve(request, relative_path, *, content_type):
    """Send the file as the studio's pages do (Range, or a front proxy); a 416 in JSON."""
    response = serve_file(request, relative_path, content_type=content_type)
    if response.status_code == 416:
        raise ApiError(
            416,
            "The requested range is outside the file.",
            headers={"Content-Range": response["Content-Range"]},
        )
    return response
