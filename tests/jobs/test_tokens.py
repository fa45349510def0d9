"""Personal API tokens: stored only as a hash, shown once, revocable by person and ops."""

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.api import tokens
from jobs.models import ApiToken, VideoCreationJob
from tests.factories import make_job

pytestmark = pytest.mark.django_db


def raw_row(token):
    """Return every column of the token's row as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM api_tokens WHERE id = %s", [token.pk])
        return cursor.fetchone()


# --- Services ----------------------------------------------------------------------


def test_a_token_is_stored_only_as_its_hash(user):
    token, raw = tokens.token_create(user=user, name="  nightly renders  ")
    assert raw.startswith("vs_")
    assert len(raw) == 46
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.prefix == raw[:10]
    assert token.name == "nightly renders"
    assert not any(raw in str(value) for value in raw_row(token))


def test_each_token_is_different(user):
    raws = {tokens.token_create(user=user, name="t")[1] for _ in range(5)}
    assert len(raws) == 5


def test_authenticate_returns_the_owner_and_notes_the_use_at_most_once_a_minute(
    user, django_assert_num_queries
):
    token, raw = tokens.token_create(user=user, name="script")
    with django_assert_num_queries(2):  # the lookup, and the first use's timestamp
        assert tokens.token_authenticate(raw) == user
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    with django_assert_num_queries(1):
        assert tokens.token_authenticate(raw) == user
    token.refresh_from_db()
    assert token.last_used_at == first_use
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first_use - timedelta(minutes=2))
    tokens.token_authenticate(raw)
    token.refresh_from_db()
    assert token.last_used_at > first_use - timedelta(seconds=1)


@pytest.mark.parametrize("raw", ["", "vs_", "not-ours", "vs_" + "x" * 200])
def test_a_malformed_token_is_refused_without_a_query(user, raw, django_assert_num_queries):
    tokens.token_create(user=user, name="script")
    expected = 0 if not raw.startswith("vs_") or len(raw) > 100 else 1
    with django_assert_num_queries(expected):
        assert tokens.token_authenticate(raw) is None


def test_a_revoked_token_no_longer_authenticates(user):
    token, raw = tokens.token_create(user=user, name="script")
    assert tokens.token_revoke(token=token) is True
    assert tokens.token_revoke(token=token) is False
    assert tokens.token_authenticate(raw) is None
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_token_of_an_inactive_user_does_not_authenticate(user):
    _, raw = tokens.token_create(user=user, name="script")
    user.is_active = False
    user.save()
    assert tokens.token_authenticate(raw) is None


def test_an_expired_token_no_longer_authenticates(user, client):
    token, raw = tokens.token_create(
        user=user, name="script", expires_at=timezone.now() + timedelta(days=1)
    )
    assert tokens.token_authenticate(raw) == user
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    assert tokens.token_authenticate(raw) is None
    response = client.get(reverse("api:jobs"), headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 401
    assert "expired" in response.json()["error"]


def test_a_read_only_token_reads_but_is_refused_every_write(user):
    job = make_job(user, prompt_text="Kept", status="failed")
    _, raw = tokens.token_create(user=user, name="dashboard", scope=ApiToken.Scope.READ)
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    assert api.get(reverse("api:jobs")).status_code == 200
    assert api.get(reverse("api:job", args=[job.pk])).status_code == 200
    writes = [
        ("post", reverse("api:jobs")),
        ("delete", reverse("api:job", args=[job.pk])),
        ("post", reverse("api:retry", args=[job.pk])),
        ("post", reverse("drafts_api:drafts")),
    ]
    for method, url in writes:
        response = getattr(api, method)(url, "{}", content_type="application/json")
        assert response.status_code == 403, url
        assert "read-only" in response.json()["error"], url
    assert list(VideoCreationJob.objects.values_list("pk", flat=True)) == [job.pk]


def test_changing_the_password_revokes_the_persons_tokens(client, user, other_user):
    _, mine = tokens.token_create(user=user, name="script")
    _, theirs = tokens.token_create(user=other_user, name="their script")
    client.force_login(user)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "a-long-passphrase",
            "new_password1": "another-long-passphrase",
            "new_password2": "another-long-passphrase",
        },
    )
    assert response.status_code == 302
    assert tokens.token_authenticate(mine) is None
    assert ApiToken.objects.get(user=user).revoked_at is not None
    assert tokens.token_authenticate(theirs) == other_user


def test_a_password_set_by_an_administrator_revokes_the_tokens_too(user):
    _, raw = tokens.token_create(user=user, name="script")
    user.set_password("reset-by-the-admin-now")
    user.save()
    assert tokens.token_authenticate(raw) is None


def test_a_password_hash_upgrade_at_login_keeps_the_tokens(settings, client, user):
    """Django rehashes a password with a newer hasher at login: no change of password."""
    _, raw = tokens.token_create(user=user, name="script")
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    response = client.post(reverse("login"), {"username": "ana", "password": "a-long-passphrase"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_")
    assert tokens.token_authenticate(raw) == user


def _error_report(send):
    """Send a request that fails; return Django's error report of it, as mailed to admins.

    The report is built where Django's handler builds its own: from the exception
    signalled inside the handler, with the request it failed on.
    """
    import sys

    from django.core.signals import got_request_exception
    from django.views.debug import ExceptionReporter

    caught = []

    def catch(sender, request, **kwargs):
        caught.append((request, *sys.exc_info()))

    got_request_exception.connect(catch)
    try:
        assert send().status_code == 500
    finally:
        got_request_exception.disconnect(catch)
    reporter = ExceptionReporter(*caught[0])
    return reporter.get_traceback_text() + reporter.get_traceback_html()


def _failing_token_queries(execute, sql, params, many, context):
    if "api_tokens" in sql:
        raise RuntimeError("the database went away")
    return execute(sql, params, many, context)


def test_the_raw_token_is_hidden_from_error_reports_of_the_api(user):
    _, raw = tokens.token_create(user=user, name="script")
    client = Client(headers={"Authorization": f"Bearer {raw}"}, raise_request_exception=False)
    with connection.execute_wrapper(_failing_token_queries):
        report = _error_report(lambda: client.get(reverse("api:jobs")))
    assert "token_lookup" in report  # the frames that held it are in the report
    assert raw[10:] not in report


def test_the_raw_token_is_hidden_from_error_reports_of_the_tokens_page(client, user):
    import re

    inserted = []

    def fail_after_insert(execute, sql, params, many, context):
        """Let the token's INSERT through, then fail the page's next read of tokens."""
        if inserted and "api_tokens" in sql:
            raise RuntimeError("the database went away")
        if sql.startswith("INSERT") and "api_tokens" in sql:
            inserted.append(sql)
        return execute(sql, params, many, context)

    client.raise_request_exception = False
    client.force_login(user)
    with connection.execute_wrapper(fail_after_insert):
        report = _error_report(
            lambda: client.post(reverse("api-tokens"), {"name": "Render script"})
        )
    assert ApiToken.objects.count() == 1  # made, then the page failed while it held the token
    assert "api/views.py" in report  # the view's frame, which held it, is in the report
    assert not re.search(r"vs_[A-Za-z0-9_-]{43}", report)


def test_making_a_read_only_token_that_expires(logged_in, user):
    response = logged_in.post(
        reverse("api-tokens"), {"name": "Dashboard", "expires_in_days": "30", "scope": "read"}
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(user=user)
    assert token.scope == ApiToken.Scope.READ
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    page = response.content.decode()
    assert "Read only" in page and "Expires" in page


# --- The settings page -------------------------------------------------------------


def test_the_tokens_page_needs_a_login(client):
    response = client.get(reverse("api-tokens"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_making_a_token_shows_it_once_and_stores_only_its_hash(logged_in, user):
    response = logged_in.post(reverse("api-tokens"), {"name": "Render script"})
    assert response.status_code == 200
    raw = response.context["raw_token"]
    assert raw in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=user)
    assert token.name == "Render script"
    assert not any(raw in str(value) for value in raw_row(token))
    again = logged_in.get(reverse("api-tokens")).content.decode()
    assert raw not in again
    assert "Render script" in again
    assert f"{token.prefix}…" in again
    # The token shown is one the API accepts.
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    assert api.get(reverse("api:jobs")).status_code == 200


def test_a_token_needs_a_name(logged_in):
    response = logged_in.post(reverse("api-tokens"), {"name": "   "})
    assert response.status_code == 400
    assert "Name the token" in response.content.decode()
    assert ApiToken.objects.count() == 0


def test_the_page_lists_only_the_persons_own_tokens(logged_in, user, other_user):
    tokens.token_create(user=user, name="Mine")
    tokens.token_create(user=other_user, name="Someone else's")
    page = logged_in.get(reverse("api-tokens")).content.decode()
    assert "Mine" in page
    assert "Someone else" not in page


def test_revoking_from_the_page(logged_in, user, other_user):
    token, raw = tokens.token_create(user=user, name="Old script")
    theirs, _ = tokens.token_create(user=other_user, name="Theirs")
    response = logged_in.post(reverse("api-tokens"), {"revoke": token.pk}, follow=True)
    assert "Revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.is_revoked
    assert tokens.token_authenticate(raw) is None
    assert logged_in.post(reverse("api-tokens"), {"revoke": theirs.pk}).status_code == 404
    assert logged_in.post(reverse("api-tokens"), {"revoke": "x"}).status_code == 404
    theirs.refresh_from_db()
    assert not theirs.is_revoked


# --- Admin ---------------------------------------------------------------------------


def test_admin_lists_and_searches_tokens_but_never_shows_a_hash(admin_client, user):
    token, raw = tokens.token_create(user=user, name="CI pipeline")
    tokens.token_authenticate(raw)
    changelist = reverse("admin:jobs_apitoken_changelist")
    page = admin_client.get(changelist, {"q": "CI pipe"}).content.decode()
    assert "CI pipeline" in page
    assert token.prefix in page
    assert "ana" in page
    assert "CI pipeline" not in admin_client.get(changelist, {"q": "nothing"}).content.decode()
    detail = admin_client.get(reverse("admin:jobs_apitoken_change", args=[token.pk]))
    assert detail.status_code == 200
    for shown in (page, detail.content.decode()):
        assert token.token_hash not in shown
        assert raw not in shown
        assert "hash" not in shown.lower()
    assert admin_client.get(reverse("admin:jobs_apitoken_add")).status_code == 403


def test_admin_action_revokes_tokens(admin_client, user):
    token, raw = tokens.token_create(user=user, name="Leaked")
    admin_client.post(
        reverse("admin:jobs_apitoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert tokens.token_authenticate(raw) is None
    assert token.revoked_at <= timezone.now()
