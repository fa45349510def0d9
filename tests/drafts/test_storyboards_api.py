"""Storyboards through the JSON API only: shots, takes, picks, trims, generate all, cuts.

Takes run for real (the pipeline against the emulator over HTTP, django-q2 in sync mode)
and cuts are assembled with PyAV; only the API's answers and the rows are read.
"""

import base64
import io
import json

import pytest
from django.urls import reverse
from PIL import Image

from drafts.models import Cut, Shot, Storyboard, Take
from drafts.storyboards import services
from jobs.models import ApiToken, Budget, VideoCreationJob
from tests.conftest import run_due_jobs
from tests.factories import MODEL, api_client, make_job

pytestmark = pytest.mark.django_db

Status = VideoCreationJob.Status


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.VEO_RETRY_BASE_SECONDS = 0.01


@pytest.fixture
def teammate(other_user):
    return api_client(other_user)


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """Call the API and play every task the call queues to its end, as a worker would."""

    def call(client, method, url, body=None, **headers):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.generic(
                method,
                url,
                json.dumps(body) if body is not None else "",
                content_type="application/json",
                headers=headers,
            )
        for _ in range(10):
            with django_capture_on_commit_callbacks(execute=True):
                run_due_jobs()
            if not VideoCreationJob.objects.active().exists():
                break
        return response.status_code, response.json()

    return call


def url(name, *args):
    return reverse(f"api:{name}", args=args)


