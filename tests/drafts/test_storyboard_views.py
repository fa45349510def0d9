"""The storyboard pages: the board and its one poll, reordering without JavaScript,
the confirmation of "Generate all", the pages' refusals, and the cut sweep."""

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from drafts.models import Cut, Shot, Storyboard, Take
from drafts.storyboards import services
from jobs.models import Budget, VideoCreationJob
from tests.factories import MODEL, make_job, session_queries

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


def board_poll(page):
    """Return the board's poll URL, as the page's poller holds it."""
    return unescape(re.search(r'id="board" hx-get="([^"]+)"', page)[1])


def test_the_poll_answers_204_until_something_the_board_shows_changes(
    logged_in, board, user, django_assert_num_queries
):
    from drafts.review import services as review
    from jobs import services as job_services

    shot = add(board, user, "A quay")
    running = take_of(shot, user, status=Status.PROCESSING, stage="generating")
    done = take_of(shot, user, status=Status.COMPLETED)
    htmx = {"HX-Request": "true"}
    poll = board_poll(logged_in.get(url("detail", board)).content.decode())
    changes = {
        "the running take's progress": lambda: job_services.job_transition(
            running.job_id, from_stage="generating", to_stage="generating", progress=60
        ),
        "a review of a take": lambda: review.review_move(
            video=done.job, to_state="in_review", by=user
        ),
        "the shot's prompt": lambda: services.shot_update(
            shot=shot, author=user, prompt="A quay at dusk"
        ),
        "a new take": lambda: take_of(shot, user, status=Status.IDLE),
        # A write stamped before the newest one but committed after it (a worker that
        # waited for the lock, or another host's clock).
        "a late commit": lambda: VideoCreationJob.objects.filter(pk=done.job_id).update(
            error="", updated_at=running.job.created_at
        ),
        "an assembly": lambda: Cut.objects.create(
            storyboard=board, signature="x", status=Cut.Status.ASSEMBLING
        ),
        # An assembly a worker left, taken back by the sweep (and run again, here at once).
        "the sweep's requeue": lambda: services.cuts_recover(
            now=timezone.now() + timedelta(seconds=services.CUT_STALL_SECONDS + 1)
        ),
    }
    for change, make in changes.items():
        # The session, the user, the storyboard, its version (3): not the board.
        with django_assert_num_queries(session_queries() + 5):
            quiet = logged_in.get(poll, headers=htmx)
        assert quiet.status_code == 204, f"before {change}"
        assert quiet.content == b""
        make()
        moved = logged_in.get(poll, headers=htmx)
        assert moved.status_code == 200, change
        assert board_poll(moved.content.decode()) != poll, change
        poll = board_poll(moved.content.decode())
    assert "A quay at dusk" in moved.content.decode()


def test_a_chain_that_stops_after_its_take_failed_is_shown_by_the_next_poll(logged_in, board, user):
    from jobs import services as job_services

    first, second = add(board, user, "A quay"), add(board, user, "The harbour")
    take = take_of(first, user, status=Status.PROCESSING, stage="generating")
    Shot.objects.filter(pk=second.pk).update(waiting_for_previous=True)
    Storyboard.objects.filter(pk=board.pk).update(chaining=True)
    htmx = {"HX-Request": "true"}
    page = logged_in.get(url("detail", board)).content.decode()
    assert "starts when shot 1 has a take" in page
    job_services.job_fail(take.job_id, message="Veo could not generate the video.")
    # A poll between the job's end and the chain's reaction to it: the chain is still on.
    between = logged_in.get(board_poll(page), headers=htmx)
    assert between.status_code == 200
    assert "starts when shot 1 has a take" in between.content.decode()
    services.take_job_ended(take.job_id)  # the chain stops: shot 2 waits no more
    after = logged_in.get(board_poll(between.content.decode()), headers=htmx)
    assert after.status_code == 286
    assert "starts when shot 1 has a take" not in after.content.decode()


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


