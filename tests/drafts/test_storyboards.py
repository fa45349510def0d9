"""Storyboard services: shots, versions, takes, picks, trims, generate all, chains, cuts.

Takes run for real: job_create, the pipeline against the emulator over HTTP, django-q2
in sync mode; cuts are assembled from the takes' stored MP4s with PyAV.
"""

from decimal import Decimal

import av
import pytest
from django.core.exceptions import ValidationError

from drafts.models import Cut, Shot, StoryboardVersion, Take
from drafts.storyboards import services
from jobs import retention, storage
from jobs.models import VideoCreationJob
from jobs.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import run_due_jobs
from tests.factories import MODEL, make_job

pytestmark = pytest.mark.django_db

Status = VideoCreationJob.Status


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.VEO_RETRY_BASE_SECONDS = 0.01


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a service call and every task and hook it queues, to the end, as a worker would."""

    def call(function, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            result = function(**kwargs)
        # A chain starts the next take from a hook of the last: play until nothing runs.
        for _ in range(10):
            with django_capture_on_commit_callbacks(execute=True):
                run_due_jobs()
            if not VideoCreationJob.objects.active().exists():
                break
        return result

    return call


@pytest.fixture
def board(user):
    return services.storyboard_create(owner=user, name="The lighthouse", model=MODEL)


def add(board, user, prompt, **values):
    values.setdefault("duration_seconds", 4)
    return services.shot_add(storyboard=board, author=user, prompt=prompt, **values)


def hooked(user, event):
    """An endpoint of user's that chose event (its deliveries go nowhere: only rows count)."""
    WebhookEndpoint.objects.create(owner=user, url="https://hooks.invalid/x", events=[event])


def message(exc_info):
    return " ".join(exc_info.value.messages)


def duration_of(name):
    with storage.local_copy(name) as path, av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio
        seconds = float(video.duration * video.time_base)
        return seconds, bool(audio)


# --- Shots and versions ----------------------------------------------------------------


def test_every_change_keeps_the_previous_storyboard_as_a_version(board, user):
    first = add(board, user, "A lighthouse at dusk")
    second = add(board, user, "The lamp turns", task=Shot.Task.CONTINUE_FRAME)
    services.shot_update(shot=first, author=user, prompt="A lighthouse at night")
    services.shot_move(shot=second, author=user, to=1)

    numbers = list(board.versions.values_list("number", flat=True))
    assert numbers == [5, 4, 3, 2, 1]
    before_move = StoryboardVersion.objects.get(storyboard=board, number=4).snapshot
    assert [s["prompt"] for s in before_move["shots"]] == [
        "A lighthouse at night",
        "The lamp turns",
    ]
    # A shot moved first has nothing to continue from: it starts from its prompt.
    second.refresh_from_db()
    assert (second.position, second.task) == (1, Shot.Task.TEXT)

    services.storyboard_restore(
        storyboard=board,
        version=StoryboardVersion.objects.get(storyboard=board, number=3),
        author=user,
    )
    shots = services.ordered_shots(board)
    assert [(s.prompt, s.task) for s in shots] == [
        ("A lighthouse at dusk", Shot.Task.TEXT),
        ("The lamp turns", Shot.Task.CONTINUE_FRAME),
    ]
    assert board.version == 6


def test_a_stale_base_version_is_refused_and_nothing_changes(board, user):
    add(board, user, "A lighthouse")
    with pytest.raises(services.StoryboardConflict):
        add(board, user, "Another", base_version=1)
    assert board.shots.count() == 1


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"prompt": "  "}, "Write what the shot shows"),
        ({"prompt": "x", "task": "dance"}, "Choose one of"),
        ({"prompt": "x", "duration_seconds": 0}, "1 to 60 seconds"),
        ({"prompt": "x", "options": {"colour": "red"}}, "Unknown options: colour"),
        ({"prompt": "x", "duration_seconds": 5}, "Veo 3.1 Fast"),
        ({"prompt": "x", "task": "first_frame"}, "needs one image"),
    ],
)
def test_a_bad_shot_is_refused_with_a_sentence(board, user, values, expected):
    values.setdefault("duration_seconds", 4)
    with pytest.raises(ValidationError) as caught:
        services.shot_add(storyboard=board, author=user, **values)
    assert expected in message(caught)
    assert board.shots.count() == 0
    assert board.versions.count() == 1


