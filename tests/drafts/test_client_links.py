"""Client links (drafts.review.links and its pages): made by an owner, opened by anyone."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from drafts.models import Cut, Take
from drafts.review import link_views, links
from drafts.review.models import ClientLink, ClientLinkView, Comment, hash_token
from drafts.review.services import GUEST_COMMENTS_PER_MINUTE
from drafts.storyboards import services as boards
from jobs import storage
from jobs.models import Notice, VideoCreationJob, Visibility
from jobs.webhooks.models import Event, WebhookDelivery
from jobs.webhooks.services import endpoint_create, slack_text
from tests.factories import MODEL, Status, make_job
from tests.jobs.test_webhooks import PUBLIC_IP, fake_dns

pytestmark = pytest.mark.django_db


def finished(owner, mp4_bytes, data_dir, **fields):
    """A completed job of owner's with a real MP4."""
    job = make_job(
        owner,
        status=Status.COMPLETED,
        metadata={"video": {"duration_seconds": 1.0}},
        **fields,
    )
    path = data_dir / "videos" / job.pk / "output.mp4"
    path.parent.mkdir(parents=True)
    path.write_bytes(mp4_bytes)
    VideoCreationJob.objects.filter(pk=job.pk).update(video_url=f"videos/{job.pk}/output.mp4")
    job.refresh_from_db()
    return job


@pytest.fixture
def job(user, mp4_bytes, data_dir):
    return finished(user, mp4_bytes, data_dir, prompt_text="Secret prompt of the owner")


def make_link(owner, target, **fields):
    fields = {"days": 7, **fields}
    return links.link_create(owner=owner, target=target, **fields)


def open_url(token):
    return reverse("links:open", args=[token])


def video_url(token, video):
    kind = "cut" if isinstance(video, Cut) else "job"
    return reverse("links:video", args=[token, kind, video.pk])


def test_only_the_tokens_hash_is_stored(user, job):
    link, token = make_link(user, job, label="Acme", password="hunter22")
    row = ClientLink.objects.filter(pk=link.pk).values().get()
    assert token not in repr(row)
    assert row["token_hash"] == hash_token(token)
    assert row["token_hint"] == token[-4:]
    assert "hunter22" not in row["password"]
    assert links.link_for_token(token) == link


def test_a_client_without_a_session_opens_and_plays_with_range_and_is_logged(user, job):
    _link, token = make_link(user, job)
    client = Client()
    page = client.get(open_url(token), REMOTE_ADDR="203.0.113.7")
    assert page.status_code == 200
    body = page.content.decode()
    assert video_url(token, job) in body
    # Nothing of the studio's or its owner's: no navigation, no prompt, no name.
    assert "Secret prompt" not in body
    assert user.username not in body.replace(token, "")
    assert 'href="/"' not in body and "Storyboards" not in body
    assert page["Referrer-Policy"] == "same-origin"
    assert page["Cache-Control"] == "private, no-store"
    assert page["X-Robots-Tag"] == "noindex"
    played = client.get(video_url(token, job), headers={"Range": "bytes=0-99"})
    assert played.status_code == 206
    assert len(b"".join(played.streaming_content)) == 100
    rows = list(ClientLinkView.objects.order_by("at", "pk").values_list("address", "played"))
    assert rows == [("203.0.113.7", "page"), ("127.0.0.1", f"job:{job.pk}")]


