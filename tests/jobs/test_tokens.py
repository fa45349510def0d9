"""Personal API tokens: stored only as a hash, shown once, revocable by person and ops."""

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs import tokens
from jobs.models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(
        django_user_model.objects.create_superuser("root", password="pw-long-enough")
    )
    return client


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