def png_b64(size=(320, 180)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def board(api, send):
    """A storyboard of user's, made through the API; its id."""
    status, body = send(api, "POST", url("storyboards"), {"name": "The lighthouse", "model": MODEL})
    assert status == 201, body
    return body["data"]["id"]


def add_shot(send, client, board, prompt, **fields):
    body = {"prompt": prompt, "durationSeconds": 4, **fields}
    status, answer = send(client, "POST", url("storyboard-shots", board), body)
    assert status == 201, answer
    return answer["data"]


def take_of(send, client, board, shot):
    status, answer = send(client, "POST", url("storyboard-takes", board, shot["id"]))
    assert status == 201, answer
    return answer["data"]


# --- The whole flow --------------------------------------------------------------------


def test_a_storyboard_made_picked_trimmed_and_cut_through_the_api_alone(api, user, veo, send):
    status, created = send(
        api,
        "POST",
        url("storyboards"),
        {"name": "The lighthouse", "model": MODEL, "aspectRatio": "16:9", "resolution": "720p"},
    )
    assert status == 201, created
    board = created["data"]
    assert (board["version"], board["shots"], board["isOwner"]) == (1, [], True)
    first = add_shot(
        send, api, board["id"], "A lighthouse at dusk", options={"negativePrompt": "text"}
    )
    second = add_shot(send, api, board["id"], "The lamp turns", task="continue_frame")
    assert (first["position"], second["position"], second["continues"]) == (1, 2, True)
    assert first["options"] == {"negativePrompt": "text"}

    take = take_of(send, api, board["id"], first)
    assert (take["number"], take["job"]["status"]) == (1, "idle")
    assert take["job"]["options"]["negativePrompt"] == "text"
    status, takes = send(api, "GET", url("storyboard-takes", board["id"], first["id"]))
    (listed,) = takes["data"]
    assert listed["job"]["status"] == "completed"
    assert listed["durationSeconds"] == pytest.approx(4, abs=0.05)
    assert listed["videoUrl"] == reverse("storyboards:take-video", args=[board["id"], take["id"]])

    status, picked = send(
        api, "PUT", url("storyboard-pick", board["id"], first["id"]), {"takeId": take["id"]}
    )
    assert status == 200, picked
    assert picked["data"]["pickedTakeId"] == take["id"]
    assert picked["data"]["takes"][0]["picked"] is True
    status, trimmed = send(
        api,
        "PUT",
        url("storyboard-trim", board["id"], first["id"]),
        {"trimIn": 0.5, "trimOut": 3.5},
    )
    assert status == 200, trimmed
    assert (trimmed["data"]["trimIn"], trimmed["data"]["trimOut"]) == (0.5, 3.5)

    # Shot 2 continues from shot 1's pick: its take starts from that take's last frame.
    continued = take_of(send, api, board["id"], second)
    assert continued["job"]["task"] == "image_to_video"
    send(api, "PUT", url("storyboard-pick", board["id"], second["id"]), {"takeId": continued["id"]})

    status, queued = send(api, "POST", url("storyboard-cuts", board["id"]))
    assert status == 202, queued
    status, cut = send(api, "GET", url("storyboard-cut", board["id"], queued["data"]["id"]))
    cut = cut["data"]
    assert cut["status"] == "ready", cut["error"]
    assert cut["durationSeconds"] == pytest.approx(3 + 4, abs=1 / 24)
    assert cut["stale"] is False and cut["progress"] == 100
    assert cut["videoUrl"] == reverse("storyboards:cut-video", args=[board["id"], cut["id"]])
    assert [(s["shot"], s["takeId"], s["in"], s["out"]) for s in cut["segments"]] == [
        (1, take["id"], "0.500", "3.500"),
        (2, continued["id"], "0.000", None),
    ]
    assert cut["segments"][0]["prompt"] == "A lighthouse at dusk"
    assert cut["segments"][0]["costUsd"] == "0.4000"
    assert cut["segments"][1]["start"] == pytest.approx(3, abs=1 / 24)

    status, whole = send(api, "GET", url("storyboard", board["id"]))
    whole = whole["data"]
    assert [s["pickedTakeId"] for s in whole["shots"]] == [take["id"], continued["id"]]
    assert whole["cut"]["id"] == whole["newestCut"]["id"] == cut["id"]
    assert whole["canAssemble"] is True
    assert whole["totals"]["seconds"] == pytest.approx(7, abs=0.05)
    assert whole["totals"]["spentUsd"] == "0.8000"
    status, cuts = send(api, "GET", url("storyboard-cuts", board["id"]))
    assert [c["id"] for c in cuts["data"]] == [cut["id"]]
    status, versions = send(api, "GET", url("storyboard-versions", board["id"]))
    assert versions["data"][0]["number"] == whole["version"]
    assert versions["data"][-1]["note"] == "Created"

    # A new trim makes the ready cut stale; it stays the one that plays.
    send(api, "PUT", url("storyboard-trim", board["id"], first["id"]), {"trimIn": 1})
    status, whole = send(api, "GET", url("storyboard", board["id"]))
    assert whole["data"]["cut"]["stale"] is True


def test_a_cut_requested_twice_while_it_is_queued_is_the_same_cut(api, user, board, veo, send):
    shot = add_shot(send, api, board, "A lighthouse")
    take = take_of(send, api, board, shot)
    send(api, "PUT", url("storyboard-pick", board, shot["id"]), {"takeId": take["id"]})
    first = api.post(url("storyboard-cuts", board))  # queued: its task waits for the commit
    second = api.post(url("storyboard-cuts", board))
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["data"]["id"] == second.json()["data"]["id"]
    assert first.json()["data"]["status"] == "queued"
    assert Cut.objects.count() == 1


def test_generate_all_plans_then_runs_one_batch_and_leaves_continuations_waiting(
    api, user, board, veo, send
):
    add_shot(send, api, board, "A lighthouse")
    waiting = add_shot(send, api, board, "The lamp turns", task="continue_frame")
    add_shot(send, api, board, "Gulls over the sea")
    status, plan = send(api, "GET", url("storyboard-generate", board))
    assert status == 200, plan
    plan = plan["data"]
    assert ([s["position"] for s in plan["now"]], plan["count"]) == ([1, 3], 2)
    assert plan["waiting"] == [
        {"shotId": waiting["id"], "position": 2, "reason": "waits for a pick in shot 1"}
    ]
    assert (plan["estimatedCostUsd"], plan["overBudget"]) == ("0.80", None)
    status, chained = send(api, "GET", url("storyboard-generate", board) + "?chain=true")
    assert [s["position"] for s in chained["data"]["later"]] == [2]

    status, ran = send(
        api, "POST", url("storyboard-generate", board), {}, **{"Idempotency-Key": "k1"}
    )
    assert status == 201, ran
    assert len(ran["data"]["takeIds"]) == 2
    assert VideoCreationJob.objects.filter(batch_id=ran["data"]["batchId"]).count() == 2
    # The same key again answers the same run and makes nothing.
    status, again = send(
        api, "POST", url("storyboard-generate", board), {}, **{"Idempotency-Key": "k1"}
    )
    assert (status, again["data"]["batchId"]) == (201, ran["data"]["batchId"])
    assert Take.objects.count() == 2


def test_generate_all_over_budget_is_a_403_and_makes_nothing(api, user, board, send):
    add_shot(send, api, board, "A lighthouse")
    Budget.objects.create(user=user, limit_usd="0.10")
    status, plan = send(api, "GET", url("storyboard-generate", board))
    assert "budget" in plan["data"]["overBudget"]
    status, refused = send(api, "POST", url("storyboard-generate", board), {"chain": False})
    assert status == 403, refused
    assert not VideoCreationJob.objects.exists()


def test_shots_are_moved_changed_and_removed_and_a_version_is_restored(api, board, send):
    first = add_shot(send, api, board, "One")
    second = add_shot(send, api, board, "Two")
    status, moved = send(
        api, "POST", url("storyboard-shot-move", board, second["id"]), {"position": 1}
    )
    assert (status, moved["data"]["position"]) == (200, 1)
    status, changed = send(
        api,
        "PATCH",
        url("storyboard-shot", board, first["id"]),
        {"prompt": "One, again", "notes": "Slower", "options": {"negativePrompt": "text"}},
    )
    assert status == 200, changed
    assert (changed["data"]["prompt"], changed["data"]["notes"]) == ("One, again", "Slower")
    assert changed["data"]["options"] == {"negativePrompt": "text"}
    status, gone = send(api, "DELETE", url("storyboard-shot", board, second["id"]))
    assert (status, gone["data"]) == (200, None)
    status, whole = send(api, "GET", url("storyboard", board))
    assert [(s["position"], s["prompt"]) for s in whole["data"]["shots"]] == [(1, "One, again")]
    # Version 3 had both shots, "Two" first after the move... version 3 is before it.
    status, restored = send(api, "POST", url("storyboard-restore", board, 3))
    assert status == 200, restored
    assert [s["prompt"] for s in restored["data"]["shots"]] == ["One", "Two"]
    assert restored["data"]["version"] == whole["data"]["version"] + 1


def test_a_shot_from_a_first_frame_takes_its_image_as_base64(api, board, veo, send):
    shot = add_shot(
        send,
        api,
        board,
        "The lighthouse, from this",
        task="first_frame",
        images=[{"data": png_b64(), "mimeType": "image/png"}],
    )
    assert shot["imageCount"] == 1
    take = take_of(send, api, board, shot)
    job = VideoCreationJob.objects.get(pk=take["job"]["id"])
    assert job.task == "image_to_video"
    assert job.resources.filter(filename="first-frame.png").exists()


def test_the_owner_renames_and_shares_and_deletes_a_storyboard(api, user, board, send):
    status, changed = send(
        api, "PATCH", url("storyboard", board), {"name": "The lamp", "visibility": "shared"}
    )
    assert status == 200, changed
    assert (changed["data"]["name"], changed["data"]["visibility"]) == ("The lamp", "shared")
    status, stale = send(api, "PATCH", url("storyboard", board), {"name": "X", "baseVersion": 1})
    assert status == 409, stale
    status, listed = send(api, "GET", url("storyboards") + "?scope=mine")
    assert [s["name"] for s in listed["data"]] == ["The lamp"]
    status, gone = send(api, "DELETE", url("storyboard", board))
    assert (status, gone) == (200, {"success": True, "data": None})
    assert not Storyboard.objects.exists()


def test_the_list_is_paged_by_cursor(api, user, send):
    for n in range(3):
        services.storyboard_create(owner=user, name=f"Board {n}", model=MODEL)
    _status, first = send(api, "GET", url("storyboards") + "?limit=2")
    assert len(first["data"]) == 2 and first["nextCursor"]
    _status, second = send(
        api, "GET", url("storyboards") + f"?limit=2&cursor={first['nextCursor']}"
    )
    assert [s["name"] for s in second["data"]] == ["Board 0"]
    assert second["nextCursor"] is None


# --- Who may do what -------------------------------------------------------------------


def test_another_persons_private_storyboard_is_a_404_everywhere(api, teammate, board, send):
    shot = add_shot(send, api, board, "A lighthouse")
    for method, where in [
        ("GET", url("storyboard", board)),
        ("PATCH", url("storyboard", board)),
        ("DELETE", url("storyboard", board)),
        ("POST", url("storyboard-shots", board)),
        ("POST", url("storyboard-takes", board, shot["id"])),
        ("GET", url("storyboard-cuts", board)),
    ]:
        status, answer = send(teammate, method, where, {})
        assert (status, answer["error"]) == (404, "Storyboard not found."), (method, where)
    status, listed = send(teammate, "GET", url("storyboards"))
    assert listed["data"] == []
    assert Shot.objects.count() == 1 and not Take.objects.exists()


def test_a_shared_storyboard_is_the_teams_to_work_on_but_only_the_owners_to_delete(
    api, teammate, other_user, board, veo, send
):
    send(api, "PATCH", url("storyboard", board), {"visibility": "shared"})
    shot = add_shot(send, api, board, "A lighthouse")
    status, seen = send(teammate, "GET", url("storyboard", board))
    assert status == 200
    assert (seen["data"]["canWork"], seen["data"]["isOwner"]) == (True, False)

    take = take_of(send, teammate, board, shot)
    status, picked = send(
        teammate, "PUT", url("storyboard-pick", board, shot["id"]), {"takeId": take["id"]}
    )
    assert status == 200, picked
    assert Take.objects.get().created_by == other_user

    status, refused = send(teammate, "DELETE", url("storyboard", board))
    assert status == 403, refused
    assert refused["error"] == "Only the storyboard's owner can do this."
    status, refused = send(teammate, "PATCH", url("storyboard", board), {"name": "Mine now"})
    assert status == 403
    assert Storyboard.objects.get().name == "The lighthouse"


def test_a_read_only_token_reads_but_is_refused_every_write(user, board, send):
    reader = api_client(user, name="reader", scope=ApiToken.Scope.READ)
    assert send(reader, "GET", url("storyboard", board))[0] == 200
    status, refused = send(reader, "POST", url("storyboard-shots", board), {"prompt": "A"})
    assert status == 403 and "read-only" in refused["error"]
    assert send(reader, "DELETE", url("storyboard", board))[0] == 403
    assert not Shot.objects.exists() and Storyboard.objects.exists()


# --- Bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A", "colour": "red"}, "colour"),
        ({"name": 3}, "name"),
        ({}, "name"),
        ({"name": "A", "visibility": "public"}, "visibility"),
        ({"name": "A", "model": "veo-0"}, "model"),
        ({"name": "A", "model": MODEL, "resolution": "8k"}, "resolution"),
        ({"name": "   "}, "name"),
    ],
)
def test_a_bad_new_storyboard_is_a_400_naming_the_field(api, send, body, field):
    status, answer = send(api, "POST", url("storyboards"), body)
    assert status == 400, answer
    assert field in answer["fields"], answer
    assert not Storyboard.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"durationSeconds": 4}, "prompt"),
        ({"prompt": "A", "durationSeconds": "4"}, "durationSeconds"),
        ({"prompt": "A", "durationSeconds": 5}, "durationSeconds"),
        ({"prompt": "A", "durationSeconds": 4, "task": "dance"}, "task"),
        ({"prompt": "A", "durationSeconds": 4, "task": "continue_frame"}, "task"),
        (
            {"prompt": "A", "durationSeconds": 4, "options": {"aspectRatio": "9:16"}},
            "options.aspectRatio",
        ),
        ({"prompt": "A", "durationSeconds": 4, "options": {"seed": -1}}, "options.seed"),
        ({"prompt": "A", "durationSeconds": 4, "options": ["seed"]}, "options"),
        ({"prompt": "A", "durationSeconds": 4, "task": "first_frame"}, "images"),
        (
            {
                "prompt": "A",
                "durationSeconds": 4,
                "task": "first_frame",
                "images": [{"data": "%%"}],
            },
            "images[0]",
        ),
        ({"prompt": "A", "durationSeconds": 4, "images": "x"}, "images"),
        ({"prompt": "A", "durationSeconds": 4, "position": 0}, "position"),
    ],
)
def test_a_bad_shot_is_a_400_naming_the_field_and_nothing_is_added(api, board, send, body, field):
    status, answer = send(api, "POST", url("storyboard-shots", board), body)
    assert status == 400, answer
    assert field in answer["fields"], answer
    assert not Shot.objects.exists()


