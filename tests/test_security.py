"""Keeping people out: the authorisation matrix, CSRF, XSS, secrets, paths, logins.

The matrix is keyed by (route name, method). Every route is probed with every method, so
a new URL, or a view that starts to allow a method, fails the suite until it has a row;
each row is checked for every role, on private and shared objects where they differ,
and a refused write must leave every row and file as it was. The admin's named routes
are walked one by one, and the CSRF sweep covers every unsafe (route, method).
"""

import html
import logging
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from drafts import services as draft_services
from drafts.models import Cut, Draft, DraftVersion
from drafts.review import links as client_links
from drafts.review import services as review
from drafts.review.models import ClientLink, ClientLinkView
from jobs import services, storage
from jobs.api import tokens
from jobs.models import ApiToken, Batch, Budget, Notice, VideoCreationJob, VideoResource
from jobs.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.conftest import run_due_jobs
from tests.factories import JOB_OPTIONS, MODEL, make_batch, make_job, make_user

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
# A reviewer is a teammate with the review permission; only review routes' rows name one.
ROLES = ["anonymous", "owner", "teammate", "staff", "manager", "reviewer"]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
SAFE = {"GET", "HEAD", "OPTIONS"}
LOGIN, ADMIN_LOGIN, ANY_LOGIN = "login", "admin-login", "either login"
REDIRECT = "a redirect"


def _routes(resolver=None, prefix="", namespace=""):
    """Yield (qualified name, route) for every named URL pattern, the admin's included."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _routes(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", prefix + str(entry.pattern)


@pytest.fixture
def world(user, other_user, staff_user, manager, data_dir, mp4_bytes):
    """The owner's things, one of each kind, with real files where there are files."""
    now = timezone.now()
    done = make_job(
        user,
        prompt_text="Owner's finished job",
        status="completed",
        stage="done",
        progress=100,
        completed_at=now,
    )
    video = data_dir / "videos" / done.pk / "output.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(mp4_bytes)
    VideoCreationJob.objects.filter(pk=done.pk).update(video_url=f"videos/{done.pk}/output.mp4")
    poster = storage.relative_resource(done.pk, "image", "poster.jpg")
    storage.store_bytes(poster, b"\xff\xd8\xffposter")
    resource = services.resource_add(
        job_id=done.pk, kind="image", filename="poster.jpg", file_path=poster
    )
    running = make_job(
        user,
        prompt_text="Owner's running job",
        status="processing",
        stage="generating",
    )
    failed = make_job(
        user,
        prompt_text="Owner's failed job",
        status="failed",
        error="Boom",
        completed_at=now,
    )
    # Shared with the team: its page, video and review are every teammate's to see.
    shared_job = make_job(
        user,
        prompt_text="Owner's shared job",
        status="completed",
        stage="done",
        progress=100,
        completed_at=now,
        visibility="shared",
    )
    shared_video = data_dir / "videos" / shared_job.pk / "output.mp4"
    shared_video.parent.mkdir(parents=True)
    shared_video.write_bytes(mp4_bytes)
    VideoCreationJob.objects.filter(pk=shared_job.pk).update(
        video_url=f"videos/{shared_job.pk}/output.mp4"
    )
    reviewer = make_user("rita")
    reviewer.user_permissions.add(Permission.objects.get(codename="review_videos"))
    # --- review core (issue 19): the shared job in review, with a teammate's comment
    review.review_move(video=shared_job, to_state="in_review", by=user)
    shared_comment = review.comment_add(
        video=shared_job, author=other_user, text="Too dark here", at_seconds=1
    )
    done_note = review.comment_add(video=done, author=user, text="Owner's note")
    batch = make_batch(user, "Owner's batch")
    VideoCreationJob.objects.filter(pk__in=[done.pk, failed.pk]).update(batch=batch)
    # A batch shared with the team shares its jobs: one running, one failed (shared on its
    # own too), and the shared job. Teammates see them all and act on none.
    shared_batch = make_batch(user, "Owner's shared batch", visibility="shared")
    team_running = make_job(
        user, prompt_text="Team running", status="processing", batch=shared_batch
    )
    shared_failed = make_job(
        user,
        prompt_text="Owner's shared failed job",
        status="failed",
        error="Boom",
        completed_at=now,
        visibility="shared",
        batch=shared_batch,
    )
    VideoCreationJob.objects.filter(pk=shared_job.pk).update(batch=shared_batch)
    private = draft_services.draft_save(author=user, name="Private", prompts=["a"])
    shared = draft_services.draft_save(
        author=user, name="Shared", prompts=["b"], visibility="shared"
    )
    token, _raw = tokens.token_create(user=user, name="Owner's script")
    Budget.objects.create(user=user, limit_usd=100)
    Group.objects.create(name="Editors")
    endpoint = WebhookEndpoint.objects.create(
        owner=user, url="https://hooks.example/owner", events=["job.failed"]
    )
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="job.failed",
        event_key=f"job.failed:{failed.pk}",
        payload={"type": "job.failed", "timestamp": "", "data": {"id": failed.pk}},
        status="failed",
        attempts=1,
        retry_until=now,
    )
    WebhookAttempt.objects.create(delivery=delivery, number=1, error="The receiver answered 500.")
    # --- client links (issue 19): one open (clients may comment), one expired, one revoked
    shown = VideoCreationJob.objects.get(pk=done.pk)  # with its video_url
    link, valid_token = client_links.link_create(
        owner=user, target=shown, days=7, guests_may_comment=True, label="Owner's client link"
    )
    expired, expired_token = client_links.link_create(owner=user, target=shown, days=1)
    ClientLink.objects.filter(pk=expired.pk).update(expires_at=now - timezone.timedelta(days=1))
    revoked, revoked_token = client_links.link_create(owner=user, target=shown, days=7)
    client_links.link_revoke(link=revoked)
    boards = {
        kind: _storyboard(user, done if kind == "private" else None, mp4_bytes, data_dir, kind)
        for kind in ("private", "shared")
    }
    return {
        "board_private": boards["private"],
        "board_shared": boards["shared"],
        # The API rows' names for the same things.
        **{
            f"{kind}_{name}": value
            for kind, board in boards.items()
            for name, value in (
                ("board", board),
                ("shot", board.the_shot),
                ("cut", board.the_cut),
            )
        },
        "done": done,
        "running": running,
        "failed": failed,
        "batch": batch,
        "private": private,
        "shared": shared,
        "resource": resource,
        "token": token,
        "endpoint": endpoint,
        "delivery": delivery,
        "shared_job": shared_job,
        "shared_batch": shared_batch,
        "team_running": team_running,
        "shared_failed": shared_failed,
        "shared_comment": shared_comment,
        "done_note": done_note,
        "link": link,
        "link_tokens": {
            VALID_LINK: valid_token,
            "expired link": expired_token,
            "revoked link": revoked_token,
            "unknown token": "a-guessed-token-that-no-link-has-0123456789",
        },
        "users": {
            "owner": user,
            "teammate": other_user,
            "staff": staff_user,
            "manager": manager,
            "reviewer": reviewer,
        },
    }


