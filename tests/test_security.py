"""Keeping people out: the authorisation matrix, CSRF, XSS, secrets, paths, logins.

The matrix is generated from the URL configuration: a route without a row fails the
suite, so a new URL cannot escape it.
"""

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from drafts import services as draft_services
from jobs import services, storage
from jobs.models import Batch, VideoCreationJob, VideoResource
from jobs.veo.synthetic import render_mp4
from tests.conftest import JOB_OPTIONS, run_due_jobs

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
MODEL = "veo-3.1-fast-generate-preview"
ROLES = ["anonymous", "owner", "teammate", "staff"]
LOGIN, ADMIN_LOGIN = "login", "admin-login"


def _routes(resolver=None, prefix="", namespace=""):
    """Yield (qualified name, route) for every URL pattern, admin's as one entry."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                yield "admin", prefix + str(entry.pattern)
                continue
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _routes(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}", prefix + str(entry.pattern)


@pytest.fixture
def world(user, other_user, staff_user, data_dir):
    """The owner's things, one of each kind, with real files where there are files."""
    now = timezone.now()
    done = VideoCreationJob.objects.create(
        owner=user,
        prompt_text="Owner's finished job",
        model=MODEL,
        options=JOB_OPTIONS,
        status="completed",
        stage="done",
        progress=100,
        completed_at=now,
    )
    video = data_dir / "videos" / done.pk / "output.mp4"
    video.parent.mkdir(parents=True)
    render_mp4(video, prompt="x", width=160, height=90, seconds=1)
    VideoCreationJob.objects.filter(pk=done.pk).update(video_url=f"videos/{done.pk}/output.mp4")
    poster = storage.relative_resource(done.pk, "image", "poster.jpg")
    storage.store_bytes(poster, b"\xff\xd8\xffposter")
    resource = services.resource_add(
        job_id=done.pk, kind="image", filename="poster.jpg", file_path=poster
    )
    running = VideoCreationJob.objects.create(
        owner=user,
        prompt_text="Owner's running job",
        model=MODEL,
        options=JOB_OPTIONS,
        status="processing",
        stage="generating",
    )
    failed = VideoCreationJob.objects.create(
        owner=user,
        prompt_text="Owner's failed job",
        model=MODEL,
        options=JOB_OPTIONS,
        status="failed",
        error="Boom",
        completed_at=now,
    )
    batch = Batch.objects.create(owner=user, label="Owner's batch")
    VideoCreationJob.objects.filter(pk__in=[done.pk, failed.pk]).update(batch=batch)
    private = draft_services.draft_save(author=user, name="Private", prompts=["a"])
    shared = draft_services.draft_save(
        author=user, name="Shared", prompts=["b"], visibility="shared"
    )
    return {
        "done": done,
        "running": running,
        "failed": failed,
        "batch": batch,
        "private": private,
        "shared": shared,
        "resource": resource,
        "users": {"owner": user, "teammate": other_user, "staff": staff_user},
    }


def _ok(code, staff=None, teammate=None):
    return {
        "owner": code,
        "teammate": code if teammate is None else teammate,
        "staff": code if staff is None else staff,
    }


OWNED = {"teammate": 404}  # another person's job or batch is not found, so ids do not leak
PAGES = {"anonymous": LOGIN}
API = {"anonymous": 401}

