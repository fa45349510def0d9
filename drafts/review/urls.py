from django.urls import path

from . import views

app_name = "review"

# <kind> is "job" or "cut"; drafts.review.access turns anything else into a 404.
urlpatterns = [
    path("<str:kind>/<str:pk>/", views.video, name="video"),
    path("<str:kind>/<str:pk>/state/", views.state, name="state"),
    path("<str:kind>/<str:pk>/rate/", views.rate, name="rate"),
    path("<str:kind>/<str:pk>/favourite/", views.favourite, name="favourite"),
    path("<str:kind>/<str:pk>/comments/", views.comment, name="comment"),
    path("<str:kind>/<str:pk>/comments/<int:comment>/resolve/", views.resolve, name="resolve"),
]