def _storyboard(user, job, mp4_bytes, data_dir, visibility):
    """A storyboard of the owner's with one shot, its picked take (a finished job) and a cut."""
    from drafts.models import Take
    from drafts.storyboards import services as boards

    if job is None:
        job = make_job(user, prompt_text="Shared take", status="completed", stage="done")
        video = data_dir / "videos" / job.pk / "output.mp4"
        video.parent.mkdir(parents=True)
        video.write_bytes(mp4_bytes)
        VideoCreationJob.objects.filter(pk=job.pk).update(video_url=f"videos/{job.pk}/output.mp4")
        storage.store_bytes(
            storage.relative_resource(job.pk, "image", "poster.jpg"), b"\xff\xd8\xffposter"
        )
        job.refresh_from_db()
    board = boards.storyboard_create(
        owner=user, name=f"Board {visibility}", model=MODEL, visibility=visibility
    )
    shot = boards.shot_add(storyboard=board, author=user, prompt="A shot", duration_seconds=4)
    take = Take.objects.create(shot=shot, job=job, number=1)
    boards.take_pick(shot=shot, take=take, author=user)
    segments = boards.cut_segments(board)
    cut = Cut.objects.create(
        storyboard=board,
        status="ready",
        signature=boards.cut_signature(segments),
        edit_list=segments,
        duration_seconds=1,
    )
    for name, data in (("cut.mp4", mp4_bytes), ("poster.jpg", b"\xff\xd8\xffposter")):
        storage.store_bytes(
            storage.relative_storyboard_file(board.pk, f"cuts/{cut.pk}/{name}"), data
        )
    board.refresh_from_db()
    board.the_shot, board.the_take, board.the_cut = shot, take, cut
    return board


def _state(data_dir):
    """Return every row a request could change and every file in the data dir."""
    models = [
        VideoCreationJob,
        VideoResource,
        Batch,
        Draft,
        DraftVersion,
        ApiToken,
        Budget,
        WebhookEndpoint,
        WebhookDelivery,
        WebhookAttempt,
        *(apps.get_model("drafts", name) for name in ("Storyboard", "Shot", "Take", "Cut")),
        *(
            apps.get_model("drafts", name)
            for name in ("ReviewChange", "Rating", "Favourite", "Comment", "Mention")
        ),
        Notice,
        ClientLink,
        ClientLinkView,
    ]
    rows = {m.__name__: sorted(map(repr, m.objects.values_list())) for m in models}
    files = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*"))
    return rows, files


def _expect(*, anonymous=LOGIN, owner, others=None, reviewer=None):
    """Return the status expected per role.

    `others` is the teammate's; staff without the view-all permission fare as the
    teammate, and the manager (staff with it) as the owner. A row with `reviewer` (a
    teammate with the review permission) checks that role too.
    """
    others = owner if others is None else others
    expected = {
        "anonymous": anonymous,
        "owner": owner,
        "teammate": others,
        "staff": others,
        "manager": owner,
    }
    if reviewer is not None:
        expected["reviewer"] = reviewer
    return expected


def page(code, others=None, reviewer=None):
    return _expect(owner=code, others=others, reviewer=reviewer)


def api(code, others=None):
    return _expect(anonymous=401, owner=code, others=others)


def own(code):
    """A person's own settings: everyone else, staff and managers too, finds nothing."""
    return {"anonymous": LOGIN, "owner": code, "teammate": 404, "staff": 404, "manager": 404}


def api_own(code):
    """A person's own API objects: everyone else, staff and managers too, finds nothing."""
    return {"anonymous": 401, "owner": code, "teammate": 404, "staff": 404, "manager": 404}


def public(code):
    return _expect(anonymous=code, owner=code)


def pk_of(name):
    """Return a function of the world giving one of its objects' primary key."""
    return lambda w: [w[name].pk]


NO_ARGS = lambda w: []  # noqa: E731
PRIVATE, SHARED = "private draft", "shared draft"


def drafts(expect, code, *, shared):
    """Rows for a draft route: on the owner's private draft, and on the shared one.

    Others do not find a private draft (404); a shared one they see, and are refused
    (403) what would change it.
    """
    return [
        (PRIVATE, pk_of("private"), expect(code, 404)),
        (SHARED, pk_of("shared"), expect(code, shared)),
    ]


BOARD_PRIVATE, BOARD_SHARED = "private storyboard", "shared storyboard"


def boards(code, *, shared, of=lambda board: []):
    """Rows for a storyboard route: the owner's private storyboard, and the shared one.

    Others do not find a private storyboard (404). A shared one is the team's to work on;
    what only its owner may do (settings, delete) is refused them (403). `of` gives the
    route's further arguments (a shot, a take, a cut) from the storyboard.
    """
    return [
        (
            BOARD_PRIVATE,
            lambda w: [w["board_private"].pk, *of(w["board_private"])],
            page(code, 404),
        ),
        (
            BOARD_SHARED,
            lambda w: [w["board_shared"].pk, *of(w["board_shared"])],
            page(code, shared),
        ),
    ]


SHOT = lambda board: [board.the_shot.pk]  # noqa: E731
TAKE = lambda board: [board.the_take.pk]  # noqa: E731
CUT = lambda board: [board.the_cut.pk]  # noqa: E731


def api_boards(code, *, shared, args=("board",)):
    """Rows for a storyboard API route, on the owner's private storyboard and shared one.

    Others do not find a private storyboard (404); a shared one they see and work on, and
    are refused (403) what only its owner may do. The manager (staff who may see and
    change every storyboard) fares as the owner.
    """

    def of(visibility):
        return lambda w: [w[f"{visibility}_{name}"].pk if name != "1" else 1 for name in args]

    return [
        (BOARD_PRIVATE, of("private"), api(code, 404)),
        (BOARD_SHARED, of("shared"), api(code, shared)),
    ]


API_SHOT = ("board", "shot")
PRIVATE_JOB, SHARED_JOB = "private job", "shared job"
PRIVATE_CUT, SHARED_CUT = "private cut", "shared cut"
APPROVE = {"state": "approved"}


def video(name, kind="job"):
    """Return a function of the world giving a review route's arguments for one video."""
    return lambda w: [kind, w[name].pk]


