from django.urls import path

from . import views

app_name = "jobs"

urlpatterns = [
    path("", views.index, name="index"),
    path("jobs/changes/", views.list_changes, name="list-changes"),
    path("jobs/<str:pk>/", views.job_detail, name="detail"),
    path("jobs/<str:pk>/cancel/", views.job_cancel, name="cancel"),
    path("jobs/<str:pk>/retry/", views.job_retry, name="retry"),
    path("jobs/<str:pk>/delete/", views.job_delete, name="delete"),
    path("jobs/<str:pk>/share/", views.job_share, name="share"),
    path("jobs/<str:pk>/extend/", views.job_from_video, {"task": "extend"}, name="extend"),
    path("jobs/<str:pk>/edit/", views.job_from_video, {"task": "edit"}, name="edit"),
    path("jobs/<str:pk>/upscale/", views.job_from_video, {"task": "upscale"}, name="upscale"),
    path("jobs/<str:pk>/video/", views.job_video, name="video"),
    path("notices/", views.notices, name="notices"),
    path("estimate/", views.estimate, name="estimate"),
    path("form-fields/", views.form_fields, name="form-fields"),
    path("usage/", views.usage_page, name="usage"),
    path("batches/", views.batch_list, name="batches"),
    path("batches/<str:pk>/", views.batch_detail, name="batch"),
    path("batches/<str:pk>/cancel/", views.batch_cancel, name="batch-cancel"),
    path("batches/<str:pk>/retry/", views.batch_retry, name="batch-retry"),
    path("batches/<str:pk>/share/", views.batch_share, name="batch-share"),
    path("batches/<str:pk>/videos.zip", views.batch_zip, name="batch-zip"),
    path("jobs/<str:pk>/resources/<str:resource_id>/", views.resource_file, name="resource"),
]
