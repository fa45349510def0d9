"""The compare page: a shot's completed takes side by side, what differs between them marked.

The takes are real rows (storyboard and shot through the services, jobs completed with a
real MP4 in the data dir), read back through the page as a person's browser asks for it.
"""

import re

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertInHTML, assertNotContains

from drafts.models import Take
from drafts.storyboards import services
from jobs import media, storage
from tests.factories import JOB_OPTIONS, MODEL, make_job

pytestmark = pytest.mark.django_db


def completed_take(shot, owner, number, *, video, prompt, cost="0.40", **options):
    """Save a take of shot whose job completed with video (MP4 bytes), as the pipeline leaves one:
    the file in the data dir, its poster beside it, its length (probed) in the metadata."""
    job = make_job(
        owner,
        prompt_text=prompt,
        status="completed",
        stage="done",
        progress=100,
        completed_at=timezone.now(),
        options={**JOB_OPTIONS, **options},
        estimated_cost_usd=cost,
        actual_cost_usd=cost,
    )
    job.video_url = storage.relative_output(job.pk)
    storage.store_bytes(job.video_url, video)
    poster = storage.relative_resource(job.pk, "image", storage.POSTER_NAME)
    with storage.local_copy(job.video_url) as path:
        seconds = media.probe(path).duration
        storage.store_made(poster, lambda temp: media.write_poster(path, temp))
    job.metadata = {"video": {"duration_seconds": seconds}}
    job.save(update_fields=["video_url", "metadata"])
    return Take.objects.create(shot=shot, job=job, number=number, created_by=owner)


@pytest.fixture
def board(user):
    return services.storyboard_create(owner=user, name="The lighthouse", model=MODEL)


@pytest.fixture
def shot(board, user):
    return services.shot_add(
        storyboard=board, author=user, prompt="A lighthouse at dusk", duration_seconds=4
    )


@pytest.fixture
def takes(shot, user, mp4_bytes):
    return [
        completed_take(
            shot,
            user,
            1,
            video=mp4_bytes,
            prompt="A lighthouse at dusk, waves crashing below",
            seed=11,
        ),
        completed_take(
            shot,
            user,
            2,
            video=mp4_bytes,
            prompt="A lighthouse at dawn, waves crashing below",
            seed=12,
            cost="0.80",
            resolution="1080p",
        ),
    ]


def url(board, shot, *take_ids):
    query = "&".join(f"takes={take_id}" for take_id in take_ids)
    return reverse("storyboards:compare", args=[board.pk, shot.pk]) + f"?{query}"


def row(content, name):
    """Return the settings table's row for the option name, as HTML."""
    found = re.search(rf'<tr class="param-{name}[^"]*">.*?</tr>', content, re.S)
    assert found, name
    return found.group(0)


def test_the_page_shows_both_players_and_marks_the_words_that_differ(logged_in, board, shot, takes):
    first, second = takes
    response = logged_in.get(url(board, shot, first.pk, second.pk))

    assert response.status_code == 200
    content = response.content.decode()
    for take in takes:
        video = reverse("storyboards:take-video", args=[board.pk, take.pk])
        poster = reverse("storyboards:take-poster", args=[board.pk, take.pk])
        assertContains(response, f'src="{video}"')
        assertContains(response, f'poster="{poster}"')
    assertInHTML(
        '<p class="compare-prompt">A lighthouse at <mark>dusk,</mark> waves crashing below</p>',
        content,
    )
    assertInHTML(
        '<p class="compare-prompt">A lighthouse at <mark>dawn,</mark> waves crashing below</p>',
        content,
    )
    assert content.count("<mark>") == 2
    # The captions: take, seed, model, cost and length.
    assertContains(response, f"· seed 11 · {MODEL} · $0.40 · 1.0 s")
    assertContains(response, f"· seed 12 · {MODEL} · $0.80 · 1.0 s")
    # The shared controls come hidden: without JavaScript each player keeps its own.
    assertContains(response, '<div class="compare-controls" data-compare-controls hidden>')
    assertContains(response, 'src="/static/js/compare.js"')


def test_the_settings_table_flags_the_rows_that_differ(logged_in, board, shot, takes):
    response = logged_in.get(url(board, shot, *(take.pk for take in takes)))
    content = response.content.decode()

    seed = row(content, "seed")
    assert 'class="param-seed differs"' in seed
    assert '<span class="visually-hidden"> (differs)</span>' in seed
    assert "<td>11</td>" in seed and "<td>12</td>" in seed
    resolution = row(content, "resolution")
    assert "differs" in resolution
    assert "<td>720p</td><td>1080p</td>" in resolution
    for same in ("model", "aspect_ratio", "duration_seconds"):
        assert "differs" not in row(content, same), same
    assert content.count("(differs)") == 2


