"""The drafts' API paths, included at /api/video-creation/ before the jobs' ones."""

from django.urls import path

from . import api

app_name = "drafts_api"

urlpatterns = [
    path("drafts", api.draft_list, name="drafts"),
    path("drafts/<str:draft_id>", api.draft_detail, name="draft"),
    path("drafts/<str:draft_id>/run", api.draft_run, name="run"),
]