def seen(code):
    """What everyone who sees the shared job gets (its reviewer too)."""
    return page(code, code, reviewer=code)


def reviewing(owner, others, reviewer=404):
    """A review decision: the manager sees every video but decides none (403)."""
    return {**page(owner, others, reviewer=reviewer), "manager": 403}


def on_each_video(body):
    """Rows for a form anyone who sees a video may send: its owner's private job and cut
    (others find nothing), and the shared job and cut (everyone who sees them may)."""
    return [
        (PRIVATE_JOB, video("done"), page(302, 404, reviewer=404), body),
        (SHARED_JOB, video("shared_job"), seen(302), body),
        (PRIVATE_CUT, video("private_cut", "cut"), page(302, 404, reviewer=404), body),
        (SHARED_CUT, video("shared_cut", "cut"), seen(302), body),
    ]


VALID_LINK = "valid link"
# A closed link answers 410, a token no link has 404: to everyone, logged in or not.
CLOSED_LINKS = {"expired link": 410, "revoked link": 410, "unknown token": 404}


def client_link(code, *, of=NO_ARGS):
    """Rows for a client's route (/c/<token>/...): the same answer whoever asks.

    `code` is the open link's; `of` gives the route's further arguments from the world.
    """
    return [
        (variant, lambda w, v=variant: [w["link_tokens"][v], *of(w)], public(want))
        for variant, want in {VALID_LINK: code, **CLOSED_LINKS}.items()
    ]


