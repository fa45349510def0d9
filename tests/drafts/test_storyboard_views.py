"""The storyboard pages: the board and its one poll, reordering without JavaScript,
the confirmation of "Generate all", the pages' refusals, and the cut sweep."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from drafts.models import Cut, Shot, Storyboard, Take
from drafts.storyboards import services
from jobs.models import Budget, VideoCreationJob
from tests.factories import MODEL, make_job

pytestmark = pytest.mark.django_db

Status = VideoCreationJob.Status


@pytest.fixture
def board(user):
    return services.storyboard_create(owner=user, name="Harbour", model=MODEL)


def add(board, user, prompt, **values):
    values.setdefault("duration_seconds", 4)
    return services.shot_add(storyboard=board, author=user, prompt=prompt, **values)


def take_of(shot, user, **fields):
    job = make_job(user, prompt_text=shot.prompt, **fields)
    number = shot.takes.count() + 1
    return Take.objects.create(shot=shot, job=job, number=number, created_by=user)


def url(name, board, *more):
    return reverse(f"storyboards:{name}", args=[board.pk, *more])


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_the_board_and_its_poll_read_a_fixed_number_of_queries(
    logged_in, board, user, django_assert_max_num_queries
):
    for n in range(12):
        shot = add(board, user, f"Shot {n}")
        for _ in range(3):
            take_of(shot, user, status=Status.PROCESSING, stage="generating")
    with django_assert_max_num_queries(16):
        response = logged_in.get(url("detail", board))
    assert response.status_code == 200
    assert response.content.decode().count('class="shot"') == 12
    with django_assert_max_num_queries(12):
        poll = logged_in.get(url("status", board), headers={"HX-Request": "true"})
    assert poll.status_code == 200
    assert 'hx-trigger="every 2s"' in poll.content.decode()


def test_the_poll_stops_with_286_once_nothing_on_the_board_is_live(logged_in, board, user):
    shot = add(board, user, "A quay")
    take = take_of(shot, user, status=Status.PROCESSING, stage="generating")
    assert logged_in.get(url("status", board)).status_code == 200
    VideoCreationJob.objects.filter(pk=take.job_id).update(status=Status.COMPLETED)
    response = logged_in.get(url("status", board))
    assert response.status_code == 286
    assert "hx-trigger" not in response.content.decode()


def test_shots_move_with_buttons_that_need_no_javascript(logged_in, board, user):
    first, _second, third = (add(board, user, p) for p in ("One", "Two", "Three"))
    response = logged_in.post(url("shot-move", board, third.pk), {"direction": "up"})
    assert response.status_code == 302
    assert [s.prompt for s in services.ordered_shots(board)] == ["One", "Three", "Two"]
    # Drag and drop posts the position to the same URL.
    logged_in.post(url("shot-move", board, first.pk), {"to": "3"})
    assert [s.prompt for s in services.ordered_shots(board)] == ["Three", "Two", "One"]
    response = logged_in.post(url("shot-move", board, first.pk), {"to": "9"}, follow=True)
    assert "Choose a position from 1 to 3." in messages_of(response)


def test_generate_all_asks_first_with_the_number_of_jobs_and_the_cost(logged_in, board, user):
    add(board, user, "A quay")
    add(board, user, "Boats leave", task=Shot.Task.CONTINUE_FRAME)
    add(board, user, "Gulls")
    page = logged_in.get(url("generate", board)).content.decode()
    assert "<strong>2 jobs</strong> for about <strong>$0.80</strong>" in page
    assert "Shot 2 waits for a pick in shot 1." in page
    chained = logged_in.get(url("generate", board) + "?chain=on").content.decode()
    assert "<strong>3 jobs</strong> for about <strong>$1.20</strong>" in chained
    assert not VideoCreationJob.objects.exists()

    response = logged_in.post(url("generate", board), {"confirm": "yes"})
    assert response.status_code == 302
    assert VideoCreationJob.objects.count() == 2
    assert VideoCreationJob.objects.values("batch").distinct().count() == 1


def test_generate_all_beyond_a_budget_is_refused_before_anything_runs(logged_in, board, user):
    Budget.objects.create(user=user, limit_usd=Decimal("0.50"))
    add(board, user, "A quay")
    add(board, user, "Gulls")
    page = logged_in.get(url("generate", board)).content.decode()
    assert "Generate 2 takes" not in page and 'role="alert"' in page
    response = logged_in.post(url("generate", board), {"confirm": "yes"}, follow=True)
    assert any("budget" in m.lower() for m in messages_of(response))
    assert not VideoCreationJob.objects.exists()


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (
            {"status": Status.FAILED, "error": "Blocked"},
            "Take 1 failed; only a completed take can be picked.",
        ),
        (
            {"status": Status.PROCESSING},
            "Take 1 is not finished; only a completed take can be picked.",
        ),
    ],
)
def test_picking_a_take_without_a_video_says_why(logged_in, board, user, state, expected):
    shot = add(board, user, "A quay")
    take = take_of(shot, user, **state)
    response = logged_in.post(url("pick", board, shot.pk), {"take": take.pk}, follow=True)
    assert expected in messages_of(response)
    shot.refresh_from_db()
    assert shot.picked is None


def test_a_take_of_another_storyboard_is_not_found(logged_in, board, user):
    shot = add(board, user, "A quay")
    other = services.storyboard_create(owner=user, name="Other", model=MODEL)
    stranger = take_of(add(other, user, "Elsewhere"), user, status=Status.COMPLETED)
    response = logged_in.post(url("pick", board, shot.pk), {"take": stranger.pk})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("trim", "expected"),
    [
        ({"trim_in": "1", "trim_out": "12"}, "The out point is past the take's end (4.0 s)."),
        ({"trim_in": "5"}, "The in point is past the take's end (4.0 s)."),
        ({"trim_in": "2", "trim_out": "1"}, "The out point must come after the in point."),
        ({"trim_in": "soon"}, "Write the in and out points in seconds, like 1.5."),
    ],
)
def test_a_bad_trim_is_refused_and_nothing_changes(logged_in, board, user, trim, expected):
    shot = add(board, user, "A quay")
    take = take_of(
        shot, user, status=Status.COMPLETED, metadata={"video": {"duration_seconds": 4.0}}
    )
    services.take_pick(shot=shot, take=take, author=user)
    version = Storyboard.objects.get(pk=board.pk).version
    response = logged_in.post(url("trim", board, shot.pk), trim, follow=True)
    assert expected in messages_of(response)
    shot.refresh_from_db()
    assert (shot.trim_in, shot.trim_out) == (0, None)
    assert Storyboard.objects.get(pk=board.pk).version == version


def test_a_shot_form_with_a_problem_shows_it_and_keeps_what_was_typed(logged_in, board):
    response = logged_in.post(
        url("shot-add", board), {"prompt": "A quay", "task": "text", "duration_seconds": "5"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "A quay" in page and "Veo 3.1 Fast" in page
    assert not board.shots.exists()


def test_assembling_without_picks_says_which_shot_lacks_one(logged_in, board, user):
    add(board, user, "A quay")
    response = logged_in.post(url("cut-new", board), follow=True)
    assert "Shot 1 has no picked take." in messages_of(response)
    assert not Cut.objects.exists()


def test_a_stalled_assembly_is_queued_again_once_then_failed(board, user, monkeypatch):
    queued = []
    monkeypatch.setattr(services, "async_task", lambda *args, **kwargs: queued.append(args))
    cut = Cut.objects.create(
        storyboard=board, signature="x", status=Cut.Status.ASSEMBLING, attempts=1
    )
    later = timezone.now() + timedelta(seconds=services.CUT_STALL_SECONDS + 1)
    assert services.cuts_recover(now=later) == 1
    cut.refresh_from_db()
    assert cut.status == Cut.Status.QUEUED and queued == [(services.CUT_TASK, cut.pk)]

    Cut.objects.filter(pk=cut.pk).update(status=Cut.Status.ASSEMBLING, attempts=2)
    assert services.cuts_recover(now=later) == 1
    cut.refresh_from_db()
    assert cut.status == Cut.Status.FAILED
    assert cut.error == "The cut's assembly stopped twice; try again."
    # A fresh one is left alone.
    fresh = Cut.objects.create(storyboard=board, signature="y", status=Cut.Status.ASSEMBLING)
    assert services.cuts_recover() == 0
    fresh.refresh_from_db()
    assert fresh.status == Cut.Status.ASSEMBLING


def test_generate_all_of_a_storyboard_without_shots_says_so(logged_in, board):
    assert "has no shots yet" in logged_in.get(url("generate", board)).content.decode()
    response = logged_in.post(url("generate", board), {"confirm": "yes"}, follow=True)
    assert "The storyboard has no shots yet." in messages_of(response)


def test_each_take_shows_its_seed_model_cost_and_the_prompt_it_was_made_from(
    logged_in, board, user
):
    shot = add(board, user, "A quay")
    take_of(shot, user, status=Status.COMPLETED, options={"seed": 42, "duration_seconds": 4})
    services.shot_update(shot=shot, author=user, prompt="A quay at night")
    row = logged_in.get(url("detail", board)).content.decode().split('class="take ')[1]
    assert "<td>42</td>" in row and f"<td>{MODEL}</td>" in row and "$0.00" in row
    assert "Made from an earlier prompt: “A quay”" in row