def test_the_board_shows_an_assembly_in_progress_and_keeps_polling(logged_in, board, user):
    shot = add(board, user, "A quay")
    take = take_of(shot, user, status=Status.COMPLETED)
    services.take_pick(shot=shot, take=take, author=user)
    Cut.objects.create(storyboard=board, signature="x", status=Cut.Status.ASSEMBLING, progress=40)
    poll = logged_in.get(url("status", board))
    assert poll.status_code == 200
    page = poll.content.decode()
    assert "Assembling the cut" in page and 'value="40"' in page
    assert 'hx-trigger="every 2s"' in page
    assert "Assemble the cut</button>" not in page  # one at a time


def test_a_stale_cut_still_plays_and_the_board_offers_to_assemble_again(
    logged_in, board, user, mp4_bytes
):
    from jobs import storage

    shot = add(board, user, "A quay")
    take = take_of(
        shot, user, status=Status.COMPLETED, metadata={"video": {"duration_seconds": 4.0}}
    )
    services.take_pick(shot=shot, take=take, author=user)
    segments = services.cut_segments(board)
    cut = Cut.objects.create(
        storyboard=board,
        status=Cut.Status.READY,
        signature=services.cut_signature(segments),
        edit_list=segments,
        duration_seconds=4,
    )
    storage.store_bytes(
        storage.relative_storyboard_file(board.pk, f"cuts/{cut.pk}/cut.mp4"), mp4_bytes
    )
    page = logged_in.get(url("detail", board)).content.decode()
    assert "changed since this cut was made" not in page and "Assemble again" not in page

    services.shot_set_trim(shot=shot, author=user, trim_in="1")
    page = logged_in.get(url("detail", board)).content.decode()
    assert "The picks or trims changed since this cut was made." in page
    assert "Assemble again</button>" in page
    assert url("cut-video", board, cut.pk) in page
    assert logged_in.get(url("cut-video", board, cut.pk)).status_code == 200


def test_the_totals_add_the_trimmed_picks_what_was_spent_and_what_the_rest_will_cost(
    logged_in, board, user
):
    shot = add(board, user, "A quay")
    take = take_of(
        shot,
        user,
        status=Status.COMPLETED,
        actual_cost_usd=Decimal("0.40"),
        metadata={"video": {"duration_seconds": 4.0}},
    )
    services.take_pick(shot=shot, take=take, author=user)
    services.shot_set_trim(shot=shot, author=user, trim_in="0.5", trim_out="3")
    add(board, user, "Gulls", duration_seconds=8)
    totals = logged_in.get(url("detail", board)).content.decode().split('id="totals"')[1]
    assert 'data-total-seconds="10.500"' in totals  # 2.5 s picked and trimmed + 8 s to make
    assert "Spent <strong>$0.40</strong>" in totals
    assert "about <strong>$0.80</strong>" in totals


def test_a_shot_from_a_first_frame_keeps_the_uploaded_image_and_its_take_starts_from_it(
    logged_in, board, user, django_capture_on_commit_callbacks
):
    from io import BytesIO

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from jobs import storage

    buffer = BytesIO()
    Image.new("RGB", (320, 180), "teal").save(buffer, format="PNG")
    upload = SimpleUploadedFile("frame.png", buffer.getvalue(), content_type="image/png")
    response = logged_in.post(
        url("shot-add", board),
        {
            "prompt": "The quay at noon",
            "task": "first_frame",
            "duration_seconds": "4",
            "images": upload,
        },
    )
    assert response.status_code == 302
    shot = board.shots.get()
    assert len(shot.images) == 1 and storage.read_bytes(shot.images[0]) == buffer.getvalue()
    with django_capture_on_commit_callbacks(execute=False):
        logged_in.post(url("take-new", board, shot.pk))
    job = Take.objects.get(shot=shot).job
    assert job.task == "image_to_video"
    assert job.resources.filter(filename="first-frame.png").exists()


