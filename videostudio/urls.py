from django.contrib import admin
from django.urls import include, path

from jobs import account_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("drafts/", include("drafts.urls")),
    path("", include("jobs.urls")),
    # --- JSON API
    path("api/video-creation/", include("jobs.api_urls")),
    path("settings/tokens/", account_views.api_tokens, name="api-tokens"),
]
