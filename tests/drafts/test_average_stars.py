"""A video's stored average stars (drafts.review.averages), kept on every rating's write.

The gallery sorts and filters by `average_stars` on the job's or the cut's row; these
tests write ratings every way the studio and its database do (the review service, plain
ORM writes as the admin makes, a person deleted and their ratings cascading away in the
database, ratings written in bulk) and read the column back, on SQLite and on PostgreSQL.
"""

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from drafts.models import Cut, Storyboard
from drafts.review import averages
from drafts.review import services as review
from drafts.review.models import Rating
from jobs.models import VideoCreationJob
from tests.factories import MODEL, Status, make_job, make_user

pytestmark = pytest.mark.django_db


def stored(video):
    return type(video).objects.values_list("average_stars", flat=True).get(pk=video.pk)


@pytest.fixture
def job(user):
    return make_job(user, status=Status.COMPLETED)


@pytest.fixture
def cut(user):
    board = Storyboard.objects.create(owner=user, name="Board", model=MODEL)
    return Cut.objects.create(storyboard=board, status=Cut.Status.READY, signature="s")


@pytest.mark.parametrize("which", ["job", "cut"])
def test_rating_changing_and_clearing_stars_keeps_the_average(request, which, user, other_user):
    video = request.getfixturevalue(which)
    review.rating_set(video=video, person=user, stars=5)
    assert stored(video) == 5
    review.rating_set(video=video, person=other_user, stars=2)
    assert stored(video) == pytest.approx(3.5)
    review.rating_set(video=video, person=other_user, stars=4)
    assert stored(video) == pytest.approx(4.5)
    review.rating_set(video=video, person=user, stars=None)
    assert stored(video) == 4
    review.rating_set(video=video, person=other_user, stars="")
    assert stored(video) == 0


def test_one_videos_ratings_leave_anothers_average_alone(job, cut, user):
    other = make_job(user, status=Status.COMPLETED)
    review.rating_set(video=job, person=user, stars=1)
    review.rating_set(video=cut, person=user, stars=4)
    assert (stored(job), stored(cut), stored(other)) == (1, 4, 0)


def test_a_rating_written_without_the_service_is_counted_too(job, user, other_user):
    Rating.objects.create(job=job, person=user, stars=2)
    Rating.objects.create(job=job, person=other_user, stars=3)
    assert stored(job) == pytest.approx(2.5)
    rating = Rating.objects.get(job=job, person=user)
    rating.stars = 5
    rating.save()
    assert stored(job) == 4
    Rating.objects.filter(job=job).delete()
    assert stored(job) == 0


def test_ratings_written_in_bulk_are_averaged_by_refresh_all(job, cut, user, other_user):
    Rating.objects.bulk_create(
        [
            Rating(job=job, person=user, stars=1),
            Rating(job=job, person=other_user, stars=2),
            Rating(cut=cut, person=user, stars=5),
        ]
    )
    averages.refresh_all()
    assert (stored(job), stored(cut)) == (1.5, 5)


def test_a_deleted_persons_ratings_leave_the_average_with_them(job, cut, user, other_user):
    leaver = make_user("leaver")
    review.rating_set(video=job, person=leaver, stars=5)
    review.rating_set(video=cut, person=leaver, stars=5)
    review.rating_set(video=job, person=other_user, stars=1)
    review.rating_set(video=cut, person=other_user, stars=3)
    # The database deletes the ratings (ON DELETE CASCADE): Django sends no signal for them.
    get_user_model().objects.filter(pk=leaver.pk).delete()
    assert (stored(job), stored(cut)) == (1, 3)


def test_a_video_that_goes_takes_its_ratings_and_nothing_fails(job, cut, user):
    review.rating_set(video=job, person=user, stars=5)
    review.rating_set(video=cut, person=user, stars=5)
    VideoCreationJob.objects.filter(pk=job.pk).delete()
    cut.storyboard.delete()
    assert not Rating.objects.exists()


def _waiting_on_a_lock():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite lets one writer in at a time")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_ratings_committed_at_once_are_both_averaged(job):
    """The second rating is written while the first's transaction is open, then both commit.

    Without the row lock before the average, the second's average is read from a snapshot taken
    before the first committed, and the first's stars are lost from it.
    """
    first, second = make_user("rater1"), make_user("rater2")
    written, failures = threading.Event(), []

    def rate(person, stars, *, hold):
        try:
            with transaction.atomic():
                Rating.objects.create(job=job, person=person, stars=stars)
                if hold:
                    written.set()
                    deadline = time.monotonic() + 10
                    while not _waiting_on_a_lock() and time.monotonic() < deadline:
                        time.sleep(0.02)
        except Exception as error:
            failures.append(error)
        finally:
            connection.close()

    holder = threading.Thread(target=rate, args=(first, 1), kwargs={"hold": True})
    holder.start()
    assert written.wait(10)
    follower = threading.Thread(target=rate, args=(second, 4), kwargs={"hold": False})
    follower.start()
    for thread in (holder, follower):
        thread.join(20)
        assert not thread.is_alive()
    assert not failures
    assert stored(job) == pytest.approx(2.5)