def test_the_first_view_tells_the_owner_once_by_notice_and_webhook(
    user, job, monkeypatch, django_capture_on_commit_callbacks
):
    fake_dns(monkeypatch, {"hooks.example": [PUBLIC_IP]})
    endpoint = endpoint_create(
        owner=user,
        url="https://hooks.example/ana",
        events=[Event.CLIENT_LINK_VIEWED],
        for_team=False,
    )
    link, token = make_link(user, job, label="Acme")
    with django_capture_on_commit_callbacks(execute=False):
        assert Client().get(open_url(token)).status_code == 200
        assert Client().get(open_url(token)).status_code == 200
    assert ClientLinkView.objects.filter(link=link).count() == 2
    assert list(Notice.objects.filter(recipient=user).values_list("text", flat=True)) == [
        "A client opened your link Acme to “Secret prompt of the owner”"
    ]
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.event_type == Event.CLIENT_LINK_VIEWED
    data = delivery.payload["data"]
    assert data["link"]["id"] == link.pk
    assert (data["video"]["kind"], data["video"]["id"]) == ("job", job.pk)
    assert data["address"] == "127.0.0.1"
    assert slack_text(delivery.payload) == (
        "A client opened your link Acme to “Secret prompt of the owner” "
        f"<{settings.STUDIO_URL}{reverse('review:video', args=['job', job.pk])}|Open>"
    )
    assert data["address"] == "127.0.0.1"
    link.refresh_from_db()
    assert link.first_viewed_at is not None


def test_a_first_view_another_request_already_logged_fires_nothing(user, job, rf):
    """Two first views at once: the one whose conditional update loses tells no one."""
    link, _token = make_link(user, job)
    stale = ClientLink.objects.get(pk=link.pk)  # read before the other view landed
    links.view_log(link, rf.get("/"), "page")
    links.view_log(stale, rf.get("/"), "page")
    assert Notice.objects.filter(recipient=user).count() == 1


def test_a_password_is_asked_checked_and_remembered(user, job):
    _link, token = make_link(user, job, password="open sesame")
    client = Client()
    asked = client.get(open_url(token))
    assert asked.status_code == 200
    assert b'name="password"' in asked.content
    assert video_url(token, job).encode() not in asked.content
    assert client.get(video_url(token, job)).status_code == 403
    wrong = client.post(open_url(token), {"password": "open sesam"})
    assert wrong.status_code == 403
    assert b"not the one this link asks for" in wrong.content
    assert not ClientLinkView.objects.exists()
    right = client.post(open_url(token), {"password": "open sesame"})
    assert right.status_code == 303
    assert right["Location"] == open_url(token)
    page = client.get(open_url(token))
    assert video_url(token, job).encode() in page.content
    assert client.get(video_url(token, job)).status_code == 200
    # Another browser has not given it.
    assert b'name="password"' in Client().get(open_url(token)).content


def comment(client, token, job, **fields):
    data = {"guest_name": "Cleo", "text": "Lovely", "at_seconds": "0.5", "video": f"job:{job.pk}"}
    return client.post(reverse("links:comment", args=[token]), {**data, **fields})


def test_a_guest_comments_when_the_link_allows_it(user, job):
    link, token = make_link(user, job, guests_may_comment=True)
    client = Client()
    sent = comment(client, token, job, text="<b>Lovely</b>")
    assert sent.status_code == 303
    note = Comment.objects.get()
    assert (note.guest_name, note.link, note.job, note.author) == ("Cleo", link, job, None)
    assert note.text == "<b>Lovely</b>"
    empty = comment(client, token, job, text="  ")
    assert empty.status_code == 400
    assert b"Write something to comment." in empty.content
    assert Comment.objects.count() == 1


def test_a_guest_may_not_comment_through_a_link_that_does_not_allow_it(user, job):
    _link, token = make_link(user, job)
    response = comment(Client(), token, job)
    assert response.status_code == 403
    assert not Comment.objects.exists()
    assert b'name="text"' not in Client().get(open_url(token)).content


def test_a_guest_flood_is_refused_and_nothing_past_the_limit_is_stored(user, job):
    _link, token = make_link(user, job, guests_may_comment=True)
    client = Client()
    for n in range(GUEST_COMMENTS_PER_MINUTE):
        assert comment(client, token, job, text=f"Note {n}").status_code == 303
    refused = comment(client, token, job, text="One too many")
    assert refused.status_code == 400
    assert b"Too many comments" in refused.content
    assert Comment.objects.count() == GUEST_COMMENTS_PER_MINUTE


