"""The team gallery (drafts/review/gallery.py): who sees what, filters, pages, compare."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from drafts import services as draft_services
from drafts.models import Cut, CutSegment, Shot, Storyboard, Take
from drafts.review import gallery
from drafts.review import services as review
from jobs.models import ReviewState, VideoCreationJob, Visibility
from tests.factories import MODEL, Status, make_batch, make_job

pytestmark = pytest.mark.django_db

URL = reverse("gallery:index")
COMPARE = reverse("gallery:compare")
OTHER_MODEL = "veo-3.1-generate-preview"


def video(owner, prompt="A fox", **fields):
    """Save a completed job of owner's with a poster, as the pipeline leaves one."""
    fields = {"status": Status.COMPLETED, "prompt_text": prompt, **fields}
    job = make_job(owner, **fields)
    VideoCreationJob.objects.filter(pk=job.pk).update(
        video_url=f"videos/{job.pk}/output.mp4",
        metadata={"poster_url": f"/jobs/{job.pk}/resources/poster/"},
    )
    job.refresh_from_db()
    return job


def board(owner, name="Board", visibility="private"):
    return Storyboard.objects.create(owner=owner, name=name, model=MODEL, visibility=visibility)


def cut(storyboard, **fields):
    fields = {"status": Cut.Status.READY, "signature": "s", "duration_seconds": 4, **fields}
    return Cut.objects.create(storyboard=storyboard, **fields)


def take_of(storyboard, job):
    shot = Shot.objects.create(storyboard=storyboard, position=1, prompt=job.prompt_text)
    return Take.objects.create(shot=shot, job=job, number=1)


def shown(client, query="", status=200):
    """Return the keys of the cards on one gallery page ("job:<id>", "cut:<id>")."""
    response = client.get(URL + query)
    assert response.status_code == status, response.content.decode()[:2000]
    return [card.key for card in response.context["cards"]]


def key(video):
    return f"{'cut' if isinstance(video, Cut) else 'job'}:{video.pk}"


def every_page(client, query=""):
    """Follow the next-page links from the first page; return every key, in order."""
    keys, url, pages = [], URL + query, []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        keys += [card.key for card in response.context["cards"]]
        url = URL + response.context["next_url"] if response.context.get("next_url") else None
        pages.append(len(response.context["cards"]))
        assert len(pages) < 50
    return keys, pages


@pytest.fixture
def as_(client):
    def log_in(person):
        client.force_login(person)
        return client

    return log_in


# --- Who sees what --------------------------------------------------------------------


@pytest.fixture
def team_videos(user, other_user):
    """Ana's videos: private and shared, by every path a video can be shared."""
    now = timezone.now()
    shared_board = board(user, "Shared board", visibility="shared")
    taken = video(user, "Take of a shared board", created_at=now - timedelta(minutes=5))
    take_of(shared_board, taken)
    return {
        "private": video(user, "Private", created_at=now - timedelta(minutes=1)),
        "shared": video(user, "Shared", visibility=Visibility.SHARED),
        "in shared batch": video(
            user,
            "In a shared batch",
            batch=make_batch(user, visibility=Visibility.SHARED),
            created_at=now - timedelta(minutes=2),
        ),
        "take of shared board": taken,
        "unfinished": make_job(user, prompt_text="Running", status=Status.PROCESSING),
        "failed": make_job(user, prompt_text="Failed", status=Status.FAILED),
        "private cut": cut(board(user, "Private board"), created_at=now - timedelta(minutes=3)),
        "shared cut": cut(shared_board, created_at=now - timedelta(minutes=4)),
        "queued cut": cut(board(user, "Third", visibility="shared"), status=Cut.Status.QUEUED),
        "bo's private": video(other_user, "Bo's own", created_at=now - timedelta(minutes=6)),
    }