# (route name, method) -> [(variant, args from the world, expected status per role)]
MATRIX = {
    ("jobs:index", "GET"): [("", NO_ARGS, page(200))],
    ("jobs:index", "POST"): [("", NO_ARGS, page(200))],  # an empty post is no form at all
    ("jobs:detail", "GET"): [
        ("", pk_of("done"), page(200, 404)),
        ("shared job", pk_of("shared_job"), page(200, 200)),
    ],
    ("jobs:list-changes", "GET"): [("", NO_ARGS, page(286))],  # no cards given, none live
    ("jobs:cancel", "POST"): [
        ("", pk_of("running"), page(302, 404)),
        ("shared job", pk_of("team_running"), page(302, 403)),
    ],
    ("jobs:retry", "POST"): [
        ("", pk_of("failed"), page(302, 404)),
        ("shared job", pk_of("shared_failed"), page(302, 403)),
    ],
    ("jobs:delete", "POST"): [
        ("", pk_of("done"), page(302, 404)),
        ("shared job", pk_of("shared_job"), page(302, 403)),
    ],
    # An empty post names no visibility: a message, nothing changed.
    ("jobs:share", "POST"): [
        ("", pk_of("done"), page(302, 404)),
        ("shared job", pk_of("shared_job"), page(302, 403)),
    ],
    # An extend needs nothing more; an edit needs its instruction, and the world's model
    # has no upscale: both are refused on the page. Others find no job.
    ("jobs:extend", "POST"): [
        ("", pk_of("done"), page(302, 404)),
        # A teammate builds on a shared video: the extension is a job of their own.
        ("shared job", pk_of("shared_job"), page(302, 302)),
    ],
    ("jobs:edit", "POST"): [("", pk_of("done"), page(400, 404))],
    ("jobs:upscale", "POST"): [("", pk_of("done"), page(400, 404))],
    ("jobs:form-fields", "GET"): [("", NO_ARGS, page(200))],
    ("jobs:video", "GET"): [
        ("", pk_of("done"), page(200, 404)),
        ("shared job", pk_of("shared_job"), page(200, 200)),
    ],
    ("jobs:resource", "GET"): [("", lambda w: [w["done"].pk, w["resource"].pk], page(200, 404))],
    ("jobs:batches", "GET"): [("", NO_ARGS, page(200))],
    ("jobs:batch", "GET"): [
        ("", pk_of("batch"), page(200, 404)),
        ("shared batch", pk_of("shared_batch"), page(200, 200)),
    ],
    ("jobs:batch-cancel", "POST"): [
        ("", pk_of("batch"), page(302, 404)),
        ("shared batch", pk_of("shared_batch"), page(302, 403)),
    ],
    ("jobs:batch-retry", "POST"): [
        ("", pk_of("batch"), page(302, 404)),
        ("shared batch", pk_of("shared_batch"), page(302, 403)),
    ],
    ("jobs:batch-share", "POST"): [
        ("", pk_of("batch"), page(302, 404)),
        ("shared batch", pk_of("shared_batch"), page(302, 403)),
    ],
    ("jobs:batch-zip", "GET"): [
        ("", pk_of("batch"), page(200, 404)),
        ("shared batch", pk_of("shared_batch"), page(200, 200)),
    ],
    ("jobs:notices", "GET"): [("", NO_ARGS, page(200))],
    ("jobs:estimate", "GET"): [("", NO_ARGS, page(200))],
    ("jobs:usage", "GET"): [("", NO_ARGS, page(200))],
    ("drafts:library", "GET"): [("", NO_ARGS, page(200))],
    ("drafts:new", "GET"): [("", NO_ARGS, page(200))],
    ("drafts:new", "POST"): [("", NO_ARGS, page(400))],
    ("drafts:import", "POST"): [("", NO_ARGS, page(302))],
    ("drafts:detail", "GET"): drafts(page, 200, shared=200),
    ("drafts:edit", "GET"): drafts(page, 200, shared=403),
    ("drafts:edit", "POST"): drafts(page, 400, shared=403),
    ("drafts:share", "POST"): drafts(page, 302, shared=403),
    ("drafts:delete", "POST"): drafts(page, 302, shared=403),
    ("drafts:duplicate", "POST"): drafts(page, 302, shared=302),
    ("drafts:export", "GET"): drafts(page, 200, shared=200),
    ("drafts:run", "GET"): drafts(page, 200, shared=200),
    ("drafts:run", "POST"): drafts(page, 200, shared=200),
    ("drafts:restore", "POST"): [
        (PRIVATE, lambda w: [w["private"].pk, 1], page(302, 404)),
        (SHARED, lambda w: [w["shared"].pk, 1], page(302, 403)),
    ],
    ("storyboards:list", "GET"): [("", NO_ARGS, page(200))],
    ("storyboards:new", "GET"): [("", NO_ARGS, page(200))],
    ("storyboards:new", "POST"): [("", NO_ARGS, page(400))],  # an empty form
    ("storyboards:detail", "GET"): boards(200, shared=200),
    ("storyboards:status", "GET"): boards(286, shared=286),  # nothing live: polling stops
    ("storyboards:settings", "POST"): boards(302, shared=403),
    ("storyboards:delete", "POST"): boards(302, shared=403),
    ("storyboards:versions", "GET"): boards(200, shared=200),
    # A version brings back the name and defaults, which only the owner changes.
    ("storyboards:restore", "POST"): boards(302, shared=403, of=lambda board: [1]),
    # Without confirm=yes a POST only shows the plan again.
    **{("storyboards:generate", m): boards(200, shared=200) for m in ("GET", "POST")},
    ("storyboards:shot-add", "POST"): boards(400, shared=400),  # an empty form
    ("storyboards:shot-edit", "GET"): boards(200, shared=200, of=SHOT),
    ("storyboards:shot-edit", "POST"): boards(400, shared=400, of=SHOT),
    ("storyboards:shot-delete", "POST"): boards(302, shared=302, of=SHOT),
    ("storyboards:shot-move", "POST"): boards(302, shared=302, of=SHOT),
    ("storyboards:take-new", "POST"): boards(302, shared=302, of=SHOT),
    ("storyboards:pick", "POST"): boards(302, shared=302, of=SHOT),
    ("storyboards:trim", "POST"): boards(302, shared=302, of=SHOT),
    ("storyboards:compare", "GET"): boards(400, shared=400, of=SHOT),  # no takes chosen
    ("storyboards:take-video", "GET"): boards(200, shared=200, of=TAKE),
    ("storyboards:take-poster", "GET"): boards(200, shared=200, of=TAKE),
    ("storyboards:cut-new", "POST"): boards(302, shared=302),
    ("storyboards:cut", "GET"): boards(200, shared=200, of=CUT),
    ("storyboards:cut-video", "GET"): boards(200, shared=200, of=CUT),
    ("storyboards:cut-poster", "GET"): boards(200, shared=200, of=CUT),
    ("storyboards:cut-edit-list", "GET"): boards(200, shared=200, of=CUT),
    ("api:jobs", "GET"): [("", NO_ARGS, api(200))],
    ("api:jobs", "POST"): [("", NO_ARGS, api(400))],  # an empty body
    ("api:job", "GET"): [
        ("", pk_of("done"), api(200, 404)),
        ("shared job", pk_of("shared_job"), api(200, 200)),
    ],
    # An empty body names no visibility: a 400 for the owner, nothing changed.
    ("api:job", "PATCH"): [
        ("", pk_of("done"), api(400, 404)),
        ("shared job", pk_of("shared_job"), api(400, 403)),
    ],
    ("api:job", "DELETE"): [
        ("", pk_of("done"), api(200, 404)),
        ("shared job", pk_of("shared_job"), api(200, 403)),
    ],
    ("api:cancel", "POST"): [
        ("", pk_of("running"), api(200, 404)),
        ("shared job", pk_of("team_running"), api(200, 403)),
    ],
    ("api:retry", "POST"): [
        ("", pk_of("failed"), api(201, 404)),
        ("shared job", pk_of("shared_failed"), api(201, 403)),
    ],
    ("api:video", "GET"): [
        ("", pk_of("done"), api(200, 404)),
        ("shared job", pk_of("shared_job"), api(200, 200)),
    ],
    ("api:resource", "GET"): [("", lambda w: [w["done"].pk, w["resource"].pk], api(200, 404))],
    ("api:batch", "GET"): [
        ("", pk_of("batch"), api(200, 404)),
        ("shared batch", pk_of("shared_batch"), api(200, 200)),
    ],
    ("api:batch", "PATCH"): [
        ("", pk_of("batch"), api(400, 404)),
        ("shared batch", pk_of("shared_batch"), api(400, 403)),
    ],
    ("api:webhooks", "GET"): [("", NO_ARGS, api(200))],
    ("api:webhooks", "POST"): [("", NO_ARGS, api(400))],  # an empty body
    ("api:webhook", "GET"): [("", pk_of("endpoint"), api_own(200))],
    ("api:webhook", "PATCH"): [("", pk_of("endpoint"), api_own(400))],
    ("api:webhook", "DELETE"): [("", pk_of("endpoint"), api_own(200))],
    ("api:webhook-deliveries", "GET"): [("", pk_of("endpoint"), api_own(200))],
    ("api:webhook-resend", "POST"): [
        ("", lambda w: [w["endpoint"].pk, w["delivery"].pk], api_own(202))
    ],
    **{
        ("api:not-found", method): [("", lambda w: ["nothing/here"], api(404))]
        for method in METHODS
    },
    # The OpenAPI document and its page describe the API to anyone; they hold no data.
    ("api:openapi-json", "GET"): [("", NO_ARGS, public(200))],
    ("api:openapi-view", "GET"): [("", NO_ARGS, public(200))],
    ("drafts_api:drafts", "GET"): [("", NO_ARGS, api(200))],
    ("drafts_api:drafts", "POST"): [("", NO_ARGS, api(400))],
    ("drafts_api:draft", "GET"): drafts(api, 200, shared=200),
    ("drafts_api:draft", "PUT"): drafts(api, 400, shared=403),
    ("drafts_api:draft", "DELETE"): drafts(api, 200, shared=403),
    # An empty body is a 400 for those who may run the draft; others never get that far.
    ("drafts_api:run", "POST"): drafts(api, 400, shared=400),
    # A request without a body is a 400 where the operation reads one; a take is made.
    ("api:storyboards", "GET"): [("", NO_ARGS, api(200))],
    ("api:storyboards", "POST"): [("", NO_ARGS, api(400))],
    ("api:storyboard", "GET"): api_boards(200, shared=200),
    ("api:storyboard", "PATCH"): api_boards(400, shared=403),
    ("api:storyboard", "DELETE"): api_boards(200, shared=403),
    ("api:storyboard-versions", "GET"): api_boards(200, shared=200),
    ("api:storyboard-restore", "POST"): api_boards(200, shared=403, args=("board", "1")),
    ("api:storyboard-shots", "POST"): api_boards(400, shared=400),
    ("api:storyboard-shot", "PATCH"): api_boards(400, shared=400, args=API_SHOT),
    ("api:storyboard-shot", "DELETE"): api_boards(200, shared=200, args=API_SHOT),
    ("api:storyboard-shot-move", "POST"): api_boards(400, shared=400, args=API_SHOT),
    ("api:storyboard-takes", "GET"): api_boards(200, shared=200, args=API_SHOT),
    ("api:storyboard-takes", "POST"): api_boards(201, shared=201, args=API_SHOT),
    ("api:storyboard-pick", "PUT"): api_boards(400, shared=400, args=API_SHOT),
    ("api:storyboard-trim", "PUT"): api_boards(400, shared=400, args=API_SHOT),
    ("api:storyboard-generate", "GET"): api_boards(200, shared=200),
    ("api:storyboard-generate", "POST"): api_boards(400, shared=400),
    ("api:storyboard-cuts", "GET"): api_boards(200, shared=200),
    # Nothing changed since the world's cut: it is the answer, not a new assembly.
    ("api:storyboard-cuts", "POST"): api_boards(200, shared=200),
    ("api:storyboard-cut", "GET"): api_boards(200, shared=200, args=("board", "cut")),
    ("api-tokens", "GET"): [("", NO_ARGS, page(200))],
    ("api-tokens", "POST"): [("", NO_ARGS, page(200))],
    ("webhooks:endpoints", "GET"): [("", NO_ARGS, page(200))],
    ("webhooks:endpoints", "POST"): [("", NO_ARGS, page(400))],  # an empty form
    ("webhooks:endpoint", "GET"): [("", pk_of("endpoint"), own(200))],
    ("webhooks:endpoint", "POST"): [("", pk_of("endpoint"), own(400))],
    ("webhooks:secret", "POST"): [("", pk_of("endpoint"), own(200))],
    ("webhooks:delete", "POST"): [("", pk_of("endpoint"), own(302))],
    ("webhooks:resend", "POST"): [("", lambda w: [w["endpoint"].pk, w["delivery"].pk], own(302))],
    **{
        ("login", method): [("", NO_ARGS, public(200))]
        for method in METHODS
        if method not in ("PATCH", "DELETE")
    },
    ("logout", "POST"): [("", NO_ARGS, public(302))],
    # Google's webhooks: signed, not logged in; off (404) while GEMINI_WEBHOOK_SECRET is
    # empty, as here. Signed requests: tests/jobs/test_inbound_webhooks.py.
    ("gemini-webhook", "POST"): [("", NO_ARGS, public(404))],
    # Probes, not logged in (tests/test_health.py): no cluster beats in this world, so
    # /readyz says it is not ready.
    **{("healthz", method): [("", NO_ARGS, public(200))] for method in ["GET", "HEAD"]},
    **{("readyz", method): [("", NO_ARGS, public(503))] for method in ["GET", "HEAD"]},
    # Prometheus's scrape: off (404) while METRICS_TOKEN is empty, as here; with a token,
    # tests/test_health.py.
    **{("metrics", method): [("", NO_ARGS, public(404))] for method in ["GET", "HEAD"]},
    ("logout", "OPTIONS"): [("", NO_ARGS, page(200))],
    **{
        ("password_change", method): [("", NO_ARGS, page(200))]
        for method in ["GET", "HEAD", "POST", "PUT", "OPTIONS"]
    },
    **{
        ("password_change_done", method): [("", NO_ARGS, page(200))]
        for method in ["GET", "HEAD", "OPTIONS"]
    },
    # --- review pages (issue 19) ---
    ("review:video", "GET"): [
        ("private job", lambda w: ["job", w["done"].pk], page(200, 404, reviewer=404)),
        ("shared job", lambda w: ["job", w["shared_job"].pk], page(200, 200, reviewer=200)),
        ("private cut", lambda w: ["cut", w["private_cut"].pk], page(200, 404)),
        ("shared cut", lambda w: ["cut", w["shared_cut"].pk], page(200, 200)),
    ],
    # Its forms, each row with the body the page's form sends (a fourth element). The
    # private job and cut are the owner's alone (the manager sees them, and may not move
    # their review); the shared job is in review: approving it is the owner's or a
    # reviewer's (403 to others), asking for changes anyone's who sees it.
    ("review:state", "POST"): [
        (PRIVATE_JOB, video("done"), reviewing(302, 404), {"state": "in_review"}),
        (f"{SHARED_JOB}, approve", video("shared_job"), reviewing(302, 403, 302), APPROVE),
        (
            f"{SHARED_JOB}, ask for changes",
            video("shared_job"),
            page(302, 302, reviewer=302),
            {"state": "changes_requested"},
        ),
        (f"{SHARED_JOB}, no such move", video("shared_job"), seen(400), {"state": "draft!"}),
        (PRIVATE_CUT, video("private_cut", "cut"), reviewing(302, 404), {"state": "in_review"}),
        (SHARED_CUT, video("shared_cut", "cut"), reviewing(302, 403, 302), {"state": "in_review"}),
    ],
    ("review:rate", "POST"): [
        *on_each_video({"stars": "4"}),
        (f"{SHARED_JOB}, 6 stars", video("shared_job"), seen(400), {"stars": "6"}),
    ],
    ("review:favourite", "POST"): [
        *on_each_video({"on": "1"}),
        (f"{SHARED_JOB}, no flag", video("shared_job"), seen(400), {}),
    ],
    ("review:comment", "POST"): [
        *on_each_video({"text": "Lovely light", "at_seconds": "1"}),
        (
            f"{SHARED_JOB}, past its end",
            video("shared_job"),
            seen(400),
            {"text": "x", "at_seconds": "99"},
        ),
        (
            f"{SHARED_JOB}, a reply to another video's comment",
            video("shared_job"),
            seen(404),
            lambda w: {"text": "x", "parent": w["done_note"].pk},
        ),
    ],
    # The owner, the author (the teammate's comment on the shared job) and a reviewer may
    # resolve a thread; staff and the manager, who see it, may not. A comment of another
    # video is not found.
    ("review:resolve", "POST"): [
        (
            PRIVATE_JOB,
            lambda w: ["job", w["done"].pk, w["done_note"].pk],
            reviewing(302, 404),
            {},
        ),
        (
            SHARED_JOB,
            lambda w: ["job", w["shared_job"].pk, w["shared_comment"].pk],
            {**reviewing(302, 403, 302), "teammate": 302},
            {},
        ),
        (
            f"{SHARED_JOB}, reopen",
            lambda w: ["job", w["shared_job"].pk, w["shared_comment"].pk],
            {**reviewing(302, 403, 302), "teammate": 302},
            {"reopen": "1"},
        ),
        (
            f"{SHARED_JOB}, another video's comment",
            lambda w: ["job", w["shared_job"].pk, w["done_note"].pk],
            seen(404),
            {},
        ),
    ],
    # The gallery lists only what each viewer sees (test_no_list_shows_the_owners_rows...);
    # compare without videos chosen is refused (tests/drafts/test_gallery.py: with them).
    ("gallery:index", "GET"): [("", NO_ARGS, page(200, reviewer=200))],
    ("gallery:compare", "GET"): [("", NO_ARGS, page(400, reviewer=400))],
    # --- client links (issue 19): the owner's list, and what a client opens ---
    ("links:list", "GET"): [("", NO_ARGS, page(200))],
    ("links:new", "POST"): [("", NO_ARGS, page(400))],  # an empty form: no target
    ("links:extend", "POST"): [("", pk_of("link"), own(400))],  # no days given
    ("links:revoke", "POST"): [("", pk_of("link"), own(302))],
    ("links:open", "GET"): client_link(200),
    # No password to check on this link: back to the page.
    ("links:open", "POST"): client_link(303),
    ("links:video", "GET"): client_link(200, of=lambda w: ["job", w["done"].pk]),
    ("links:comment", "POST"): client_link(400),  # an empty comment
}
STUDIO_ROUTES = sorted({name for name, _route in _routes() if not name.startswith("admin:")})


