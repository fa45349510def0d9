from django.urls import path

from . import views

app_name = "drafts"

urlpatterns = [
    path("", views.library, name="library"),
    path("new/", views.draft_new, name="new"),
    path("import/", views.draft_import, name="import"),
    path("<str:pk>/", views.draft_detail, name="detail"),
    path("<str:pk>/edit/", views.draft_edit, name="edit"),
    path("<str:pk>/share/", views.draft_share, name="share"),
    path("<str:pk>/delete/", views.draft_delete, name="delete"),
    path("<str:pk>/duplicate/", views.draft_duplicate, name="duplicate"),
    path("<str:pk>/export/", views.draft_export, name="export"),
    path("<str:pk>/run/", views.draft_run, name="run"),
    path("<str:pk>/versions/<int:number>/restore/", views.draft_restore, name="restore"),
]