# name: (method, args from the world, expected status per role)
MATRIX = {
    "jobs:index": ("GET", lambda w: [], {**PAGES, **_ok(200)}),
    "jobs:detail": ("GET", lambda w: [w["done"].pk], {**PAGES, **_ok(200), **OWNED}),
    "jobs:card": ("GET", lambda w: [w["done"].pk], {**PAGES, **_ok(200), **OWNED}),
    "jobs:cancel": ("POST", lambda w: [w["running"].pk], {**PAGES, **_ok(302), **OWNED}),
    "jobs:retry": ("POST", lambda w: [w["failed"].pk], {**PAGES, **_ok(302), **OWNED}),
    "jobs:delete": ("POST", lambda w: [w["done"].pk], {**PAGES, **_ok(302), **OWNED}),
    "jobs:video": ("GET", lambda w: [w["done"].pk], {**PAGES, **_ok(200), **OWNED}),
    "jobs:resource": (
        "GET",
        lambda w: [w["done"].pk, w["resource"].pk],
        {**PAGES, **_ok(200), **OWNED},
    ),
    "jobs:batch": ("GET", lambda w: [w["batch"].pk], {**PAGES, **_ok(200), **OWNED}),
    "jobs:batch-cancel": ("POST", lambda w: [w["batch"].pk], {**PAGES, **_ok(302), **OWNED}),
    "jobs:batch-retry": ("POST", lambda w: [w["batch"].pk], {**PAGES, **_ok(302), **OWNED}),
    "jobs:batch-zip": ("GET", lambda w: [w["batch"].pk], {**PAGES, **_ok(200), **OWNED}),
    "jobs:notices": ("GET", lambda w: [], {**PAGES, **_ok(200)}),
    "jobs:estimate": ("GET", lambda w: [], {**PAGES, **_ok(200)}),
    "jobs:usage": ("GET", lambda w: [], {**PAGES, **_ok(200)}),
    "drafts:library": ("GET", lambda w: [], {**PAGES, **_ok(200)}),
    "drafts:new": ("GET", lambda w: [], {**PAGES, **_ok(200)}),
    "drafts:import": ("POST", lambda w: [], {**PAGES, **_ok(302)}),
    "drafts:detail": ("GET", lambda w: [w["private"].pk], {**PAGES, **_ok(200), **OWNED}),
    "drafts:edit": ("GET", lambda w: [w["shared"].pk], {**PAGES, **_ok(200), "teammate": 403}),
    "drafts:share": ("POST", lambda w: [w["shared"].pk], {**PAGES, **_ok(302), "teammate": 403}),
    "drafts:delete": ("POST", lambda w: [w["private"].pk], {**PAGES, **_ok(302), **OWNED}),
    "drafts:duplicate": ("POST", lambda w: [w["shared"].pk], {**PAGES, **_ok(302)}),
    "drafts:export": ("GET", lambda w: [w["private"].pk], {**PAGES, **_ok(200), **OWNED}),
    "drafts:run": ("GET", lambda w: [w["shared"].pk], {**PAGES, **_ok(200)}),
    "drafts:restore": (
        "POST",
        lambda w: [w["shared"].pk, 1],
        {**PAGES, **_ok(302), "teammate": 403},
    ),
    "api:jobs": ("GET", lambda w: [], {**API, **_ok(200)}),
    "api:job": ("GET", lambda w: [w["done"].pk], {**API, **_ok(200), **OWNED}),
    "api:cancel": ("POST", lambda w: [w["running"].pk], {**API, **_ok(200), **OWNED}),
    "api:retry": ("POST", lambda w: [w["failed"].pk], {**API, **_ok(201), **OWNED}),
    "api:video": ("GET", lambda w: [w["done"].pk], {**API, **_ok(200), **OWNED}),
    "api:resource": (
        "GET",
        lambda w: [w["done"].pk, w["resource"].pk],
        {**API, **_ok(200), **OWNED},
    ),
    "api:not-found": ("GET", lambda w: ["nothing/here"], {**API, **_ok(404)}),
    "api:batch": ("GET", lambda w: [w["batch"].pk], {**API, **_ok(200), **OWNED}),
    "drafts_api:drafts": ("GET", lambda w: [], {**API, **_ok(200)}),
    "drafts_api:draft": ("GET", lambda w: [w["private"].pk], {**API, **_ok(200), **OWNED}),
    # An empty body is a 400 for those who may run the draft; others never get that far.
    "drafts_api:run": ("POST", lambda w: [w["private"].pk], {**API, **_ok(400), **OWNED}),
    "api-tokens": ("GET", lambda w: [], {**PAGES, **_ok(200)}),
    "admin": ("GET", lambda w: [], {"anonymous": ADMIN_LOGIN, **_ok(ADMIN_LOGIN, staff=200)}),
    "login": ("GET", lambda w: [], {"anonymous": 200, **_ok(200)}),
    "logout": ("POST", lambda w: [], {"anonymous": 302, **_ok(302)}),
    "password_change": ("GET", lambda w: [], {**PAGES, **_ok(200)}),
    "password_change_done": ("GET", lambda w: [], {**PAGES, **_ok(200)}),
    "password_reset": ("GET", lambda w: [], {"anonymous": 200, **_ok(200)}),
    "password_reset_done": ("GET", lambda w: [], {"anonymous": 200, **_ok(200)}),
    "password_reset_confirm": (
        "GET",
        lambda w: ["MQ", "bad-token"],
        {"anonymous": 200, **_ok(200)},
    ),
    "password_reset_complete": ("GET", lambda w: [], {"anonymous": 200, **_ok(200)}),
}


