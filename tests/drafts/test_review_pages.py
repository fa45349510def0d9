"""The review page of one video and its forms (drafts.review.views), and review badges.

Through the Django test client on the real database: what the page shows, what each form
changes, and what a refused form leaves as it was.
"""

import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from drafts.models import Cut, Take
from drafts.review import services
from drafts.review.models import Comment, Favourite, Rating, ReviewChange
from drafts.storyboards import services as boards
from jobs.models import Notice, ReviewState, Visibility
from tests.factories import MODEL, Status, make_batch, make_job, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def video(user):
    """Ana's finished job, shared with the team and in review, eight seconds long."""
    job = make_job(
        user,
        status=Status.COMPLETED,
        visibility=Visibility.SHARED,
        metadata={"video": {"duration_seconds": 8.0}},
    )
    services.review_move(video=job, to_state=ReviewState.IN_REVIEW, by=user)
    return job


@pytest.fixture
def reviewer(db):
    person = make_user("rita")
    person.user_permissions.add(Permission.objects.get(codename="review_videos"))
    return person


def page_url(video, kind="job"):
    return reverse("review:video", args=[kind, video.pk])


def post(client, name, video, data, *more, kind="job"):
    return client.post(reverse(f"review:{name}", args=[kind, video.pk, *more]), data)


