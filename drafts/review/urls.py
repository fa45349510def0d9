from django.urls import path

from . import views

app_name = "review"

urlpatterns = [
    path("<str:kind>/<str:pk>/", views.video, name="video"),
]
