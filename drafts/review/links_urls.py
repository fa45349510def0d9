"""Client links: their owner's list under /links/, and what a client opens under /c/<token>/."""

from django.urls import path

from . import link_views as views

app_name = "links"

urlpatterns = [
    path("links/", views.link_list, name="list"),
    path("links/new/", views.link_new, name="new"),
    path("links/<str:pk>/extend/", views.link_extend, name="extend"),
    path("links/<str:pk>/revoke/", views.link_revoke, name="revoke"),
    path("c/<str:token>/", views.link_open, name="open"),
    path("c/<str:token>/video/<str:kind>/<str:pk>/", views.link_video, name="video"),
    path("c/<str:token>/comment/", views.link_comment, name="comment"),
]
