from django.contrib import admin
from django.urls import include, path

from jobs import account_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("drafts/", include("drafts.urls")),
    path("", include("jobs.urls")),
    # --- JSON API
    # Drafts first: the jobs' API ends with a catch-all JSON 404.
    path("api/video-creation/", include("drafts.api_urls")),
    path("api/video-creation/", include("jobs.api_urls")),
    path("settings/tokens/", account_views.api_tokens, name="api-tokens"),
]
