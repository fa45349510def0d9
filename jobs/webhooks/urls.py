from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoint_list, name="endpoints"),
    path("<str:pk>/", views.endpoint_detail, name="endpoint"),
    path("<str:pk>/secret/", views.endpoint_secret, name="secret"),
    path("<str:pk>/delete/", views.endpoint_delete, name="delete"),
    path(
        "<str:pk>/deliveries/<str:delivery_id>/resend/",
        views.delivery_resend,
        name="resend",
    ),
]
