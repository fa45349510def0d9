from django.urls import path

from . import gallery

app_name = "gallery"

urlpatterns = [
    path("", gallery.index, name="index"),
    path("compare/", gallery.compare, name="compare"),
]