def test_the_first_shot_cannot_continue_from_a_previous_one(board, user):
    with pytest.raises(ValidationError) as caught:
        add(board, user, "Onwards", task=Shot.Task.CONTINUE_FRAME)
    assert "no previous shot" in message(caught)


# --- Takes, picks and trims ------------------------------------------------------------


def test_takes_are_jobs_numbered_within_their_shot_and_a_completed_one_is_picked(
    board, user, veo, run
):
    shot = add(board, user, "A lighthouse at dusk")
    first = run(services.take_generate, shot=shot, user=user)
    second = run(services.take_generate, shot=shot, user=user)
    assert [t.number for t in shot.takes.all()] == [1, 2]
    first.job.refresh_from_db()
    assert first.job.status == Status.COMPLETED
    assert first.job.prompt_text == "A lighthouse at dusk" and first.job.model == MODEL

    services.take_pick(shot=shot, take=second, author=user)
    shot.refresh_from_db()
    assert shot.picked == second
    assert "Picked take 2 of shot 1" in board.versions.first().note


def test_a_failed_take_cannot_be_picked(board, user):
    shot = add(board, user, "A lighthouse")
    job = make_job(user, status=Status.FAILED, error="Blocked")
    take = Take.objects.create(shot=shot, job=job, number=1)
    with pytest.raises(ValidationError) as caught:
        services.take_pick(shot=shot, take=take, author=user)
    assert "Take 1 failed" in message(caught)
    shot.refresh_from_db()
    assert shot.picked is None


def test_a_continuing_shot_waits_for_the_previous_pick(board, user):
    add(board, user, "A lighthouse")
    second = add(board, user, "The lamp turns", task=Shot.Task.CONTINUE_FRAME)
    with pytest.raises(ValidationError) as caught:
        services.take_generate(shot=second, user=user)
    assert "continues from shot 1, which has no picked take" in message(caught)
    assert not VideoCreationJob.objects.exists()


def test_a_trim_past_the_takes_end_is_refused(board, user, veo, run):
    shot = add(board, user, "A lighthouse")
    take = run(services.take_generate, shot=shot, user=user)
    services.take_pick(shot=shot, take=take, author=user)
    with pytest.raises(ValidationError) as caught:
        services.shot_set_trim(shot=shot, author=user, trim_in="1", trim_out="9")
    assert "past the take's end (4.0 s)" in message(caught)
    with pytest.raises(ValidationError):
        services.shot_set_trim(shot=shot, author=user, trim_in="3", trim_out="2")
    with pytest.raises(ValidationError):
        services.shot_set_trim(shot=shot, author=user, trim_in="soon")
    shot.refresh_from_db()
    assert (shot.trim_in, shot.trim_out) == (0, None)
    services.shot_set_trim(shot=shot, author=user, trim_in="0.5", trim_out="3.5")
    shot.refresh_from_db()
    assert (shot.trim_in, shot.trim_out) == (Decimal("0.5"), Decimal("3.5"))


# --- Generate all and chains -----------------------------------------------------------


def test_generate_all_runs_unpicked_shots_as_one_batch_and_leaves_continuations_waiting(
    board, user, veo, run
):
    add(board, user, "A lighthouse")
    add(board, user, "The lamp turns", task=Shot.Task.CONTINUE_FRAME)
    add(board, user, "Gulls over the sea")
    plan = services.generate_all_plan(board)
    assert [s.position for s in plan.now] == [1, 3]
    assert [(s.position, why) for s, why in plan.waiting] == [(2, "waits for a pick in shot 1")]
    assert plan.cost == Decimal("0.80")

    batch, _ = run(services.storyboard_generate_all, storyboard=board, user=user)
    assert batch.jobs.count() == 2
    assert sorted(Take.objects.values_list("shot__position", flat=True)) == [1, 3]


