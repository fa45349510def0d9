"""Who sees and who changes a draft: pages and the JSON API share drafts.access."""

import pytest
from django.urls import reverse

from drafts import services as draft_services

pytestmark = pytest.mark.django_db


# The viewer, whether they may see ana's private draft, and whether they may change it.
VIEWERS = [
    ("owner", True, True),
    ("other user", False, False),
    ("staff alone", False, False),
    ("manager", True, True),
]


@pytest.mark.parametrize(("viewer", "sees", "edits"), VIEWERS)
def test_a_private_draft_is_seen_and_changed_through_pages_and_api_alike(
    client, viewers, user, viewer, sees, edits
):
    draft = draft_services.draft_save(author=user, name="Private", prompts=["a"])
    client.force_login(viewers[viewer])
    found = 200 if sees else 404
    changed = (302, 200) if edits else (404, 404)
    assert client.get(reverse("drafts:detail", args=[draft.pk])).status_code == found
    assert client.get(reverse("drafts_api:draft", args=[draft.pk])).status_code == found
    share = client.post(reverse("drafts:share", args=[draft.pk]), {"visibility": "private"})
    put = client.put(
        reverse("drafts_api:draft", args=[draft.pk]), {"name": "Private"}, "application/json"
    )
    assert (share.status_code, put.status_code) == changed


@pytest.mark.parametrize("viewer", ["other user", "staff alone"])
def test_a_shared_draft_is_seen_by_the_team_but_changed_only_by_its_owner(
    client, viewers, user, viewer
):
    draft = draft_services.draft_save(
        author=user, name="Shared", prompts=["a"], visibility="shared"
    )
    client.force_login(viewers[viewer])
    assert client.get(reverse("drafts:detail", args=[draft.pk])).status_code == 200
    body = client.get(reverse("drafts_api:draft", args=[draft.pk])).json()["data"]
    assert body["canEdit"] is False
    assert client.post(reverse("drafts:share", args=[draft.pk])).status_code == 403
    put = client.put(
        reverse("drafts_api:draft", args=[draft.pk]), {"name": "Mine now"}, "application/json"
    )
    assert put.status_code == 403