def test_a_teammate_sees_what_is_shared_and_nothing_private(as_, other_user, team_videos):
    v = team_videos
    assert set(shown(as_(other_user))) == {
        key(v[name])
        for name in (
            "shared",
            "in shared batch",
            "take of shared board",
            "shared cut",
            "bo's private",
        )
    }


def test_the_owner_sees_all_their_finished_videos_and_none_unfinished(as_, user, team_videos):
    v = team_videos
    assert shown(as_(user)) == [
        key(v[name])
        for name in (
            "shared",
            "private",
            "in shared batch",
            "private cut",
            "shared cut",
            "take of shared board",
        )
    ]


def test_staff_alone_see_as_a_teammate_and_a_manager_sees_everything(
    as_, staff_user, manager, team_videos
):
    finished = {
        key(v)
        for name, v in team_videos.items()
        if name not in ("unfinished", "failed", "queued cut")
    }
    assert set(shown(as_(manager))) == finished
    assert key(team_videos["private"]) not in shown(as_(staff_user))
    assert key(team_videos["private cut"]) not in shown(as_(staff_user))


def test_a_card_shows_poster_preview_badge_owner_and_links_to_its_review(as_, other_user, user):
    job = video(user, "A <b>bold</b> fox", visibility=Visibility.SHARED, task="extend")
    review.review_move(video=job, to_state=ReviewState.IN_REVIEW, by=user)
    review.rating_set(video=job, person=other_user, stars=4)
    review.rating_set(video=job, person=user, stars=5)
    review.favourite_set(video=job, person=other_user, on=True)
    body = as_(other_user).get(URL).content.decode()
    assert f'href="{reverse("review:video", args=["job", job.pk])}"' in body
    assert f'poster="{job.metadata["poster_url"]}"' in body
    preview = f'src="{reverse("jobs:video", args=[job.pk])}"'
    assert preview in body and 'preload="none"' in body and "muted" in body
    assert 'data-review-state="in_review">In review</span>' in body
    assert "4.5 ★" in body and "Your favourite" in body
    assert "ana · " + MODEL + " · Extend a video" in body
    assert "A &lt;b&gt;bold&lt;/b&gt; fox" in body
    assert f'value="job:{job.pk}" id="compare-job-{job.pk}"' in body  # its compare checkbox
    assert f'<label for="compare-job-{job.pk}">Compare</label>' in body
    assert "js/gallery.js" in body and "<script>" not in body and " style=" not in body


# --- Filters ----------------------------------------------------------------------------


@pytest.fixture
def varied(user, other_user):
    """Shared videos that differ in one thing each, all seen by ana."""
    now = timezone.now()
    draft = draft_services.draft_save(author=user, name="D", prompts=["a"])
    storyboard = board(other_user, "Night walk", visibility="shared")
    rows = {
        "plain": video(user, "A plain fox", created_at=now - timedelta(days=10)),
        "bo's": video(other_user, "Bo's fox", visibility=Visibility.SHARED),
        "approved": video(user, "Approved fox", review_state=ReviewState.APPROVED),
        "other model": video(user, "Another model's fox", model=OTHER_MODEL),
        "extend": video(user, "An extended fox", task="extend"),
        "from draft": video(user, "A drafted fox", draft=draft),
        "take": video(other_user, "A fox in a take", visibility=Visibility.SHARED),
        "cut": cut(storyboard),
    }
    take_of(storyboard, rows["take"])
    review.rating_set(video=rows["approved"], person=user, stars=5)
    review.rating_set(video=rows["approved"], person=other_user, stars=4)
    review.rating_set(video=rows["plain"], person=user, stars=2)
    review.rating_set(video=rows["cut"], person=user, stars=4)
    review.favourite_set(video=rows["bo's"], person=user, on=True)
    review.favourite_set(video=rows["plain"], person=other_user, on=True)  # not ana's
    return rows


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?owner=bo", {"bo's", "take", "cut"}),
        ("?state=approved", {"approved"}),
        ("?rating=4", {"approved", "cut"}),
        ("?rating=2", {"approved", "cut", "plain"}),
        ("?favourites=on", {"bo's"}),
        (f"?model={OTHER_MODEL}", {"other model"}),
        ("?task=extend", {"extend"}),
        ("?source=storyboard", {"take", "cut"}),
        ("?source=draft", {"from draft"}),
        ("?source=neither", {"plain", "bo's", "approved", "other model", "extend"}),
        ("?kind=cut", {"cut"}),
        (
            "?kind=job",
            {"plain", "bo's", "approved", "other model", "extend", "from draft", "take"},
        ),
        # The date is filled in by the test: a test's id must not change at midnight,
        # or xdist's workers, collecting a second apart, disagree on what the tests are.
        ("?until={nine_days_ago}", {"plain"}),
        (
            "?since={nine_days_ago}",
            {"bo's", "approved", "other model", "extend", "from draft", "take", "cut"},
        ),
        ("?q=FOX+IN", {"take"}),
        ("?q=night", {"cut"}),  # a cut is found by its storyboard's name
        ("?owner=nobody", set()),
    ],
)
def test_each_filter_keeps_only_what_it_names(as_, user, varied, query, expected):
    query = query.replace("{nine_days_ago}", str(timezone.localdate() - timedelta(days=9)))
    assert set(shown(as_(user), query)) == {key(varied[name]) for name in expected}