def test_a_chained_run_picks_each_take_and_starts_the_next_shot_from_its_last_frame(
    board, user, veo, run
):
    add(board, user, "A lighthouse")
    second = add(board, user, "The lamp turns", task=Shot.Task.CONTINUE_FRAME)
    third = add(board, user, "The beam sweeps", task=Shot.Task.CONTINUE_FRAME)
    plan = services.generate_all_plan(board, chain=True)
    assert ([s.position for s in plan.now], [s.position for s in plan.later]) == ([1], [2, 3])
    assert plan.cost == Decimal("1.20")

    run(services.storyboard_generate_all, storyboard=board, user=user, chain=True)

    shots = services.ordered_shots(board)
    assert all(shot.picked is not None for shot in shots)
    assert all(shot.picked.job.status == Status.COMPLETED for shot in shots)
    # Each continuation was made from the previous take's last frame.
    for shot in (second, third):
        job = Take.objects.get(shot=shot).job
        assert job.task == "image_to_video"
        assert job.resources.filter(filename="first-frame.png").exists()
    board.refresh_from_db()
    assert not board.chaining


def test_a_completed_take_fires_take_completed(board, user, veo, run):
    hooked(user, "take.completed")
    shot = add(board, user, "A lighthouse")
    take = run(services.take_generate, shot=shot, user=user)
    delivery = WebhookDelivery.objects.get(event_type="take.completed")
    assert delivery.payload["data"]["id"] == take.pk
    assert delivery.payload["data"]["job"]["status"] == "completed"


# --- Cuts ------------------------------------------------------------------------------


def picked_board(board, user, run, count=3):
    for n in range(count):
        shot = add(board, user, f"Shot number {n + 1}")
        take = run(services.take_generate, shot=shot, user=user)
        services.take_pick(shot=shot, take=take, author=user)
    return services.ordered_shots(board)


def test_the_cut_joins_the_picked_trimmed_takes_with_audio_and_an_edit_list(board, user, veo, run):
    hooked(user, "storyboard.cut_ready")
    shots = picked_board(board, user, run)
    services.shot_set_trim(shot=shots[1], author=user, trim_in="1", trim_out="3")

    cut = run(services.cut_request, storyboard=board, user=user)
    cut.refresh_from_db()
    assert cut.status == Cut.Status.READY, cut.error
    seconds, has_audio = duration_of(
        storage.relative_storyboard_file(board.pk, f"cuts/{cut.pk}/cut.mp4")
    )
    assert seconds == pytest.approx(4 + 2 + 4, abs=1 / 24)
    assert has_audio
    assert cut.duration_seconds == pytest.approx(10, abs=1 / 24)
    assert [(s["shot"], s["in"], s["out"]) for s in cut.edit_list] == [
        (1, "0.000", None),
        (2, "1.000", "3.000"),
        (3, "0.000", None),
    ]
    assert cut.edit_list[1]["prompt"] == "Shot number 2"
    assert cut.edit_list[1]["costUsd"] == "0.4000"
    assert storage.exists(storage.relative_storyboard_file(board.pk, f"cuts/{cut.pk}/poster.jpg"))
    assert storage.exists(
        storage.relative_storyboard_file(board.pk, f"cuts/{cut.pk}/edit-list.json")
    )
    assert (
        WebhookDelivery.objects.get(event_type="storyboard.cut_ready").payload["data"]["id"]
        == cut.pk
    )
    # The cut's sources and picks are kept by retention.
    kept = VideoCreationJob.objects.filter(retention.protected())
    assert set(kept.values_list("pk", flat=True)) == {s.picked.job_id for s in shots}


def test_assembling_twice_at_once_makes_one_cut(board, user, veo, run):
    picked_board(board, user, run, count=1)
    first = services.cut_request(storyboard=board, user=user)
    second = services.cut_request(storyboard=board, user=user)
    assert first.pk == second.pk
    assert Cut.objects.count() == 1