class _Undo(Exception):
    """Raised to roll a probe's writes back."""


@pytest.mark.parametrize("name", STUDIO_ROUTES)
def test_every_method_a_route_allows_has_a_row_in_the_matrix(world, name):
    """Probe every method as the owner: a 405 has no row, anything else must have one."""
    rows = {method: rows for (route, method), rows in MATRIX.items() if route == name}
    assert rows, f"add {name} to the authorisation matrix"
    args = next(iter(rows.values()))[0][1](world)
    for method in METHODS:
        client = Client()
        client.force_login(world["users"]["owner"])
        try:
            with transaction.atomic():
                status = client.generic(method, reverse(name, args=args)).status_code
                raise _Undo
        except _Undo:
            pass
        if method in rows:
            assert status != 405, f"{method} {name} is refused: drop its row"
        else:
            assert status == 405, f"{method} {name} answers {status}: add a row for it"


def test_the_matrix_names_only_routes_that_exist():
    assert {name for name, _method in MATRIX} - set(STUDIO_ROUTES) == set()


CASES = [
    pytest.param(name, method, n, role, id=f"{method} {name}{' ' + v if v else ''} as {role}")
    for (name, method), rows in sorted(MATRIX.items())
    for n, (v, _args, expected, *_body) in enumerate(rows)
    for role in ROLES
    if role in expected
]