def test_a_video_the_link_does_not_share_is_a_404(user, job, mp4_bytes, data_dir):
    other = finished(user, mp4_bytes, data_dir)
    _link, token = make_link(user, job, guests_may_comment=True)
    client = Client()
    assert client.get(video_url(token, other)).status_code == 404
    assert client.get(reverse("links:video", args=[token, "cut", job.pk])).status_code == 404
    assert comment(client, token, job, video=f"job:{other.pk}").status_code == 404
    assert not Comment.objects.exists()
    assert not ClientLinkView.objects.exists()


def test_a_storyboard_link_shares_its_picked_takes_in_order_and_its_cut(user, mp4_bytes, data_dir):
    board = boards.storyboard_create(owner=user, name="Spring campaign", model=MODEL)
    jobs = []
    for n in (1, 2):
        shot = boards.shot_add(storyboard=board, author=user, prompt=f"Shot {n}")
        take_job = finished(user, mp4_bytes, data_dir)
        boards.take_pick(
            shot=shot, take=Take.objects.create(shot=shot, job=take_job, number=1), author=user
        )
        jobs.append(take_job)
    unpicked = finished(user, mp4_bytes, data_dir)
    Take.objects.create(shot=shot, job=unpicked, number=2)
    cut = Cut.objects.create(storyboard=board, status="ready", signature="x", duration_seconds=2)
    storage.store_bytes(
        storage.relative_storyboard_file(board.pk, f"cuts/{cut.pk}/cut.mp4"), mp4_bytes
    )
    _link, token = make_link(user, board)
    body = Client().get(open_url(token)).content.decode()
    sources = [video_url(token, video) for video in (*jobs, cut)]
    assert [body.index(src) for src in sources] == sorted(body.index(src) for src in sources)
    assert video_url(token, unpicked) not in body
    assert Client().get(video_url(token, cut)).status_code == 200
    assert Client().get(video_url(token, unpicked)).status_code == 404


@pytest.mark.parametrize("close", ["revoke", "expire"])
def test_a_closed_link_is_a_410_that_says_nothing_on_every_route(user, job, close):
    link, token = make_link(user, job, label="Acme rough cut", guests_may_comment=True)
    if close == "revoke":
        links.link_revoke(link=link)
    else:
        ClientLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())
    client = Client()
    for response in (
        client.get(open_url(token)),
        client.post(open_url(token), {"password": "x"}),
        client.get(video_url(token, job)),
        comment(client, token, job),
    ):
        assert response.status_code == 410
        body = response.content.decode()
        assert "Acme" not in body
        assert "Secret prompt" not in body
        assert user.username not in body.replace(token, "")
        assert response["X-Robots-Tag"] == "noindex"
    assert not ClientLinkView.objects.exists()
    assert not Comment.objects.exists()


def test_an_unknown_token_is_the_same_blank_page_with_a_404(user, job):
    link, token = make_link(user, job)
    links.link_revoke(link=link)
    gone = Client().get(open_url(token))
    unknown = Client().get(open_url(token[:-1] + ("A" if token[-1] != "A" else "B")))
    assert unknown.status_code == 404
    assert unknown.content == gone.content


def test_extending_reopens_an_expired_link(logged_in, user, job):
    link, token = make_link(user, job)
    ClientLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(days=1))
    assert Client().get(open_url(token)).status_code == 410
    response = logged_in.post(reverse("links:extend", args=[link.pk]), {"days": "3"})
    assert response.status_code == 302
    link.refresh_from_db()
    assert timedelta(days=2, hours=23) < link.expires_at - timezone.now() <= timedelta(days=3)
    assert Client().get(open_url(token)).status_code == 200


def test_a_revoked_link_is_not_extended(logged_in, user, job):
    link, _token = make_link(user, job)
    links.link_revoke(link=link)
    response = logged_in.post(reverse("links:extend", args=[link.pk]), {"days": "3"})
    assert response.status_code == 400
    assert b"stays revoked" in response.content