def test_a_trim_past_the_takes_end_is_a_400(api, board, veo, send):
    shot = add_shot(send, api, board, "A lighthouse")
    status, answer = send(api, "PUT", url("storyboard-trim", board, shot["id"]), {"trimIn": 1})
    assert (status, answer["error"]) == (400, "Pick a take before trimming it.")
    take = take_of(send, api, board, shot)
    send(api, "PUT", url("storyboard-pick", board, shot["id"]), {"takeId": take["id"]})
    status, answer = send(
        api, "PUT", url("storyboard-trim", board, shot["id"]), {"trimIn": 1, "trimOut": 9}
    )
    assert status == 400, answer
    assert "past the take's end (4.0 s)" in answer["fields"]["trimOut"]
    for body in ({"trimIn": "soon"}, {"trimIn": -1}, {"trimIn": 3, "trimOut": 2}, {"at": 1}):
        status, answer = send(api, "PUT", url("storyboard-trim", board, shot["id"]), body)
        assert status == 400, (body, answer)
    assert Shot.objects.get().trim_out is None


def test_a_pick_of_a_failed_or_unknown_take_is_refused(api, user, board, send):
    shot = add_shot(send, api, board, "A lighthouse")
    failed = Take.objects.create(
        shot_id=shot["id"], job=make_job(user, status=Status.FAILED, error="Blocked"), number=1
    )
    pick = url("storyboard-pick", board, shot["id"])
    status, answer = send(api, "PUT", pick, {"takeId": failed.pk})
    assert status == 400
    assert answer["error"] == "Take 1 failed; only a completed take can be picked."
    status, answer = send(api, "PUT", pick, {"takeId": "nope"})
    assert (status, answer["fields"]) == (404, {"takeId": "This storyboard has no such take."})
    status, answer = send(api, "PUT", pick, {})
    assert (status, list(answer["fields"])) == (400, ["takeId"])
    assert Shot.objects.get().picked is None


