from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from jobs.api import views as token_views
from jobs.health import views as health
from jobs.webhooks import inbound
from videostudio import api

urlpatterns = [
    # Probes for load balancers and orchestrators, and metrics, without login
    # (jobs/health/views.py).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Prometheus's scrape, behind METRICS_TOKEN (off, 404, while it is empty).
    path("metrics", health.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    # Django's auth views less password reset: the studio sends no reset mail (an
    # administrator sets a forgotten password), so an unused, unthrottled mail form and
    # its token links are not mounted at all.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("drafts/", include("drafts.urls")),
    path("storyboards/", include("drafts.storyboards.urls")),
    # Review and share (drafts/review/): the team gallery, each video's review page, and
    # client links (their owner's list under /links/, what a client opens under /c/).
    path("gallery/", include("drafts.review.gallery_urls")),
    path("review/", include("drafts.review.urls")),
    path("", include("drafts.review.links_urls")),
    path("", include("jobs.urls")),
    # --- JSON API (videostudio.api): /api/video-creation/..., /api/openapi.json, /api/docs
    *api.urls(),
    path("settings/tokens/", token_views.api_tokens, name="api-tokens"),
    path("settings/webhooks/", include("jobs.webhooks.urls")),
    # Webhooks Google sends (off unless GEMINI_WEBHOOK_SECRET is set), with or without
    # the slash: a POST cannot be redirected to add it.
    path("hooks/gemini/", inbound.gemini, name="gemini-webhook"),
    path("hooks/gemini", inbound.gemini),
]