def test_a_first_frame_that_is_not_an_image_is_refused_and_nothing_is_added(logged_in, board):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(
        "frame.png", b"<html>not a picture</html>", content_type="image/png"
    )
    refused = "This file is not a PNG, JPEG or WebP image."
    assert refused not in logged_in.get(url("detail", board)).content.decode()  # form kept
    response = logged_in.post(
        url("shot-add", board),
        {"prompt": "The quay", "task": "first_frame", "duration_seconds": "4", "images": upload},
    )
    assert response.status_code == 400
    form = response.content.decode().split('id="add-shot"')[1]
    assert refused in form and "The quay</textarea>" in form  # the person's form, not the kept one
    upload.seek(0)
    again = logged_in.post(
        url("shot-add", board),
        {"prompt": "The pier", "task": "first_frame", "duration_seconds": "4", "images": upload},
    )
    assert "The pier</textarea>" in again.content.decode()
    assert not board.shots.exists()
    assert refused not in logged_in.get(url("detail", board)).content.decode()


def test_the_settings_form_shows_the_storyboard_as_it_is_now(logged_in, board, user):
    def settings_form():
        return logged_in.get(url("detail", board)).content.decode().split('id="settings"')[1]

    assert 'value="Harbour"' in settings_form()
    services.storyboard_update(storyboard=board, author=user, name="Night harbour")
    assert 'value="Night harbour"' in settings_form()


def test_restoring_a_version_whose_name_another_storyboard_took_says_so(logged_in, board, user):
    add(board, user, "A quay")
    services.storyboard_update(storyboard=board, author=user, name="Harbour at night")
    services.storyboard_create(owner=user, name="Harbour", model=MODEL)
    response = logged_in.post(url("restore", board, 1), follow=True)
    assert any("another storyboard of yours has now" in m for m in messages_of(response))
    board.refresh_from_db()
    assert board.name == "Harbour at night"


def test_a_teammate_may_not_restore_the_owners_storyboard(client, board, user, other_user):
    services.storyboard_update(storyboard=board, author=user, visibility="shared", name="Renamed")
    client.force_login(other_user)
    assert client.post(url("restore", board, 1)).status_code == 403
    board.refresh_from_db()
    assert board.name == "Renamed"


def test_a_model_the_catalog_no_longer_has_leaves_the_board_open_and_refuses_to_run(
    logged_in, board, user, settings, tmp_path
):
    import json
    from pathlib import Path

    from tests.conftest import LEGACY_CATALOG

    add(board, user, "A quay")
    entries = json.loads(Path(LEGACY_CATALOG).read_text())["models"]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": {**entries, MODEL: None}}))
    settings.VEO_CATALOG_FILE = str(path)
    assert logged_in.get(url("detail", board)).status_code == 200
    assert logged_in.get(url("status", board)).status_code == 286
    assert logged_in.get(url("generate", board)).status_code == 200
    response = logged_in.post(url("generate", board), {"confirm": "yes"}, follow=True)
    assert any("is no longer offered" in m for m in messages_of(response))
    assert not VideoCreationJob.objects.exists()


@pytest.mark.parametrize("damage", ["previous video", "stored image"])
def test_a_damaged_stored_file_refuses_the_take_with_a_sentence(
    logged_in, board, user, damage, mp4_bytes
):
    from io import BytesIO

    from PIL import Image

    from jobs import storage

    if damage == "previous video":
        first = add(board, user, "A quay")
        take = take_of(first, user, status=Status.COMPLETED)
        storage.store_bytes(storage.relative_output(take.job_id), b"not a video at all")
        services.take_pick(shot=first, take=take, author=user)
        shot = add(board, user, "Boats leave", task=Shot.Task.CONTINUE_FRAME)
        expected = "could not be read; pick another take"
    else:
        buffer = BytesIO()
        Image.new("RGB", (320, 180)).save(buffer, format="PNG")
        from jobs.frames import Frame

        frame = Frame(buffer.getvalue(), "image/png", "png", 320, 180)
        shot = add(board, user, "A quay", task=Shot.Task.FIRST_FRAME, images=[frame])
        storage.store_bytes(shot.images[0], b"junk")
        expected = "image is missing or unreadable"
    response = logged_in.post(url("take-new", board, shot.pk), follow=True)
    assert any(expected in m for m in messages_of(response))
    assert not Take.objects.filter(shot=shot).exists()


def test_a_page_number_past_any_database_is_the_empty_last_page(logged_in):
    response = logged_in.get(reverse("storyboards:list") + "?page=" + "9" * 30)
    assert response.status_code == 200