def test_a_cut_needs_every_shot_picked(board, user):
    with pytest.raises(ValidationError) as caught:
        services.cut_request(storyboard=board, user=user)
    assert "no shots yet" in message(caught)
    add(board, user, "A lighthouse")
    with pytest.raises(ValidationError) as caught:
        services.cut_request(storyboard=board, user=user)
    assert "Shot 1 has no picked take" in message(caught)
    assert not Cut.objects.exists()


def test_a_cut_whose_take_was_deleted_fails_with_a_sentence(board, user, veo, run):
    shots = picked_board(board, user, run, count=2)
    cut = services.cut_request(storyboard=board, user=user)
    VideoCreationJob.objects.filter(pk=shots[1].picked.job_id).delete()
    services.cut_assemble(cut.pk)
    cut.refresh_from_db()
    assert cut.status == Cut.Status.FAILED
    assert cut.error == "Shot 2's take was deleted; pick another take and assemble again."
    assert not storage.exists(storage.relative_storyboard_file(board.pk, f"cuts/{cut.pk}/cut.mp4"))


def test_changing_a_trim_makes_the_cut_stale_and_the_old_one_stays_ready(board, user, veo, run):
    shots = picked_board(board, user, run, count=1)
    cut = run(services.cut_request, storyboard=board, user=user)
    assert services.current_signature(board) == cut.signature
    services.shot_set_trim(shot=shots[0], author=user, trim_in="1")
    assert services.current_signature(board) != cut.signature
    ready, newest = services.latest_cut(board)
    assert ready.pk == cut.pk == newest.pk


def test_a_shot_can_natively_extend_the_previous_picked_take(board, user, veo, run):
    first = add(board, user, "A lighthouse")
    take = run(services.take_generate, shot=first, user=user)
    services.take_pick(shot=first, take=take, author=user)
    second = add(
        board, user, "The beam reaches the sea", task=Shot.Task.CONTINUE_EXTEND, duration_seconds=8
    )

    extension = run(services.take_generate, shot=services.ordered_shots(board)[1], user=user)
    extension.job.refresh_from_db()
    assert extension.shot_id == second.pk
    assert (extension.job.task, extension.job.parent_id) == ("extend", take.job_id)
    assert extension.job.status == Status.COMPLETED, extension.job.error


def test_deleting_a_storyboard_keeps_its_takes_as_jobs_and_removes_its_files(
    board, user, veo, run, django_capture_on_commit_callbacks
):
    shots = picked_board(board, user, run, count=1)
    cut = run(services.cut_request, storyboard=board, user=user)
    name = storage.relative_storyboard_file(board.pk, f"cuts/{cut.pk}/cut.mp4")
    assert storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        services.storyboard_delete(storyboard=board)
    assert not storage.exists(name)
    assert VideoCreationJob.objects.filter(pk=shots[0].picked.job_id).exists()
    assert not Take.objects.exists() and not Cut.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_assembly_requests_at_the_same_moment_make_one_cut(user, monkeypatch):
    import threading

    from django.db import connection

    monkeypatch.setattr(services, "async_task", lambda *args, **kwargs: None)
    board = services.storyboard_create(owner=user, name="Race", model=MODEL)
    shot = add(board, user, "A quay")
    take = Take.objects.create(shot=shot, job=make_job(user, status=Status.COMPLETED), number=1)
    services.take_pick(shot=shot, take=take, author=user)
    # Both look before either inserts: the partial unique constraint decides.
    looked = threading.Barrier(2, timeout=10)
    real_latest = services.latest_cut

    def latest_then_wait(storyboard):
        found = real_latest(storyboard)
        looked.wait()
        return found

    monkeypatch.setattr(services, "latest_cut", latest_then_wait)
    made, errors = [], []

    def request():
        try:
            made.append(services.cut_request(storyboard=board, user=user).pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(made) == 2 and made[0] == made[1]
    assert Cut.objects.count() == 1