def _form(body, world):
    """Return generic()'s data and content type for a row's form body (none: no body)."""
    if not body:
        return ()
    data = body[0](world) if callable(body[0]) else body[0]
    return urlencode(data), "application/x-www-form-urlencoded"


def _check_status(response, want, url):
    if want == LOGIN:
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    elif want == ADMIN_LOGIN:
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    elif want == ANY_LOGIN:
        assert response.status_code == 302, url
        assert response["Location"].startswith((reverse("login"), reverse("admin:login"))), url
    elif want == REDIRECT:
        assert response.status_code == 302, url
    else:
        assert response.status_code == want, (url, response.status_code)


@pytest.mark.parametrize(("name", "method", "n", "role"), CASES)
def test_authorisation_matrix(client, world, data_dir, name, method, n, role):
    _variant, args, expected, *body = MATRIX[name, method][n]
    if role != "anonymous":
        client.force_login(world["users"][role])
    url = reverse(name, args=args(world))
    before = _state(data_dir)
    response = client.generic(method, url, *_form(body, world))
    want = expected[role]
    _check_status(response, want, url)
    refused = want in (LOGIN, ADMIN_LOGIN) or 400 <= want < 500
    if method not in SAFE and refused:
        assert _state(data_dir) == before, f"a refused {method} changed something"


# --- Lists show nobody else's rows -----------------------------------------------------------------

LISTS = {
    "jobs:index": "",
    "jobs:notices": "?since=2000-01-01T00:00:00%2B00:00",
    "api:jobs": "",
    "drafts:library": "",
    "drafts_api:drafts": "",
    "api-tokens": "",
    "webhooks:endpoints": "",
    "api:webhooks": "",
    "api:storyboards": "",
    "gallery:index": "",
    "links:list": "",
}
# What a list shows everyone else of the owner's: what the owner shared, so that a list
# which hid everything would not pass for one that hides the private rows.
SHARED_ROWS = {"gallery:index": ("shared_job", "shared_cut")}


def _owners_rows(world):
    return {
        world[k].pk if k != "token" else world[k].prefix
        for k in (
            "done",
            "running",
            "failed",
            "batch",
            "private",
            "token",
            "endpoint",
            "private_board",
            "link",
        )
    }


@pytest.mark.parametrize("role", ["teammate", "staff"])
@pytest.mark.parametrize("name", sorted(LISTS))
def test_no_list_shows_the_owners_rows_to_anyone_else(client, world, name, role):
    url = reverse(name) + LISTS[name]
    client.force_login(world["users"]["owner"])
    shown_to_owner = client.get(url).content.decode()
    assert any(str(row) in shown_to_owner for row in _owners_rows(world)), "a list that can fail"
    client.force_login(world["users"][role])
    response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert [row for row in _owners_rows(world) if str(row) in body] == []
    for shared in SHARED_ROWS.get(name, ()):
        assert str(world[shared].pk) in body, shared


# --- The admin, walked route by route --------------------------------------------------------------

ADMIN_ROUTES = sorted(name for name, _route in _routes() if name.startswith("admin:"))
OBJECT_VIEWS = ("history", "delete", "change", "password_change")


def _admin_target(name, world):
    """Return the URL of an admin route, and the model admin and object it is about."""
    short = name.removeprefix("admin:")
    if short == "app_list":
        return reverse(name, args=["jobs"]), None, None
    if short == "view_on_site":
        kind = ContentType.objects.get_for_model(VideoCreationJob)
        return reverse(name, args=[kind.pk, world["done"].pk]), None, None
    for model in apps.get_models():
        if not admin.site.is_registered(model):
            continue
        model_admin = admin.site.get_model_admin(model)
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        if short.startswith(prefix):
            if short.removeprefix(prefix) in OBJECT_VIEWS:
                obj = model._default_manager.first()
                # Quoted as the admin's own links are: a delivery's id (msg_<hex>) would
                # otherwise read as an escape ("_26" is "&") in about one world in ten.
                pk = quote(obj.pk) if obj else 0
                return reverse(name, args=[pk]), model_admin, obj or False
            return reverse(name), model_admin, None
    return reverse(name), None, None


def _superuser_expects(name, model_admin, obj, request):
    short = name.removeprefix("admin:")
    if obj is False:
        return 302  # no such object: back to the index with a message
    if short in ("login", "view_on_site"):
        return 302
    if short == "logout":
        return 405
    if short == "autocomplete":
        return 403  # no field to complete
    if short.endswith("_add"):
        return 200 if model_admin.has_add_permission(request) else 403
    if short.endswith("_delete"):
        return 200 if model_admin.has_delete_permission(request, obj) else 403
    return 200


def _staff_expects(name, model_admin, obj):
    short = name.removeprefix("admin:")
    if short in ("index", "password_change", "password_change_done", "jsi18n"):
        return 200
    if short in ("login", "view_on_site"):
        return 302
    if short == "logout":
        return 405
    if short == "app_list":
        return 404  # no model of the app is theirs to see
    if obj is False and short.endswith("_history"):
        return 302
    return 403