def test_someone_elses_link_is_a_404_to_extend_or_revoke(client, user, other_user, job):
    link, _token = make_link(user, job)
    client.force_login(other_user)
    assert client.post(reverse("links:extend", args=[link.pk]), {"days": "3"}).status_code == 404
    assert client.post(reverse("links:revoke", args=[link.pk])).status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None


def new_link(client, **fields):
    return client.post(reverse("links:new"), {"days": "7", **fields})


def test_the_new_link_is_shown_once(logged_in, user, job):
    response = new_link(logged_in, target=f"job:{job.pk}", label="Acme")
    assert response.status_code == 201
    link = ClientLink.objects.get()
    body = response.content.decode()
    start = body.index("http://testserver/c/")
    url = body[start : body.index('"', start)]
    token = url.removeprefix("http://testserver/c/").rstrip("/")
    assert hash_token(token) == link.token_hash
    assert "no-store" in response["Cache-Control"]
    listed = logged_in.get(reverse("links:list")).content.decode()
    assert token not in listed
    assert f"…{link.token_hint}" in listed


def test_a_link_to_what_the_owner_cannot_see_is_a_404(client, user, other_user, job):
    client.force_login(other_user)
    assert new_link(client, target=f"job:{job.pk}").status_code == 404
    assert not ClientLink.objects.exists()


def test_a_link_to_a_teammates_shared_job_is_a_403(client, other_user, user, mp4_bytes, data_dir):
    shared = finished(user, mp4_bytes, data_dir, visibility=Visibility.SHARED)
    client.force_login(other_user)
    assert new_link(client, target=f"job:{shared.pk}").status_code == 403
    assert not ClientLink.objects.exists()


@pytest.mark.parametrize("days", ["0", "91", "seven", ""])
def test_bad_days_are_a_400_with_a_sentence(logged_in, job, days):
    response = new_link(logged_in, target=f"job:{job.pk}", days=days)
    assert response.status_code == 400
    assert b"A link lasts" in response.content
    assert not ClientLink.objects.exists()


def test_the_list_preselects_the_target_and_shows_views(logged_in, user, job):
    _link, token = make_link(user, job, label="Acme")
    Client().get(open_url(token), REMOTE_ADDR="198.51.100.4")
    body = logged_in.get(reverse("links:list") + f"?target=job:{job.pk}").content.decode()
    assert f'value="job:{job.pk}" selected' in body
    assert "198.51.100.4" in body
    assert "Acme" in body


def test_a_label_with_markup_renders_as_text_for_owner_and_client(logged_in, user, job):
    hostile = "<script>alert(1)</script><b onclick=x>Acme</b>"
    _link, token = make_link(user, job, label=hostile)
    for response in (logged_in.get(reverse("links:list")), Client().get(open_url(token))):
        body = response.content.decode()
        assert hostile not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_wrong_passwords_past_the_limit_are_a_429_even_for_the_right_one(user, job):
    _link, token = make_link(user, job, password="open sesame")
    client = Client()
    for _n in range(link_views.PASSWORD_ATTEMPTS):
        assert client.post(open_url(token), {"password": "guess"}).status_code == 403
    refused = client.post(open_url(token), {"password": "open sesame"})
    assert refused.status_code == 429
    assert b"Too many wrong passwords" in refused.content
    assert b'name="password"' in client.get(open_url(token)).content


def test_the_owners_review_page_offers_a_client_link_to_that_video(client, user, other_user):
    job = make_job(user, status="completed", visibility="shared", video_url="videos/x/output.mp4")
    page = reverse("review:video", args=["job", job.pk])
    client.force_login(user)
    html = client.get(page).content.decode()
    assert f'href="{reverse("links:list")}?target=job:{job.pk}"' in html
    client.force_login(other_user)
    assert 'id="client-link"' not in client.get(page).content.decode()