def test_a_cut_with_no_shots_or_no_picks_is_a_400_and_makes_nothing(api, board, send):
    status, answer = send(api, "POST", url("storyboard-cuts", board))
    assert (status, answer["error"]) == (400, "The storyboard has no shots yet.")
    add_shot(send, api, board, "A lighthouse")
    status, answer = send(api, "POST", url("storyboard-cuts", board))
    assert (status, answer["error"]) == (400, "Shot 1 has no picked take.")
    assert not Cut.objects.exists()


def test_a_continuing_shot_without_a_pick_before_it_makes_no_take(api, board, send):
    add_shot(send, api, board, "A lighthouse")
    second = add_shot(send, api, board, "The lamp turns", task="continue_frame")
    status, answer = send(api, "POST", url("storyboard-takes", board, second["id"]))
    assert status == 400, answer
    assert "continues from shot 1, which has no picked take" in answer["error"]
    assert not VideoCreationJob.objects.exists()


@pytest.mark.parametrize(
    ("method", "name", "body", "status"),
    [
        ("POST", "storyboard-restore", None, 400),  # version "x"
        ("POST", "storyboard-shot-move", {"position": "first"}, 400),
        ("POST", "storyboard-shot-move", {"position": 5}, 400),
        ("GET", "storyboard-cut", None, 404),
        ("POST", "storyboard-takes", None, 404),
    ],
)
def test_bad_ids_and_positions_are_clear_4xx(api, board, send, method, name, body, status):
    shot = add_shot(send, api, board, "A lighthouse")
    args = {
        "storyboard-restore": [board, "x"],
        "storyboard-shot-move": [board, shot["id"]],
        "storyboard-cut": [board, "no-such-cut"],
        "storyboard-takes": [board, "no-such-shot"],
    }[name]
    answer_status, answer = send(api, method, url(name, *args), body)
    assert answer_status == status, answer
    assert answer["success"] is False and answer["error"]