def test_a_cut_is_found_by_the_prompts_of_its_segments(as_, user):
    job = video(user, "Lanterns over the river")
    found = cut(board(user))
    CutSegment.objects.create(cut=found, position=1, job=job, trim_in=0, trim_out=1)
    cut(board(user, "Another"))
    assert set(shown(as_(user), "?q=lanterns&kind=cut")) == {key(found)}


def test_the_search_folds_case_and_accents_and_finds_cjk_words_as_written(as_, user):
    cafe = video(user, "Café au lait at dawn")
    tokyo = video(user, "夜の東京タワー、雨")
    plain = video(user, "A cafe without an accent")
    summer = video(user, "L'été à Paris")
    client = as_(user)
    assert set(shown(client, "?q=café")) == {key(cafe), key(plain)}
    assert set(shown(client, "?q=CAFE")) == {key(cafe), key(plain)}
    assert shown(client, "?q=Caf%C3%A9+AU") == [key(cafe)]
    assert shown(client, "?q=%C3%89T%C3%89") == [key(summer)]  # ÉTÉ, on SQLite too
    assert shown(client, "?q=東京") == [key(tokyo)]


@pytest.mark.parametrize(
    "query",
    [
        "?rating=9",
        "?rating=four",
        "?sort=sideways",
        "?state=lost",
        "?model=no-such-model",
        "?task=dance",
        "?source=thin-air",
        "?since=yesterday",
        "?since=2026-02-30",
        "?since=2026-05-02&until=2026-05-01",
        "?after=garbage",
        "?after=2026-01-01T00:00:00|job|x",  # no time zone
        "?sort=rated&after=2026-01-01T00:00:00%2B00:00|job|x",  # no stars in it
        "?after=2026-01-01T00:00:00%2B00:00|job|a%00b",  # PostgreSQL refuses a NUL
        "?after=2026-01-01T00:00:00%2B00:00|frame|x",
        "?q=" + "x" * 201,
        "?q=a%00b",
    ],
)
def test_a_bad_filter_is_a_400_with_its_error_shown(as_, user, query):
    video(user)
    response = as_(user).get(URL + query)
    assert response.status_code == 400
    assert response.context["form"].errors
    assert '<p class="error">' in response.content.decode()
    assert response.context["cards"] == []


# --- Sorts and pages --------------------------------------------------------------------


