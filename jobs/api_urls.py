"""The JSON API's paths, included at /api/video-creation/; no trailing slashes."""

from django.urls import path, re_path

from . import api

app_name = "api"

urlpatterns = [
    path("jobs", api.job_list, name="jobs"),
    path("jobs/<str:job_id>", api.job_detail, name="job"),
    path("jobs/<str:job_id>/cancel", api.job_cancel, name="cancel"),
    path("jobs/<str:job_id>/retry", api.job_retry, name="retry"),
    path("jobs/<str:job_id>/video", api.job_video, name="video"),
    path("jobs/<str:job_id>/resources/<str:resource_id>", api.resource_file, name="resource"),
    path("batches/<str:batch_id>", api.batch_detail, name="batch"),
    # Last: any other path under the API answers a JSON 404, not the studio's HTML page.
    re_path(r"^(?P<path>.*)$", api.not_found, name="not-found"),
]