def test_every_route_has_a_row_in_the_matrix():
    names = {name for name, _route in _routes()}
    assert names - set(MATRIX) == set(), "add these routes to the authorisation matrix"
    assert set(MATRIX) - names == set(), "the matrix names routes that no longer exist"


def _url(name, args):
    if name == "admin":
        return reverse("admin:index")
    return reverse(name, args=args)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_authorisation_matrix(client, world, name, role):
    method, args, expected = MATRIX[name]
    if role != "anonymous":
        client.force_login(world["users"][role])
    url = _url(name, args(world))
    response = client.generic(method, url)
    want = expected[role]
    if want == LOGIN:
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    elif want == ADMIN_LOGIN:
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    else:
        assert response.status_code == want, (url, role, response.status_code)


# --- CSRF --------------------------------------------------------------------------------------

UNSAFE = [name for name, (method, _a, _e) in MATRIX.items() if method == "POST"] + [
    "api:job-delete"
]


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_unsafe_methods_need_the_csrf_token(world, name, htmx):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["users"]["owner"])
    headers = {"HX-Request": "true"} if htmx else {}
    if name == "api:job-delete":
        response = client.delete(reverse("api:job", args=[world["done"].pk]), headers=headers)
    else:
        _method, args, _expected = MATRIX[name]
        response = client.post(_url(name, args(world)), headers=headers)
    assert response.status_code == 403, name
    assert VideoCreationJob.objects.filter(pk=world["done"].pk).exists()


# --- Untrusted text renders inert ---------------------------------------------------------------

HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)><b hx-get='/x' hx-trigger='load'>"


def test_prompts_and_names_with_markup_render_as_text(logged_in, user, staff_user, client):
    job = VideoCreationJob.objects.create(
        owner=user,
        prompt_text=HOSTILE,
        model=MODEL,
        options=JOB_OPTIONS,
        status="completed",
        completed_at=timezone.now(),
    )
    draft = draft_services.draft_save(author=user, name=HOSTILE[:150], prompts=[HOSTILE])
    batch = Batch.objects.create(owner=user, label=HOSTILE[:150])
    since = (timezone.now() - timezone.timedelta(minutes=1)).isoformat()
    pages = [
        reverse("jobs:index"),
        reverse("jobs:detail", args=[job.pk]),
        reverse("drafts:library"),
        reverse("drafts:detail", args=[draft.pk]),
        reverse("drafts:run", args=[draft.pk]),
        reverse("jobs:batch", args=[batch.pk]),
        reverse("jobs:notices") + f"?since={since.replace('+', '%2B')}",
    ]
    client.force_login(staff_user)
    admin_pages = [
        reverse("admin:jobs_videocreationjob_changelist"),
        reverse("admin:jobs_videocreationjob_change", args=[job.pk]),
        reverse("admin:drafts_draft_changelist"),
    ]
    for url, who in [(p, logged_in) for p in pages] + [(p, client) for p in admin_pages]:
        body = who.get(url).content.decode()
        assert "<script>alert" not in body, url
        assert "onerror=alert" not in body.replace("onerror=alert(1)&gt;", ""), url
        assert "hx-get='/x'" not in body and 'hx-get="/x"' not in body, url
    assert (
        "&lt;script&gt;alert"
        in logged_in.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    )


# --- Paths and ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("job_id", ["../../etc/passwd", "..", "a/../../b"])
def test_hostile_ids_never_reach_the_filesystem(job_id):
    from django.core.exceptions import SuspiciousFileOperation

    with pytest.raises(SuspiciousFileOperation):
        storage.job_dir(job_id)


def test_a_tampered_file_path_is_refused_not_served(logged_in, world):
    VideoResource.objects.filter(pk=world["resource"].pk).update(file_path="../../../etc/passwd")
    response = logged_in.get(world["resource"].url)
    assert response.status_code == 400
    assert b"root:" not in response.content


def test_urls_with_dot_segments_find_nothing(logged_in):
    for url in [
        "/jobs/..%2F..%2Fetc%2Fpasswd/video/",
        "/jobs/%2e%2e/video/",
        "/drafts/..%2F/export/",
    ]:
        assert logged_in.get(url).status_code in (400, 404), url


# --- Media through the permission check, optionally handed to a front proxy ----------------------