def as_(client, person):
    client.force_login(person)
    return client


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, in order."""

    def __init__(self, html):
        super().__init__()
        self.tags = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def find(self, tag, **attrs):
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]


def test_the_page_shows_the_player_state_stars_and_comments_in_the_videos_order(
    client, video, user, other_user, django_assert_max_num_queries
):
    services.comment_add(video=video, author=other_user, text="Later on", at_seconds=5)
    services.comment_add(video=video, author=other_user, text="On the whole", at_seconds=None)
    early = services.comment_add(video=video, author=other_user, text="Early on", at_seconds="3")
    services.comment_add(video=video, author=user, text="Agreed", parent=early)
    services.comment_resolve(comment=early, video=video, by=user)
    services.rating_set(video=video, person=other_user, stars=4)
    services.rating_set(video=video, person=user, stars=2)
    services.review_move(video=video, to_state=ReviewState.CHANGES_REQUESTED, by=other_user)
    services.review_move(video=video, to_state=ReviewState.IN_REVIEW, by=user)
    as_(client, user)
    # A fixed number of queries, however many comments, replies and changes there are.
    with django_assert_max_num_queries(10):
        response = client.get(page_url(video))
    assert response.status_code == 200
    body = response.content.decode()
    tags = Elements(body)
    [player] = tags.find("video", id="review-player")
    assert player["src"] == reverse("jobs:video", args=[video.pk])
    assert player["preload"] == "metadata" and "controls" in player
    assert tags.find("span", **{"data-review-state": "in_review"})
    assert ">In review</span>" in body
    assert "3.0 of 5 stars from 2 ratings" in body
    assert tags.find("button", name="stars", value="2", **{"aria-pressed": "true"})
    # Pinned comments in the video's order, each a link that seeks; the whole video's last.
    seeks = [a["data-seek"] for a in tags.find("a") if "data-seek" in a]
    assert seeks == ["3.000", "5.000"]
    assert body.index("Early on") < body.index("Later on") < body.index("On the whole")
    assert ">0:03</a>" in body
    # Without the script, the moment is a number of seconds a person types.
    [moment] = tags.find("input", name="at_seconds")
    assert moment["type"] == "number" and "hidden" not in moment
    assert tags.find("input", type="checkbox", name="whole", value="1")
    # The history says who set each state; the script is a file, never inline.
    history = re.findall(r"<li>([\w ]+) · (\w+) · <time", body)
    assert history == [("In review", "ana"), ("Changes requested", "bo"), ("In review", "ana")]
    scripts = tags.find("script")
    assert scripts and all(s.get("src") for s in scripts)
    assert any(s["src"].endswith("js/review.js") for s in scripts)


def test_a_cut_plays_its_own_file_with_its_poster(client, user):
    board = boards.storyboard_create(owner=user, name="Harbour", model=MODEL)
    cut = Cut.objects.create(storyboard=board, status=Cut.Status.READY, duration_seconds=2)
    response = as_(client, user).get(page_url(cut, "cut"))
    assert response.status_code == 200
    [player] = Elements(response.content.decode()).find("video", id="review-player")
    assert player["src"] == reverse("storyboards:cut-video", args=[board.pk, cut.pk])
    assert player["poster"] == reverse("storyboards:cut-poster", args=[board.pk, cut.pk])
    # A draft shows its state here, where its review starts.
    assert 'data-review-state="draft"' in response.content.decode()


def test_a_teammate_comments_at_3_seconds_and_the_owner_is_told(client, video, user, other_user):
    response = post(
        as_(client, other_user), "comment", video, {"text": "Too dark", "at_seconds": "3"}
    )
    comment = Comment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{page_url(video)}#comment-{comment.pk}"
    assert (comment.author, comment.at_seconds, comment.text) == (
        other_user,
        Decimal("3"),
        "Too dark",
    )
    notice = Notice.objects.get(recipient=user)
    assert notice.text == "bo commented on “A fox” at 0:03"
    assert notice.url == f"{page_url(video)}#comment-{comment.pk}"


def test_the_whole_video_box_sends_no_moment(client, video, other_user):
    data = {"text": "Lovely", "at_seconds": "2", "whole": "1"}
    assert post(as_(client, other_user), "comment", video, data).status_code == 302
    assert Comment.objects.get().at_seconds is None


def test_a_comment_past_the_end_is_refused_with_the_sentence_and_keeps_the_text(
    client, video, user, other_user
):
    data = {"text": "The ending <b>drags</b>", "at_seconds": "99"}
    response = post(as_(client, other_user), "comment", video, data)
    assert response.status_code == 400
    body = response.content.decode()
    assert "That moment is past the video&#x27;s end (0:08)." in body
    assert "The ending &lt;b&gt;drags&lt;/b&gt;</textarea>" in body
    assert 'value="99"' in body
    assert not Comment.objects.exists()
    assert not Notice.objects.filter(recipient=user).exclude(text__contains="marked").exists()


@pytest.mark.parametrize("moment", ["1e999", "100000", "NaN", "-1", "soon"])
def test_a_moment_no_video_reaches_is_a_400_even_when_its_length_is_unknown(client, user, moment):
    job = make_job(user, status=Status.COMPLETED, options={})  # no length known
    response = post(as_(client, user), "comment", job, {"text": "x", "at_seconds": moment})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert not Comment.objects.exists()


@pytest.mark.parametrize("stars", ["0", "6"])
def test_a_rating_of_0_or_6_is_refused_and_changes_nothing(client, video, other_user, stars):
    services.rating_set(video=video, person=other_user, stars=3)
    response = post(as_(client, other_user), "rate", video, {"stars": stars})
    assert response.status_code == 400
    assert "A rating is one to five stars." in response.content.decode()
    assert list(Rating.objects.values_list("person__username", "stars")) == [("bo", 3)]


def test_stars_are_set_changed_and_cleared(client, video, other_user):
    as_(client, other_user)
    assert post(client, "rate", video, {"stars": "5"}).status_code == 302
    assert post(client, "rate", video, {"stars": "2"}).status_code == 302
    assert list(Rating.objects.values_list("stars", flat=True)) == [2]
    assert post(client, "rate", video, {"stars": ""}).status_code == 302
    assert not Rating.objects.exists()


def test_a_favourite_is_toggled_and_a_bad_flag_is_refused(client, video, other_user):
    as_(client, other_user)
    assert post(client, "favourite", video, {"on": "1"}).status_code == 302
    assert Favourite.objects.filter(person=other_user, job=video).exists()
    assert 'aria-pressed="true">♥' in client.get(page_url(video)).content.decode()
    assert post(client, "favourite", video, {"on": "yes"}).status_code == 400
    assert Favourite.objects.filter(person=other_user, job=video).exists()
    assert post(client, "favourite", video, {"on": "0"}).status_code == 302
    assert not Favourite.objects.exists()


def test_a_plain_teammate_cannot_approve_but_a_reviewer_can(client, video, other_user, reviewer):
    as_(client, other_user)
    buttons = Elements(client.get(page_url(video)).content.decode()).find("button", name="state")
    assert [b["value"] for b in buttons] == ["changes_requested"]
    response = post(client, "state", video, {"state": "approved"})
    assert response.status_code == 403
    video.refresh_from_db()
    assert video.review_state == ReviewState.IN_REVIEW
    assert ReviewChange.objects.count() == 1

    as_(client, reviewer)
    buttons = Elements(client.get(page_url(video)).content.decode()).find("button", name="state")
    assert {b["value"] for b in buttons} == {"approved", "changes_requested", "draft"}
    response = post(client, "state", video, {"state": "approved"})
    assert response.status_code == 302
    assert response["Location"] == page_url(video)
    video.refresh_from_db()
    assert video.review_state == ReviewState.APPROVED
    assert re.search(r"Approved · rita · <time", client.get(page_url(video)).content.decode())


def test_a_move_the_state_does_not_allow_is_a_400_with_the_sentence(client, video, user):
    response = post(as_(client, user), "state", video, {"state": "in_review"})
    assert response.status_code == 400
    assert "cannot be marked “in review”" in response.content.decode()
    assert ReviewChange.objects.count() == 1


def test_a_thread_is_resolved_and_reopened_by_who_may(client, video, user, other_user):
    thread = services.comment_add(video=video, author=other_user, text="Too dark", at_seconds=1)
    stranger = make_user("cy")  # a teammate who neither wrote it nor owns the video
    response = post(as_(client, stranger), "resolve", video, {}, thread.pk)
    assert response.status_code == 403
    thread.refresh_from_db()
    assert thread.resolved_at is None

    response = post(as_(client, user), "resolve", video, {}, thread.pk)
    assert response.status_code == 302
    assert response["Location"] == f"{page_url(video)}#comment-{thread.pk}"
    thread.refresh_from_db()
    assert thread.resolved_at is not None and thread.resolved_by == user
    tags = Elements(client.get(page_url(video)).content.decode())
    assert tags.find("details", id=f"comment-{thread.pk}", **{"class": "thread resolved"})
    assert tags.find("input", name="reopen", value="1")

    response = post(client, "resolve", video, {"reopen": "1"}, thread.pk)
    assert response.status_code == 302
    thread.refresh_from_db()
    assert thread.resolved_at is None
    assert Elements(client.get(page_url(video)).content.decode()).find(
        "article", id=f"comment-{thread.pk}"
    )


def test_a_reply_joins_its_thread_and_a_comment_of_another_video_is_a_404(
    client, video, user, other_user
):
    thread = services.comment_add(video=video, author=user, text="Check the sky", at_seconds=2)
    response = post(
        as_(client, other_user), "comment", video, {"text": "Fixed", "parent": thread.pk}
    )
    reply = Comment.objects.get(parent=thread)
    assert response["Location"] == f"{page_url(video)}#comment-{reply.pk}"
    assert reply.at_seconds == thread.at_seconds
    body = client.get(page_url(video)).content.decode()
    start = body.index(f'id="comment-{thread.pk}"')
    assert start < body.index(f'id="comment-{reply.pk}"') < body.index("</article>", start)

    other = make_job(user, status=Status.COMPLETED, visibility=Visibility.SHARED)
    elsewhere = services.comment_add(video=other, author=user, text="Elsewhere")
    for data, more in [({"text": "Lost", "parent": elsewhere.pk}, ()), ({}, (elsewhere.pk,))]:
        name = "comment" if not more else "resolve"
        assert post(client, name, video, data, *more).status_code == 404
    assert Comment.objects.count() == 3
    assert Comment.objects.get(pk=elsewhere.pk).resolved_at is None


def test_comment_text_renders_as_text_with_its_line_breaks(client, video, user, other_user):
    text = "<script>alert('x')</script>\nsecond line <img src=x onerror=alert(1)>"
    services.comment_add(video=video, author=other_user, text=text, at_seconds=1)
    body = as_(client, user).get(page_url(video)).content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;<br>second line &lt;img" in body
    assert "<script>alert" not in body and "<img src=x" not in body


def test_a_video_the_viewer_may_not_see_is_a_404_and_gets_no_comment(client, user, other_user):
    private = make_job(user, status=Status.COMPLETED)
    as_(client, other_user)
    assert client.get(page_url(private)).status_code == 404
    assert post(client, "comment", private, {"text": "Hi", "at_seconds": "1"}).status_code == 404
    assert not Comment.objects.exists()


def test_the_badge_shows_on_the_job_list_the_batch_and_the_job(client, user):
    batch = make_batch(user)
    job = make_job(user, status=Status.COMPLETED, batch=batch, review_state=ReviewState.APPROVED)
    draft = make_job(user, status=Status.COMPLETED, batch=batch)
    as_(client, user)
    # The list reads the state with its cards, not once more per card.
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("jobs:index"))
    for _ in range(4):
        make_job(user, status=Status.COMPLETED, review_state=ReviewState.IN_REVIEW)
    with CaptureQueriesContext(connection) as more:
        client.get(reverse("jobs:index"))
    assert len(more) == len(few)
    for url in [reverse("jobs:index"), reverse("jobs:batch", args=[batch.pk])]:
        body = client.get(url).content.decode()
        card = body[body.index(f'id="job-{job.pk}"') :]
        card = card[: card.index("</article>")]
        assert 'data-review-state="approved">Approved</span>' in card, url
        other = body[body.index(f'id="job-{draft.pk}"') :]
        assert "data-review-state" not in other[: other.index("</article>")], url
    detail = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert 'data-review-state="approved"' in detail
    assert f'href="{page_url(job)}">Review</a>' in detail


def test_the_badge_shows_on_the_storyboards_takes_and_cut(client, user):
    board = boards.storyboard_create(owner=user, name="Harbour", model=MODEL)
    shot = boards.shot_add(storyboard=board, author=user, prompt="A quay", duration_seconds=4)
    job = make_job(user, status=Status.COMPLETED, review_state=ReviewState.CHANGES_REQUESTED)
    take = Take.objects.create(shot=shot, job=job, number=1)
    boards.take_pick(shot=shot, take=take, author=user)
    cut = Cut.objects.create(
        storyboard=board,
        status=Cut.Status.READY,
        duration_seconds=4,
        review_state=ReviewState.IN_REVIEW,
    )
    as_(client, user)
    body = client.get(board.get_absolute_url()).content.decode()
    row = body[body.index(f'id="take-{take.pk}"') :]
    assert 'data-review-state="changes_requested"' in row[: row.index("</tr>")]
    section = body[body.index('id="cut"') :]
    assert 'data-review-state="in_review"' in section
    assert f'href="{page_url(cut, "cut")}">Review</a>' in section
    page = client.get(cut.get_absolute_url()).content.decode()
    assert 'data-review-state="in_review">In review</span>' in page
    assert f'href="{page_url(cut, "cut")}">Review</a>' in page