def test_a_take_repeated_with_the_same_idempotency_key_is_made_once(api, board, send):
    shot = add_shot(send, api, board, "A lighthouse")
    where = url("storyboard-takes", board, shot["id"])
    first = api.post(where, headers={"Idempotency-Key": "take-1"})
    again = api.post(where, headers={"Idempotency-Key": "take-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Take.objects.count() == 1


@pytest.mark.parametrize("number", ["¹", "٣", "0", "99999999999"])
def test_a_version_number_that_is_not_plain_digits_is_a_400(api, send, board, number):
    status, body = send(
        api, "POST", f"/api/video-creation/storyboards/{board}/versions/{number}/restore"
    )
    assert status in (400, 404), body
    assert body["success"] is False


def test_a_trim_beyond_what_the_columns_hold_is_a_400(api, send, board, user):
    storyboard = Storyboard.objects.get(pk=board)
    shot = services.shot_add(
        storyboard=storyboard, author=user, prompt="A quay", duration_seconds=4
    )
    take = Take.objects.create(
        shot=shot, job=make_job(user, status="completed", metadata={}), number=1
    )
    services.take_pick(shot=shot, take=take, author=user)
    for body in ({"trimIn": 10000}, {"trimOut": 50000}):
        status, answer = send(api, "PUT", url("storyboard-trim", board, shot.pk), body)
        assert status == 400, answer
    shot.refresh_from_db()
    assert (shot.trim_in, shot.trim_out) == (0, None)


def test_a_shot_refused_for_a_stale_version_leaves_no_image_behind(
    api, send, board, user, data_dir
):
    storyboard = Storyboard.objects.get(pk=board)
    services.shot_add(storyboard=storyboard, author=user, prompt="First", duration_seconds=4)
    body = {
        "prompt": "From a frame",
        "task": "first_frame",
        "durationSeconds": 4,
        "images": [{"data": png_b64((1280, 720)), "mimeType": "image/png"}],
        "baseVersion": 1,
    }
    status, answer = send(api, "POST", url("storyboard-shots", board), body)
    assert status == 409, answer
    assert [p for p in data_dir.rglob("image-*")] == []