@pytest.mark.parametrize(
    ("offload", "header", "value"),
    [
        ("nginx", "X-Accel-Redirect", "/protected-media/videos/{pk}/output.mp4"),
        ("sendfile", "X-Sendfile", "{data_dir}/videos/{pk}/output.mp4"),
    ],
)
def test_media_can_be_handed_to_the_front_proxy_after_the_check(
    settings, client, world, data_dir, offload, header, value
):
    settings.MEDIA_OFFLOAD = offload
    client.force_login(world["users"]["owner"])
    response = client.get(reverse("jobs:video", args=[world["done"].pk]))
    assert response[header] == value.format(pk=world["done"].pk, data_dir=data_dir)
    assert response.content == b""
    assert response["X-Content-Type-Options"] == "nosniff"
    client.force_login(world["users"]["teammate"])
    denied = client.get(reverse("jobs:video", args=[world["done"].pk]))
    assert denied.status_code == 404 and header not in denied


# --- Logins are throttled per username and address ------------------------------------------------


def test_failed_logins_lock_that_username_at_that_address_only(user, other_user):
    def attempt(username, password, address):
        return Client(REMOTE_ADDR=address).post(
            reverse("login"), {"username": username, "password": password}
        )

    for _ in range(4):
        assert attempt("ana", "wrong", "10.0.0.1").status_code == 200
    assert attempt("ana", "wrong", "10.0.0.1").status_code == 429  # the fifth locks
    locked = attempt("ana", "a-long-passphrase", "10.0.0.1")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert attempt("ana", "a-long-passphrase", "10.0.0.2").status_code == 302
    assert attempt("bo", "a-long-passphrase", "10.0.0.1").status_code == 302


# --- The API key never leaks ------------------------------------------------------------------------

SECRET = "AIzaSy-secret-key-that-must-never-leak-0123"


def test_the_api_key_appears_in_no_log_error_file_or_page(
    veo, settings, user, staff_user, client, data_dir, caplog, django_capture_on_commit_callbacks
):
    veo.api_key = SECRET
    settings.GEMINI_API_KEY = SECRET
    settings.VEO_RETRY_BASE_SECONDS = 0.01
    caplog.set_level(logging.DEBUG)
    jobs = []
    for fault in ["permission", "done-error", "html", "redirect", "submit-500-accepted", "expired"]:
        with django_capture_on_commit_callbacks(execute=True):
            job = services.job_create(
                owner=user,
                prompt_text=f"Leak check [fault={fault}]",
                model=MODEL,
                options=JOB_OPTIONS,
            )
        run_due_jobs()
        job.refresh_from_db()
        jobs.append(job)
    assert all(job.status == "failed" for job in jobs)
    assert SECRET not in caplog.text
    assert all(SECRET not in (job.error or "") and SECRET not in str(job.metadata) for job in jobs)
    for path in data_dir.rglob("metadata.json"):
        assert SECRET not in path.read_text()
    client.force_login(staff_user)
    for job in jobs:
        page = client.get(reverse("admin:jobs_videocreationjob_change", args=[job.pk]))
        assert SECRET not in page.content.decode()
    veo.api_key = "test-key-not-secret"


def test_the_debug_error_page_hides_the_key(rf, settings):
    from django.views.debug import technical_500_response

    settings.GEMINI_API_KEY = SECRET
    request = rf.get("/")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        response = technical_500_response(request, *sys.exc_info())
    body = response.content.decode()
    assert "GEMINI_API_KEY" in body and SECRET not in body


# --- Production settings ------------------------------------------------------------------------------


def _manage(*args, **env):
    import os

    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "GEMINI_API_KEY", "SECRET_KEY", "DEBUG")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


STRONG_KEY = "k" * 20 + "-random-enough-for-a-test-0123456789-abcdefghij"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "false", "ALLOWED_HOSTS": "studio.example.com"}, "SECRET_KEY must be set."),
        (
            {"DEBUG": "false", "ALLOWED_HOSTS": "x", "SECRET_KEY": "short"},
            "at least 50 random characters",
        ),
        ({"DEBUG": "false", "SECRET_KEY": STRONG_KEY}, "ALLOWED_HOSTS must be set"),
        (
            {
                "DEBUG": "false",
                "ALLOWED_HOSTS": "x",
                "SECRET_KEY": STRONG_KEY,
                "VEO_PROVIDER": "gemini",
            },
            "GEMINI_API_KEY must be set.",
        ),
    ],
)
def test_production_start_up_refuses_missing_secrets_clearly(tmp_path, env, message):
    result = _manage("check", VIDEOSTUDIO_DATA_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_checks_pass_at_warning_level(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="studio.example.com",
        VIDEOSTUDIO_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pages_carry_a_strict_content_security_policy(logged_in):
    response = logged_in.get(reverse("jobs:index"))
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