@pytest.mark.parametrize("name", ADMIN_ROUTES)
def test_the_admin_walked_route_by_route(world, superuser, data_dir, rf, name):
    url, model_admin, obj = _admin_target(name, world)
    request = rf.get(url)
    request.user = superuser
    # The studio's login middleware sends anonymous callers of a model's pages to the
    # studio's login page, the admin sends them (and those who are not staff) to its own.
    who = {
        "anonymous": (None, ANY_LOGIN),
        "owner": (world["users"]["owner"], ANY_LOGIN),
        "staff": (world["users"]["staff"], _staff_expects(name, model_admin, obj)),
        "superuser": (superuser, _superuser_expects(name, model_admin, obj, request)),
    }
    if name == "admin:login":
        who["anonymous"] = (None, 200)
        who["owner"] = (world["users"]["owner"], 200)
    if name == "admin:logout":
        who["owner"] = (world["users"]["owner"], REDIRECT)
    for role, (person, want) in who.items():
        client = Client()
        if person:
            client.force_login(person)
        _check_status(client.get(url), want, (url, role))
        if role != "superuser":  # an empty form from anyone else changes nothing
            before = _state(data_dir)
            assert client.post(url).status_code < 500, (url, role)
            assert _state(data_dir) == before, (url, role)


# --- CSRF --------------------------------------------------------------------------------------

# Routes a signature authenticates instead of a session: no cookie, so no CSRF token.
SIGNED = {"gemini-webhook"}
UNSAFE = sorted(
    (name, method) for name, method in MATRIX if method not in SAFE and name not in SIGNED
)


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
@pytest.mark.parametrize(("name", "method"), UNSAFE, ids=[f"{m} {n}" for n, m in UNSAFE])
def test_every_unsafe_method_needs_the_csrf_token(world, data_dir, name, method, htmx):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["users"]["owner"])
    headers = {"HX-Request": "true"} if htmx else {}
    before = _state(data_dir)
    for _variant, args, _expected, *body in MATRIX[name, method]:
        url = reverse(name, args=args(world))
        response = client.generic(method, url, *_form(body, world), headers=headers)
        assert response.status_code == 403, name
    assert _state(data_dir) == before


# --- Untrusted text renders inert ---------------------------------------------------------------

HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)><b hx-get='/x' hx-trigger='load'>"


def test_prompts_and_names_with_markup_render_as_text(logged_in, user, superuser):
    job = make_job(user, prompt_text=HOSTILE, status="completed", completed_at=timezone.now())
    draft = draft_services.draft_save(author=user, name=HOSTILE[:150], prompts=[HOSTILE])
    batch = make_batch(user, HOSTILE[:150])
    since = (timezone.now() - timezone.timedelta(minutes=1)).isoformat()
    pages = [
        reverse("jobs:index"),
        reverse("jobs:detail", args=[job.pk]),
        reverse("drafts:library"),
        reverse("drafts:detail", args=[draft.pk]),
        reverse("drafts:run", args=[draft.pk]),
        reverse("jobs:batch", args=[batch.pk]),
        reverse("jobs:notices") + f"?since={since.replace('+', '%2B')}",
    ]
    admin = Client()  # its own session: `logged_in` stays the owner's
    admin.force_login(superuser)
    admin_pages = [
        reverse("admin:jobs_videocreationjob_changelist"),
        reverse("admin:jobs_videocreationjob_change", args=[job.pk]),
        reverse("admin:drafts_draft_changelist"),
    ]
    for url, who in [(p, logged_in) for p in pages] + [(p, admin) for p in admin_pages]:
        response = who.get(url)
        assert response.status_code == 200, url  # a refused page would pass the checks below
        body = response.content.decode()
        assert HOSTILE[:20] in html.unescape(body), url  # the hostile text is there, escaped
        assert "<script>alert" not in body, url
        assert "onerror=alert" not in body.replace("onerror=alert(1)&gt;", ""), url
        assert "hx-get='/x'" not in body and 'hx-get="/x"' not in body, url
    assert (
        "&lt;script&gt;alert"
        in logged_in.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    )


# --- Paths and ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("job_id", ["../../etc/passwd", "..", "a/../../b"])
def test_hostile_ids_never_reach_the_filesystem(job_id):
    from django.core.exceptions import SuspiciousFileOperation

    with pytest.raises(SuspiciousFileOperation):
        storage.relative_job_dir(job_id)


def test_a_tampered_file_path_is_refused_not_served(logged_in, world):
    VideoResource.objects.filter(pk=world["resource"].pk).update(file_path="../../../etc/passwd")
    response = logged_in.get(world["resource"].url)
    assert response.status_code == 400
    assert b"root:" not in response.content


# --- Logins are throttled per username and address ------------------------------------------------


def test_failed_logins_lock_that_username_at_that_address_only(user, other_user):
    def attempt(username, password, address):
        return Client(REMOTE_ADDR=address).post(
            reverse("login"), {"username": username, "password": password}
        )

    for _ in range(4):
        assert attempt("ana", "wrong", "10.0.0.1").status_code == 200
    assert attempt("ana", "wrong", "10.0.0.1").status_code == 429  # the fifth locks
    locked = attempt("ana", "a-long-passphrase", "10.0.0.1")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert attempt("ana", "a-long-passphrase", "10.0.0.2").status_code == 302
    assert attempt("bo", "a-long-passphrase", "10.0.0.1").status_code == 302


PROXY = "127.0.0.1"  # the documented nginx, in front of gunicorn on the same host


@pytest.fixture
def behind_proxy(settings, monkeypatch):
    """Apply the client-address settings as settings.py ships them (no variable set)."""
    import runpy

    monkeypatch.delenv("TRUSTED_PROXY_COUNT", raising=False)
    monkeypatch.delenv("TRUSTED_PROXY_ADDRESSES", raising=False)
    shipped = runpy.run_path(str(ROOT / "videostudio" / "settings.py"))
    for name in ["TRUSTED_PROXY_COUNT", "TRUSTED_PROXY_ADDRESSES", "AXES_CLIENT_IP_CALLABLE"]:
        setattr(settings, name, shipped[name])
    return settings


def _login_via_proxy(username, password, client_address):
    """Log in as nginx forwards it: the proxy's address, the client's in X-Forwarded-For."""
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=client_address).post(
        reverse("login"), {"username": username, "password": password}
    )