def test_the_sorts_order_newest_oldest_and_best_rated(as_, user, other_user):
    now = timezone.now()
    old = video(user, "Old", created_at=now - timedelta(days=2))
    middle = cut(board(user), created_at=now - timedelta(days=1))
    new = video(user, "New", created_at=now)
    review.rating_set(video=old, person=user, stars=3)
    review.rating_set(video=middle, person=user, stars=5)
    review.rating_set(video=middle, person=other_user, stars=4)
    client = as_(user)
    assert shown(client) == [key(new), key(middle), key(old)]
    assert shown(client, "?sort=newest") == [key(new), key(middle), key(old)]
    assert shown(client, "?sort=oldest") == [key(old), key(middle), key(new)]
    assert shown(client, "?sort=rated") == [key(middle), key(old), key(new)]


@pytest.fixture
def sixty(user, other_user):
    """60 videos of ana's: jobs and cuts, many made at the very same moment, some rated."""
    moment = timezone.now()
    storyboard = board(user)
    rows = []
    for n in range(45):
        rows.append(video(user, f"Job {n}", created_at=moment - timedelta(seconds=n // 4)))
    for n in range(15):
        rows.append(cut(storyboard, created_at=moment - timedelta(seconds=n // 2)))
    for n, row in enumerate(rows[::3]):
        review.rating_set(video=row, person=user, stars=1 + n % 5)
        review.favourite_set(video=row, person=user, on=True)
    return rows


@pytest.mark.parametrize("sort", ["newest", "oldest", "rated"])
def test_the_pages_show_every_video_once_in_order(as_, user, sixty, sort):
    keys, pages = every_page(as_(user), f"?sort={sort}")
    assert pages == [24, 24, 12]
    assert len(keys) == len(set(keys)) == 60
    assert set(keys) == {key(row) for row in sixty}
    # In the sort's order, across the pages' seams too.
    scores = {key(row): review.rating_summary(row)["average"] or 0 for row in sixty}
    made = {key(row): row.created_at for row in sixty}
    if sort == "rated":
        order = [(scores[k], made[k]) for k in keys]
        assert order == sorted(order, reverse=True)
    else:
        times = [made[k] for k in keys]
        assert times == sorted(times, reverse=sort == "newest")


def test_a_filtered_walk_keeps_its_filter_on_every_page(as_, user, sixty):
    keys, pages = every_page(as_(user), "?kind=job&favourites=on")
    favourites = {key(row) for row in sixty[::3] if not isinstance(row, Cut)}
    assert pages == [len(favourites)] and set(keys) == favourites
    keys, pages = every_page(as_(user), "?kind=job")
    assert pages == [24, 21] and len(set(keys)) == 45


def test_a_page_costs_the_same_queries_with_5_videos_as_with_60(as_, user, other_user):
    client = as_(user)

    def queries(query=""):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(URL + query)
        assert response.status_code == 200
        return len(captured), len(response.context["cards"])

    storyboard = board(user)
    for n in range(4):
        job = video(user, f"Job {n}")
        review.rating_set(video=job, person=other_user, stars=3)
    review.favourite_set(video=cut(storyboard), person=user, on=True)
    few = queries(), queries("?sort=rated")
    assert [cards for _count, cards in few] == [5, 5]
    for n in range(50):
        job = video(user, f"More {n}", visibility=Visibility.SHARED)
        review.rating_set(video=job, person=other_user, stars=1 + n % 5)
        review.favourite_set(video=job, person=user, on=n % 2 == 0)
    for _ in range(6):
        review.favourite_set(video=cut(storyboard), person=user, on=True)
    many = queries(), queries("?sort=rated")
    assert [cards for _count, cards in many] == [24, 24]
    assert [count for count, _cards in many] == [count for count, _cards in few]
    second = client.get(URL).context["next_url"]
    assert queries(second)[0] == few[0][0]


# --- Compare ----------------------------------------------------------------------------


def test_two_videos_are_compared_with_their_differences(as_, user, other_user):
    first = video(user, "A red fox", options={"seed": 1, "resolution": "720p"})
    second = video(other_user, "A grey fox", visibility=Visibility.SHARED, options={"seed": 2})
    segments = [{"prompt": "A fox", "costUsd": "0.40"}, {"prompt": "", "costUsd": "0.80"}]
    shared_cut = cut(board(other_user, visibility="shared"), edit_list=segments)
    query = f"?v=job:{first.pk}&v=job:{second.pk}&v=cut:{shared_cut.pk}"
    response = as_(user).get(COMPARE + query)
    assert response.status_code == 200
    comparison = response.context["comparison"]
    assert [item.video["label"] for item in comparison.videos] == [
        "1. ana's video",
        "2. bo's video",
        "3. bo's cut",
    ]
    seed = next(row for row in comparison.parameters if row.name == "seed")
    assert seed.differs and seed.values == ["1", "2", "—"]
    resolution = next(row for row in comparison.parameters if row.name == "resolution")
    assert resolution.differs and resolution.values == ["720p", "—", "720p"]
    assert [item.video["cost"] for item in comparison.videos][2] == Decimal("1.20")
    body = response.content.decode()
    assert "<mark>red</mark>" in body and "<mark>grey</mark>" in body
    assert reverse("jobs:video", args=[first.pk]) in body
    assert reverse("storyboards:cut-video", args=[shared_cut.storyboard_id, shared_cut.pk]) in body
    assert reverse("review:video", args=["cut", shared_cut.pk]) in body


@pytest.mark.parametrize("count", [0, 1, 5])
def test_fewer_than_two_or_more_than_four_videos_are_refused(as_, user, count):
    videos = [video(user, f"Fox {n}") for n in range(count)]
    query = "&".join(f"v=job:{v.pk}" for v in videos)
    response = as_(user).get(f"{COMPARE}?{query}")
    assert response.status_code == 400
    assert f"Choose two to four videos to compare; {count}" in response.content.decode()


def test_the_same_video_twice_is_one_video(as_, user):
    fox = video(user)
    response = as_(user).get(f"{COMPARE}?v=job:{fox.pk}&v=job:{fox.pk}")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "unseen",
    [
        lambda owner: f"job:{video(owner, 'Private').pk}",
        lambda owner: f"cut:{cut(board(owner)).pk}",
        lambda owner: f"job:{make_job(owner, status=Status.PROCESSING).pk}",
        lambda owner: "job:no-such-id",
        lambda owner: "frame:1",
        lambda owner: "job:a\x00b",
    ],
    ids=["private job", "private cut", "unfinished", "no such id", "no such kind", "nul"],
)
def test_a_video_the_viewer_may_not_see_is_a_404(as_, user, other_user, unseen):
    mine = video(other_user, "Bo's own")
    response = as_(other_user).get(COMPARE, {"v": [f"job:{mine.pk}", unseen(user)]})
    assert response.status_code == 404


def test_the_gallery_is_in_the_navigation(as_, user):
    body = as_(user).get(reverse("jobs:index")).content.decode()
    assert f'<a href="{URL}">Gallery</a>' in body


def test_the_page_size_is_what_the_tests_assume():
    assert gallery.PAGE_SIZE == 24


def test_the_filters_form_shows_the_filters_chosen_though_the_empty_one_is_kept(as_, user):
    client = as_(user)
    empty = client.get("/gallery/").content.decode()
    assert 'name="q"' in empty and 'value="lantern"' not in empty
    chosen = client.get("/gallery/?q=lantern&sort=oldest").content.decode()
    assert 'value="lantern"' in chosen
    assert '<option value="oldest" selected>' in chosen
    # The kept rendering of the empty form is the same as a fresh one, and stays empty.
    assert client.get("/gallery/").content.decode().count('value="lantern"') == 0
    assert client.get("/gallery/?q=").status_code == 200