def test_the_takes_show_in_the_order_chosen(logged_in, board, shot, takes):
    first, second = takes
    content = logged_in.get(url(board, shot, second.pk, first.pk)).content.decode()

    assert content.index('aria-label="Take 2"') < content.index('aria-label="Take 1"')


def test_four_takes_compare_in_a_fixed_number_of_queries(
    logged_in, board, shot, takes, user, mp4_bytes, django_assert_max_num_queries
):
    more = [
        completed_take(shot, user, n, video=mp4_bytes, prompt=f"A lighthouse {n}", seed=n)
        for n in (3, 4)
    ]
    ids = [take.pk for take in (*takes, *more)]

    # The session, the user, the storyboard, the shot with its pick, the takes with their jobs.
    with django_assert_max_num_queries(5):
        response = logged_in.get(url(board, shot, *ids))

    assert response.status_code == 200
    assert response.content.decode().count("data-compare-video") == 4


def test_a_shared_storyboard_compares_for_a_teammate_who_can_pick(
    client, other_user, user, board, shot, takes
):
    services.storyboard_update(storyboard=board, author=user, visibility="shared")
    client.force_login(other_user)

    response = client.get(url(board, shot, *(take.pk for take in takes)))

    assert response.status_code == 200
    assertContains(response, "Pick take 1")
    assertContains(response, reverse("storyboards:pick", args=[board.pk, shot.pk]))


def test_another_persons_private_storyboard_is_not_found(client, other_user, board, shot, takes):
    client.force_login(other_user)

    response = client.get(url(board, shot, *(take.pk for take in takes)))

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("chosen", "sentence"),
    [
        ("none", "Choose two to four completed takes of this shot to compare."),
        ("one", "Choose two to four completed takes of this shot to compare."),
        ("the same twice", "Choose two to four completed takes of this shot to compare."),
        ("five", "Compare at most four takes at once; 5 were chosen."),
        ("unknown", "One of the chosen takes is not a take of shot 1;"),
        ("not an id", "One of the chosen takes is not a take of shot 1;"),
        ("another shot's", "One of the chosen takes is not a take of shot 1;"),
        ("another storyboard's", "One of the chosen takes is not a take of shot 1;"),
        ("running", "Take 3 has no video yet: only completed takes can be compared."),
        ("without a video", "Take 3 has no video yet: only completed takes can be compared."),
        ("failed after its download", "Take 3 has no video yet:"),
    ],
)
def test_a_bad_choice_of_takes_is_a_400_with_a_sentence(
    logged_in, user, board, shot, takes, mp4_bytes, chosen, sentence
):
    first, second = takes
    elsewhere = services.shot_add(storyboard=board, author=user, prompt="The keeper")
    other_board = services.storyboard_create(owner=user, name="The harbour", model=MODEL)
    other_shot = services.shot_add(storyboard=other_board, author=user, prompt="Boats")
    # Each choice is made only when asked for: some make takes numbered 3.
    ids = {
        "none": lambda: [],
        "one": lambda: [first.pk],
        "the same twice": lambda: [first.pk, first.pk],
        "five": lambda: [first.pk, second.pk, "a", "b", "c"],
        "unknown": lambda: [first.pk, "00000000-0000-0000-0000-000000000000"],
        "not an id": lambda: [first.pk, "x" * 500, "%00"],
        "another shot's": lambda: [
            first.pk,
            completed_take(elsewhere, user, 1, video=mp4_bytes, prompt="Keeper").pk,
        ],
        "another storyboard's": lambda: [
            first.pk,
            completed_take(other_shot, user, 1, video=mp4_bytes, prompt="Boats").pk,
        ],
        "running": lambda: [
            first.pk,
            Take.objects.create(shot=shot, job=make_job(user, status="processing"), number=3).pk,
        ],
        "without a video": lambda: [
            first.pk,
            Take.objects.create(shot=shot, job=make_job(user, status="completed"), number=3).pk,
        ],
        # A job that failed after the download (its poster, say) has a file but no video.
        "failed after its download": lambda: [
            first.pk,
            Take.objects.create(
                shot=shot,
                job=make_job(user, status="failed", video_url=first.job.video_url),
                number=3,
            ).pk,
        ],
    }[chosen]()

    response = logged_in.get(url(board, shot, *ids))

    assert response.status_code == 400
    assertContains(response, sentence, status_code=400)
    assertNotContains(response, "data-compare-video", status_code=400)