def test_behind_the_proxy_an_attacker_cannot_lock_out_the_owner(behind_proxy, user):
    for _ in range(10):
        _login_via_proxy("ana", "wrong", "203.0.113.5")
    assert _login_via_proxy("ana", "a-long-passphrase", "203.0.113.5").status_code == 429
    assert _login_via_proxy("ana", "a-long-passphrase", "198.51.100.7").status_code == 302


def test_behind_the_proxy_a_forged_forwarded_header_is_not_believed(behind_proxy, user):
    """nginx appends the real address; what the client wrote before it is not trusted."""
    for n in range(5):  # a new forged address each time, the same real one
        _login_via_proxy("ana", "wrong", f"10.9.9.{n}, 203.0.113.5")
    assert _login_via_proxy("ana", "a-long-passphrase", "203.0.113.5").status_code == 429
    assert _login_via_proxy("ana", "a-long-passphrase", "198.51.100.7").status_code == 302


def test_a_forwarded_header_from_anyone_but_the_proxy_is_ignored(behind_proxy, user):
    """A client reaching the studio directly cannot dodge its lockout by forging one."""
    for n in range(5):
        Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}").post(
            reverse("login"), {"username": "ana", "password": "wrong"}
        )
    forged = Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="10.9.9.99")
    response = forged.post(reverse("login"), {"username": "ana", "password": "a-long-passphrase"})
    assert response.status_code == 429


def test_a_lockout_ends_after_the_cool_off_even_while_failures_go_on(behind_proxy, user):
    import time
    from datetime import timedelta

    behind_proxy.AXES_COOLOFF_TIME = timedelta(seconds=2)
    for _ in range(5):
        _login_via_proxy("ana", "wrong", "203.0.113.5")
    locked_at = time.monotonic()
    for _ in range(3):  # failures during the lockout must not renew it
        time.sleep(0.5)
        assert _login_via_proxy("ana", "wrong", "203.0.113.5").status_code == 429
    time.sleep(max(0.0, locked_at + 2.3 - time.monotonic()))
    assert _login_via_proxy("ana", "a-long-passphrase", "203.0.113.5").status_code == 302


def test_many_failures_for_one_username_slow_its_logins_but_never_lock_them(
    behind_proxy, user, other_user
):
    import time

    behind_proxy.LOGIN_USERNAME_SLOWDOWN_AFTER = 8
    behind_proxy.LOGIN_SLOWDOWN_SECONDS = 1.0

    def timed_login(address):
        started = time.monotonic()
        response = _login_via_proxy("ana", "a-long-passphrase", address)
        return response.status_code, time.monotonic() - started

    status, quick = timed_login("198.51.100.7")
    assert status == 302 and quick < 1.0
    for n in range(8):  # spread over addresses, each under its own lockout limit
        _login_via_proxy("ana", "wrong", f"203.0.113.{10 + n // 4}")
    status, slow = timed_login("198.51.100.8")
    assert status == 302, "the username is slowed down, never locked"
    assert slow >= 1.0
    # Another username is not slowed by ana's failures.
    started = time.monotonic()
    assert _login_via_proxy("bo", "a-long-passphrase", "198.51.100.7").status_code == 302
    assert time.monotonic() - started < 1.0


def test_password_reset_is_not_offered():
    """The studio sends no reset mail: the reset views are not mounted at all."""
    from django.urls import NoReverseMatch

    for name in ["password_reset", "password_reset_done", "password_reset_complete"]:
        with pytest.raises(NoReverseMatch):
            reverse(name)
    assert Client().get("/accounts/password_reset/").status_code == 404


# --- The API key never leaks ------------------------------------------------------------------------

SECRET = "AIzaSy-secret-key-that-must-never-leak-0123"


def test_the_api_key_appears_in_no_log_error_file_or_page(
    veo,
    settings,
    monkeypatch,
    user,
    superuser,
    client,
    data_dir,
    caplog,
    django_capture_on_commit_callbacks,
):
    # The emulator is shared by the whole session: give it back its key even if this fails.
    monkeypatch.setattr(veo, "api_key", SECRET)
    settings.GEMINI_API_KEY = SECRET
    settings.VEO_RETRY_BASE_SECONDS = 0.01
    caplog.set_level(logging.DEBUG)
    jobs = []
    for fault in ["permission", "done-error", "html", "redirect", "submit-500-accepted", "expired"]:
        with django_capture_on_commit_callbacks(execute=True):
            job = services.job_create(
                owner=user,
                prompt_text=f"Leak check [fault={fault}]",
                model=MODEL,
                options=JOB_OPTIONS,
            )
        run_due_jobs()
        job.refresh_from_db()
        jobs.append(job)
    assert all(job.status == "failed" for job in jobs)
    assert SECRET not in caplog.text
    assert all(SECRET not in (job.error or "") and SECRET not in str(job.metadata) for job in jobs)
    for path in data_dir.rglob("metadata.json"):
        assert SECRET not in path.read_text()
    client.force_login(superuser)
    for job in jobs:
        page = client.get(reverse("admin:jobs_videocreationjob_change", args=[job.pk]))
        assert page.status_code == 200  # a refused page would hide nothing
        assert SECRET not in page.content.decode()


def test_the_debug_error_page_hides_the_key(rf, settings):
    from django.views.debug import technical_500_response

    settings.GEMINI_API_KEY = SECRET
    request = rf.get("/")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        response = technical_500_response(request, *sys.exc_info())
    body = response.content.decode()
    assert "GEMINI_API_KEY" in body and SECRET not in body


# --- Production settings ------------------------------------------------------------------------------


def _manage(*args, **env):
    import os

    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "GEMINI_API_KEY", "SECRET_KEY", "DEBUG")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


STRONG_KEY = "k" * 20 + "-random-enough-for-a-test-0123456789-abcdefghij"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "false", "ALLOWED_HOSTS": "studio.example.com"}, "SECRET_KEY must be set."),
        (
            {"DEBUG": "false", "ALLOWED_HOSTS": "x", "SECRET_KEY": "short"},
            "at least 50 random characters",
        ),
        ({"DEBUG": "false", "SECRET_KEY": STRONG_KEY}, "ALLOWED_HOSTS must be set"),
        (
            {
                "DEBUG": "false",
                "ALLOWED_HOSTS": "x",
                "SECRET_KEY": STRONG_KEY,
                "VEO_PROVIDER": "gemini",
            },
            "GEMINI_API_KEY must be set.",
        ),
    ],
)
def test_production_start_up_refuses_missing_secrets_clearly(tmp_path, env, message):
    result = _manage("check", VIDEOSTUDIO_DATA_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_checks_pass_at_warning_level(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="studio.example.com",
        VIDEOSTUDIO_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pages_carry_a_strict_content_security_policy(logged_in):
    response = logged_in.get(reverse("jobs:index"))
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
