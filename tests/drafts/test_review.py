"""Review's operations (drafts.review.services): states, stars, favourites, comments."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from drafts.review import access, services
from drafts.review.models import Comment, Mention, Rating, ReviewChange
from jobs.models import Notice, ReviewState, VideoCreationJob, Visibility
from jobs.webhooks.models import Event, WebhookDelivery
from jobs.webhooks.services import endpoint_create, slack_text
from tests.factories import Status, make_batch, make_job, make_user
from tests.jobs.test_webhooks import PUBLIC_IP, fake_dns

pytestmark = pytest.mark.django_db


@pytest.fixture
def video(user):
    job = make_job(
        user,
        status=Status.COMPLETED,
        visibility=Visibility.SHARED,
        metadata={"video": {"duration_seconds": 8.0}},
    )
    return job


@pytest.fixture
def reviewer(db):
    person = make_user("rita", email="rita@example.com")
    person.user_permissions.add(Permission.objects.get(codename="review_videos"))
    return person


def test_a_private_job_is_a_404_to_a_teammate_and_a_shared_one_is_seen(user, other_user):
    private = make_job(user, status=Status.COMPLETED)
    shared = make_job(user, status=Status.COMPLETED, visibility=Visibility.SHARED)
    in_shared_batch = make_job(
        user, status=Status.COMPLETED, batch=make_batch(user, visibility=Visibility.SHARED)
    )
    seen = set(VideoCreationJob.objects.visible_to(other_user).values_list("pk", flat=True))
    assert seen == {shared.pk, in_shared_batch.pk}
    assert private.pk in set(VideoCreationJob.objects.visible_to(user).values_list("pk", flat=True))
    from django.http import Http404

    with pytest.raises(Http404):
        access.get_video_for_user(other_user, "job", private.pk)
    assert access.get_video_for_user(other_user, "job", shared.pk) == shared


def test_review_moves_are_recorded_and_only_the_owner_or_a_reviewer_approves(
    video, user, other_user, reviewer
):
    services.review_move(video=video, to_state=ReviewState.IN_REVIEW, by=user)
    with pytest.raises(PermissionDenied):
        services.review_move(video=video, to_state=ReviewState.APPROVED, by=other_user)
    video.refresh_from_db()
    assert video.review_state == ReviewState.IN_REVIEW
    # Asking for changes is the team's feedback to give.
    services.review_move(video=video, to_state=ReviewState.CHANGES_REQUESTED, by=other_user)
    services.review_move(video=video, to_state=ReviewState.APPROVED, by=reviewer)
    video.refresh_from_db()
    assert video.review_state == ReviewState.APPROVED
    steps = list(services.review_history(video).values_list("state", "by__username"))
    assert steps == [
        ("approved", "rita"),
        ("changes_requested", "bo"),
        ("in_review", "ana"),
    ]
    # The owner is told of what others did, not of their own moves.
    assert list(Notice.objects.filter(recipient=user).values_list("text", flat=True)) == [
        "rita marked “A fox” approved",
        "bo marked “A fox” changes requested",
    ]


def test_a_move_the_state_does_not_allow_is_refused_and_changes_nothing(video, user):
    with pytest.raises(ValidationError, match="cannot be marked"):
        services.review_move(video=video, to_state=ReviewState.APPROVED, by=user)
    with pytest.raises(ValidationError, match="not a review state"):
        services.review_move(video=video, to_state="done", by=user)
    assert not ReviewChange.objects.exists()
    video.refresh_from_db()
    assert video.review_state == ReviewState.DRAFT


def test_a_move_from_a_stale_state_is_refused(video, user):
    VideoCreationJob.objects.filter(pk=video.pk).update(review_state=ReviewState.IN_REVIEW)
    # This copy still reads "draft": someone moved it meanwhile.
    with pytest.raises(ValidationError, match="meanwhile"):
        services.review_move(video=video, to_state=ReviewState.IN_REVIEW, by=user)
    assert not ReviewChange.objects.exists()


@pytest.mark.parametrize("stars", [0, 6, "x", "4.5", -1])
def test_a_rating_outside_one_to_five_is_refused(video, user, stars):
    with pytest.raises(ValidationError, match="one to five"):
        services.rating_set(video=video, person=user, stars=stars)
    assert not Rating.objects.exists()


def test_ratings_are_per_person_with_their_average(video, user, other_user):
    services.rating_set(video=video, person=user, stars=5)
    services.rating_set(video=video, person=other_user, stars=2)
    services.rating_set(video=video, person=other_user, stars=4)  # changed, not added
    assert services.rating_summary(video, user) == {"average": 4.5, "count": 2, "mine": 5}
    services.rating_set(video=video, person=user, stars="")
    assert services.rating_summary(video, user) == {"average": 4.0, "count": 1, "mine": None}


def test_favourites_are_per_person(video, user, other_user):
    services.favourite_set(video=video, person=user, on=True)
    services.favourite_set(video=video, person=user, on=True)
    assert services.is_favourite(video, user)
    assert not services.is_favourite(video, other_user)
    services.favourite_set(video=video, person=user, on=False)
    assert not services.is_favourite(video, user)


def test_a_comment_past_the_end_or_before_the_start_is_refused(video, other_user):
    for moment, message in [("8.5", "past the video's end"), ("-1", "from the start")]:
        with pytest.raises(ValidationError, match=message):
            services.comment_add(video=video, author=other_user, text="Hm", at_seconds=moment)
    with pytest.raises(ValidationError, match="number of seconds"):
        services.comment_add(video=video, author=other_user, text="Hm", at_seconds="NaN")
    with pytest.raises(ValidationError, match="Write something"):
        services.comment_add(video=video, author=other_user, text="   ")
    assert not Comment.objects.exists()


def test_replies_join_the_thread_at_its_moment_and_threads_sort_by_moment(video, user, other_user):
    late = services.comment_add(video=video, author=other_user, text="Late", at_seconds="6")
    whole = services.comment_add(video=video, author=other_user, text="Overall")
    early = services.comment_add(video=video, author=other_user, text="Early", at_seconds="3")
    reply = services.comment_add(video=video, author=user, text="Fixed", parent=early)
    reply_to_reply = services.comment_add(video=video, author=other_user, text="Ok", parent=reply)
    assert reply.at_seconds == Decimal("3.000") and reply_to_reply.parent == early
    threads = services.comments_of(video)
    assert [t.text for t in threads] == ["Early", "Late", "Overall"]
    assert [r.text for r in threads[0].thread] == ["Fixed", "Ok"]
    assert late.at_seconds == Decimal("6.000") and whole.at_seconds is None


def test_resolving_is_for_the_author_the_owner_or_a_reviewer(video, user, other_user, reviewer):
    note = services.comment_add(video=video, author=other_user, text="Too dark", at_seconds="3")
    stranger = make_user("eve")
    with pytest.raises(PermissionDenied):
        services.comment_resolve(comment=note, video=video, by=stranger)
    services.comment_resolve(comment=note, video=video, by=user)
    assert note.resolved_by == user
    services.comment_resolve(comment=note, video=video, by=other_user, resolved=False)
    note.refresh_from_db()
    assert note.resolved_at is None


def test_a_mention_tells_the_person_once_by_notice_email_and_webhook(
    video, user, reviewer, monkeypatch, django_capture_on_commit_callbacks
):
    fake_dns(monkeypatch, {"hooks.example": [PUBLIC_IP]})
    endpoint = endpoint_create(
        owner=reviewer,
        url="https://hooks.example/rita",
        events=[Event.COMMENT_MENTIONED],
        for_team=False,
    )
    with django_capture_on_commit_callbacks(execute=True):
        comment = services.comment_add(
            video=video,
            author=user,
            text="@rita and @rita, see 0:03. @nobody and @ana too.",
            at_seconds="3",
        )
    assert list(Mention.objects.values_list("person__username", flat=True)) == ["rita"]
    assert Notice.objects.get(recipient=reviewer).text == "ana mentioned you on “A fox” at 0:03"
    assert [m.to for m in mail.outbox] == [["rita@example.com"]]
    assert "see 0:03" in mail.outbox[0].body
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.event_type == Event.COMMENT_MENTIONED
    assert delivery.payload["data"]["id"] == comment.pk
    assert delivery.payload["data"]["mentioned"] == "rita"
    assert slack_text(delivery.payload).startswith("ana mentioned you on “A fox” at 0:03 <")


def test_someone_who_cannot_see_the_video_is_not_told_of_a_mention(user):
    private = make_job(user, status=Status.COMPLETED)
    make_user("rita", email="rita@example.com")
    services.comment_add(video=private, author=user, text="@rita look")
    assert not Mention.objects.exists()
    assert not mail.outbox
