from django.urls import path

from . import compare, views

app_name = "storyboards"

urlpatterns = [
    path("", views.storyboard_list, name="list"),
    path("new/", views.storyboard_new, name="new"),
    path("<str:pk>/", views.storyboard_detail, name="detail"),
    path("<str:pk>/status/", views.storyboard_status, name="status"),
    path("<str:pk>/settings/", views.storyboard_settings, name="settings"),
    path("<str:pk>/delete/", views.storyboard_delete, name="delete"),
    path("<str:pk>/versions/", views.storyboard_versions, name="versions"),
    path("<str:pk>/versions/<int:number>/restore/", views.storyboard_restore, name="restore"),
    path("<str:pk>/generate/", views.storyboard_generate, name="generate"),
    path("<str:pk>/shots/add/", views.shot_add, name="shot-add"),
    path("<str:pk>/shots/<str:shot>/edit/", views.shot_edit, name="shot-edit"),
    path("<str:pk>/shots/<str:shot>/delete/", views.shot_delete, name="shot-delete"),
    path("<str:pk>/shots/<str:shot>/move/", views.shot_move, name="shot-move"),
    path("<str:pk>/shots/<str:shot>/takes/", views.take_new, name="take-new"),
    path("<str:pk>/shots/<str:shot>/pick/", views.take_pick, name="pick"),
    path("<str:pk>/shots/<str:shot>/trim/", views.shot_trim, name="trim"),
    path("<str:pk>/shots/<str:shot>/compare/", compare.compare, name="compare"),
    path("<str:pk>/takes/<str:take>/video/", views.take_video, name="take-video"),
    path("<str:pk>/takes/<str:take>/poster/", views.take_poster, name="take-poster"),
    path("<str:pk>/cuts/", views.cut_new, name="cut-new"),
    path("<str:pk>/cuts/<str:cut>/", views.cut_detail, name="cut"),
    path("<str:pk>/cuts/<str:cut>/video/", views.cut_video, name="cut-video"),
    path("<str:pk>/cuts/<str:cut>/poster/", views.cut_poster, name="cut-poster"),
    path("<str:pk>/cuts/<str:cut>/edit-list/", views.cut_edit_list, name="cut-edit-list"),
]
