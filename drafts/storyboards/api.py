"""The storyboards router: storyboards, shots, takes, picks, trims, generate all and cuts.

    GET    storyboards?scope=&limit=&cursor=              [Storyboard], nextCursor
    POST   storyboards                                    201 Storyboard
    GET    storyboards/<id>                               StoryboardDetail: shots in order
                                                          with takes, pick and trim, totals,
                                                          the playing cut and the newest
    PATCH  storyboards/<id>                               StoryboardDetail (owner)
    DELETE storyboards/<id>                               null (owner)
    GET    storyboards/<id>/versions                      [Version]
    POST   storyboards/<id>/versions/<n>/restore          StoryboardDetail
    POST   storyboards/<id>/shots                         201 Shot
    PATCH  storyboards/<id>/shots/<id>                    Shot
    DELETE storyboards/<id>/shots/<id>                    null
    POST   storyboards/<id>/shots/<id>/move               Shot
    GET    storyboards/<id>/shots/<id>/takes              [Take]
    POST   storyboards/<id>/shots/<id>/takes              201 Take; Idempotency-Key honoured
    PUT    storyboards/<id>/shots/<id>/pick               Shot
    PUT    storyboards/<id>/shots/<id>/trim               Shot
    GET    storyboards/<id>/generate?chain=               GeneratePlan
    POST   storyboards/<id>/generate                      201 {batchId, plan};
                                                          Idempotency-Key honoured
    GET    storyboards/<id>/cuts?limit=&cursor=           [Cut], nextCursor
    POST   storyboards/<id>/cuts                          202 Cut queued; 200 the cut
                                                          already being assembled, or
                                                          the ready one if nothing changed
    GET    storyboards/<id>/cuts/<id>                     Cut

The rules are the pages' (drafts.storyboards.access): another person's private storyboard
is a 404; a shared one is the team's to work on (shots, takes, picks, trims, cuts), and
only its owner renames, shares or deletes it (else 403). A take's video, a cut's video
and poster are served by the pages' routes, which the answers link to.
"""

import re
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.urls import reverse
from ninja import Query, Router
from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator
from pydantic.alias_generators import to_camel

from jobs import limits, pricing
from jobs.api import idempotency, pagination
from jobs.api.creation import budget_refused, check_rate_limit, refused
from jobs.api.jobs import read_image
from jobs.api.schemas import (
    FRAME_HINT,
    REFERENCE_IMAGES_MAX,
    FrameIn,
    JobStatus,
    ShotOptionsIn,
    TaskName,
    an_object,
    stored_options,
)
from videostudio.envelope import (
    ApiError,
    CamelSchema,
    Envelope,
    InputSchema,
    ListEnvelope,
    Timestamp,
    error_responses,
    invalid,
    links,
    ok,
    ok_list,
    read_body,
    request_body,
)

from . import services
from .access import can_work, get_cut, get_shot, get_storyboard_for_user, get_take, is_owner
from .models import Cut, Shot, Storyboard, Take, Visibility

router = Router(tags=["storyboards"], by_alias=True)  # camelCase in the document too

VisibilityName = Literal[tuple(Visibility.values)]
ShotTask = Literal[tuple(Shot.Task.values)]
CutStatus = Literal[tuple(Cut.Status.values)]
# The newest versions and takes one answer lists (a storyboard keeps at most MAX_VERSIONS).
MAX_LISTED = 200
# A service's names for a shot's fields, where they are not the option's inside `options`.
SHOT_RENAMES = {"duration_seconds": "durationSeconds", "images": "images"}
# The operations that take a storyboard's id, for the link from the answer that makes one.
STORYBOARD_OPERATIONS = (
    "getStoryboard",
    "updateStoryboard",
    "listStoryboardVersions",
    "addShot",
    "planGenerateAll",
    "listCuts",
    "requestCut",
)
SHOT_OPERATIONS = ("updateShot", "moveShot", "listTakes", "generateTake", "pickTake", "trimShot")


# --- Shapes ----------------------------------------------------------------------------


class PageFilters(CamelSchema):
    limit: int = Field(20, ge=1, description="Page size, 1 to 100 (more is taken as 100).")
    cursor: str | None = Field(None, description="The `nextCursor` of the page before.")


class StoryboardFilters(PageFilters):
    scope: Literal["mine", "shared", "all"] = "all"


class StoryboardIn(InputSchema):
    """A new storyboard: a name, and the defaults every shot takes (the cut's profile)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "The lighthouse", "aspectRatio": "16:9"}]}
    )

    name: StrictStr = Field(max_length=services.MAX_NAME_LENGTH)
    model: StrictStr | None = Field(None, max_length=100, description="Default: the studio's.")
    aspect_ratio: StrictStr = Field("16:9", max_length=8)
    resolution: StrictStr = Field("720p", max_length=8)
    visibility: VisibilityName | None = Field(None, description="Default: private.")


class StoryboardUpdateIn(InputSchema):
    """A change to a storyboard's name, defaults or visibility; what is left out stays."""

    name: StrictStr | None = Field(None, max_length=services.MAX_NAME_LENGTH)
    model: StrictStr | None = Field(None, max_length=100)
    aspect_ratio: StrictStr | None = Field(None, max_length=8)
    resolution: StrictStr | None = Field(None, max_length=8)
    visibility: VisibilityName | None = None
    base_version: StrictInt | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="The version the edit started from: a 409 if someone saved since.",
    )


def _images(cls, value):
    if value is not None and (
        not isinstance(value, list)
        or not all(isinstance(v, dict) and isinstance(v.get("data"), str) for v in value)
    ):
        raise ValueError(f"Use a list of images, each {FRAME_HINT[4:]}")
    return value


class ShotFields(InputSchema):
    prompt: StrictStr | None = Field(None, description="What the shot shows.")
    task: ShotTask | None = Field(
        None,
        description="text (default), first_frame (one image), references (images), "
        "continue_frame (from the previous shot's picked take's last frame) or "
        "continue_extend (extends the previous shot's picked take).",
    )
    duration_seconds: StrictInt | None = Field(None, ge=1, le=60, description="Default: 8.")
    options: ShotOptionsIn | None = None
    notes: StrictStr | None = Field(None, max_length=services.MAX_NOTES_LENGTH)
    images: list[FrameIn] | None = Field(
        None,
        max_length=REFERENCE_IMAGES_MAX,
        description="A first_frame shot's image, or a references shot's images, base64.",
    )

    _options = field_validator("options", mode="before")(an_object)
    _images = field_validator("images", mode="before")(_images)


class ShotIn(ShotFields):
    """A new shot: at the end, or at `position` (the later shots move down)."""

    model_config = ConfigDict(
        json_schema_extra={
            "required": ["prompt"],
            "examples": [
                {"prompt": "A lighthouse at dusk", "durationSeconds": 4},
                {"prompt": "The lamp turns", "task": "continue_frame", "durationSeconds": 4},
            ],
        }
    )

    position: StrictInt | None = Field(None, ge=1, le=services.MAX_SHOTS)
    base_version: StrictInt | None = Field(None, ge=1, le=2**31 - 1)


class ShotUpdateIn(ShotFields):
    """A change to a shot; what is left out stays. `images` given replace the shot's."""

    base_version: StrictInt | None = Field(None, ge=1, le=2**31 - 1)


class MoveIn(InputSchema):
    position: StrictInt = Field(ge=1, le=services.MAX_SHOTS, description="1 for the first.")


class PickIn(InputSchema):
    """The take the cut uses, or null for none; only a completed take can be picked."""

    model_config = ConfigDict(json_schema_extra={"required": ["takeId"]})

    take_id: StrictStr | None = Field(None, max_length=36)


class TrimIn(InputSchema):
    """Where the picked take is cut in and out, in seconds; null out is the take's end."""

    trim_in: float | None = Field(None, ge=0, le=float(services.MAX_SECONDS))
    trim_out: float | None = Field(None, ge=0, le=float(services.MAX_SECONDS))


class GenerateFilters(CamelSchema):
    chain: bool = Field(
        False,
        description="Chain automatically: continuing shots run once the take before "
        "completes (and is picked), instead of waiting for a pick.",
    )


class GenerateIn(InputSchema):
    chain: StrictBool = False


class TakeJobOut(CamelSchema):
    """The take's job: what ran, how it went, what it cost."""

    id: str
    status: JobStatus
    stage: str
    progress: int
    error: str | None
    prompt_text: str
    model: str
    task: TaskName
    seed: int | None
    options: dict[str, Any]
    estimated_cost_usd: str
    actual_cost_usd: str | None
    created_at: Timestamp
    completed_at: Timestamp | None

    @classmethod
    def of(cls, job):
        return cls(
            id=job.pk,
            status=job.status,
            stage=job.stage,
            progress=job.progress,
            error=job.error,
            prompt_text=job.prompt_text,
            model=job.model,
            task=job.task,
            seed=(job.options or {}).get("seed"),
            options={to_camel(k): v for k, v in (job.options or {}).items()},
            estimated_cost_usd=str(job.estimated_cost_usd),
            actual_cost_usd=None if job.actual_cost_usd is None else str(job.actual_cost_usd),
            created_at=job.created_at,
            completed_at=job.completed_at,
        )


class TakeOut(CamelSchema):
    """One take of a shot; `videoUrl` and `posterUrl` are the storyboard page's routes."""

    id: str
    number: int
    shot_id: str
    picked: bool
    created_by: str | None
    created_at: Timestamp
    duration_seconds: float | None = Field(description="The video's length, once it has one.")
    video_url: str | None
    poster_url: str | None
    job: TakeJobOut

    @classmethod
    def of(cls, take, *, storyboard, picked_id):
        job = take.job
        done = job.status == services.JobStatus.COMPLETED and bool(job.video_url)
        return cls(
            id=take.pk,
            number=take.number,
            shot_id=take.shot_id,
            picked=take.pk == picked_id,
            created_by=take.created_by.get_username() if take.created_by else None,
            created_at=take.created_at,
            duration_seconds=services.take_duration(take),
            video_url=reverse("storyboards:take-video", args=[storyboard.pk, take.pk])
            if done
            else None,
            poster_url=reverse("storyboards:take-poster", args=[storyboard.pk, take.pk])
            if done
            else None,
            job=TakeJobOut.of(job),
        )


class ShotOut(CamelSchema):
    id: str
    position: int
    prompt: str
    task: ShotTask
    duration_seconds: int
    options: dict[str, Any] = Field(description="The shot's further options, camelCase.")
    notes: str
    image_count: int
    continues: bool
    picked_take_id: str | None
    trim_in: float
    trim_out: float | None = Field(description="null: the picked take's end.")
    waiting_for_previous: bool
    takes: list[TakeOut]

    @classmethod
    def of(cls, shot, *, storyboard, takes):
        return cls(
            id=shot.pk,
            position=shot.position,
            prompt=shot.prompt,
            task=shot.task,
            duration_seconds=shot.duration_seconds,
            options={to_camel(k): v for k, v in (shot.options or {}).items()},
            notes=shot.notes,
            image_count=len(shot.images or ()),
            continues=shot.continues,
            picked_take_id=shot.picked_id,
            trim_in=float(shot.trim_in),
            trim_out=None if shot.trim_out is None else float(shot.trim_out),
            waiting_for_previous=shot.waiting_for_previous,
            takes=[TakeOut.of(t, storyboard=storyboard, picked_id=shot.picked_id) for t in takes],
        )


class SegmentOut(CamelSchema):
    """One segment of a cut: where it came from (shot, take, job, prompt, seed, model,
    cost), its in and out points in the take, and (once ready) where it stands in the cut."""

    shot: int
    shot_id: str
    take: int
    take_id: str
    job_id: str
    in_point: str = Field(alias="in", description="Seconds into the take, e.g. 1.000.")
    out_point: str | None = Field(alias="out", description="null: the take's end.")
    start: float | None = Field(None, description="Seconds into the cut (a ready cut's).")
    end: float | None = None
    prompt: str
    seed: int | None
    model: str
    cost_usd: str


class CutOut(CamelSchema):
    """A cut: its state, and once ready its length, how it was made, video and edit list."""

    id: str
    storyboard_id: str
    status: CutStatus
    progress: int
    error: str | None
    duration_seconds: float | None
    stream_copy: bool | None = Field(description="Joined without re-encoding.")
    stale: bool = Field(description="The picks or trims changed since it was requested.")
    segments: list[SegmentOut]
    created_at: Timestamp
    completed_at: Timestamp | None
    video_url: str | None
    poster_url: str | None
    edit_list_url: str | None

    @classmethod
    def of(cls, cut, *, signature):
        ready = cut.status == Cut.Status.READY
        args = [cut.storyboard_id, cut.pk]
        return cls(
            id=cut.pk,
            storyboard_id=cut.storyboard_id,
            status=cut.status,
            progress=cut.progress,
            error=cut.error or None,
            duration_seconds=cut.duration_seconds,
            stream_copy=cut.stream_copy,
            stale=signature != cut.signature,
            segments=[SegmentOut.model_validate(s) for s in cut.edit_list],
            created_at=cut.created_at,
            completed_at=cut.completed_at,
            video_url=reverse("storyboards:cut-video", args=args) if ready else None,
            poster_url=reverse("storyboards:cut-poster", args=args) if ready else None,
            edit_list_url=reverse("storyboards:cut-edit-list", args=args) if ready else None,
        )


class TotalsOut(CamelSchema):
    seconds: float = Field(description="The running time: picked, trimmed takes, else shots.")
    spent_usd: str
    to_go_usd: str = Field(description="What generating the shots without a pick would cost.")


class StoryboardOut(CamelSchema):
    id: str
    name: str
    owner: str
    visibility: VisibilityName
    model: str
    aspect_ratio: str
    resolution: str
    version: int
    chaining: bool
    created_at: Timestamp
    updated_at: Timestamp
    can_work: bool = Field(description="You may change shots, make takes, pick, trim, cut.")
    is_owner: bool = Field(description="You may rename, share and delete it.")

    @classmethod
    def fields_of(cls, storyboard, *, user):
        return {
            "id": storyboard.pk,
            "name": storyboard.name,
            "owner": storyboard.owner.get_username(),
            "visibility": storyboard.visibility,
            "model": storyboard.model,
            "aspect_ratio": storyboard.aspect_ratio,
            "resolution": storyboard.resolution,
            "version": storyboard.version,
            "chaining": storyboard.chaining,
            "created_at": storyboard.created_at,
            "updated_at": storyboard.updated_at,
            "can_work": can_work(user, storyboard),
            "is_owner": is_owner(user, storyboard),
        }


class StoryboardDetailOut(StoryboardOut):
    shots: list[ShotOut]
    totals: TotalsOut
    cut: CutOut | None = Field(description="The newest ready cut: the one that plays.")
    newest_cut: CutOut | None = Field(description="The newest cut in any state.")
    can_assemble: bool = Field(description="Every shot has a completed picked take.")


class StoryboardVersionOut(CamelSchema):
    number: int
    created_at: Timestamp
    note: str
    author: str | None


class PlannedShotOut(CamelSchema):
    shot_id: str
    position: int
    reason: str | None = Field(None, description="Why a waiting shot waits.")


class PlanOut(CamelSchema):
    """What "Generate all" would run: now, later in a chain, or not (waiting for a pick)."""

    count: int = Field(description="The jobs the run makes, chained ones included.")
    estimated_cost_usd: str
    now: list[PlannedShotOut]
    later: list[PlannedShotOut]
    waiting: list[PlannedShotOut]
    over_budget: str | None = Field(description="Why your budgets refuse the run, if they do.")

    @classmethod
    def of(cls, plan, *, user):
        try:
            pricing.check_budgets(owner=user, amount=plan.cost)
        except pricing.BudgetExceeded as exc:
            over_budget = " ".join(exc.messages)
        else:
            over_budget = None
        return cls(
            count=plan.count,
            estimated_cost_usd=str(plan.cost),
            now=[PlannedShotOut(shot_id=s.pk, position=s.position) for s in plan.now],
            later=[PlannedShotOut(shot_id=s.pk, position=s.position) for s in plan.later],
            waiting=[
                PlannedShotOut(shot_id=s.pk, position=s.position, reason=why)
                for s, why in plan.waiting
            ],
            over_budget=over_budget,
        )


class GenerateOut(CamelSchema):
    batch_id: str | None = Field(description="null when only chained shots were left.")
    take_ids: list[str]
    plan: PlanOut


# --- Lookups and answers ---------------------------------------------------------------


def _storyboard(request, storyboard_id, *, work=False, own=False) -> Storyboard:
    try:
        return get_storyboard_for_user(request.user, storyboard_id, work=work, own=own)
    except Http404:
        raise ApiError(404, "Storyboard not found.") from None
    except PermissionDenied as exc:
        raise ApiError(403, str(exc)) from None


def _shot(storyboard, shot_id) -> Shot:
    try:
        return get_shot(storyboard, shot_id)
    except Http404:
        raise ApiError(404, "This storyboard has no such shot.") from None


def _takes_of(storyboard, *, shot=None):
    """Return {shot id: [take, ...]} with each take's job and author, in one query."""
    takes = Take.objects.filter(shot__storyboard=storyboard).select_related("job", "created_by")
    if shot is not None:
        takes = takes.filter(shot=shot)
    grouped = {}
    for take in takes.order_by("number"):
        grouped.setdefault(take.shot_id, []).append(take)
    return grouped


def shot_out(shot, *, storyboard) -> ShotOut:
    shot.storyboard = storyboard
    takes = _takes_of(storyboard, shot=shot).get(shot.pk, [])
    return ShotOut.of(shot, storyboard=storyboard, takes=takes)


def storyboard_out(storyboard, *, user) -> StoryboardDetailOut:
    """Return the whole storyboard as its page shows it, in a fixed number of queries."""
    shots = services.ordered_shots(storyboard)
    for shot in shots:
        shot.storyboard = storyboard
    takes = _takes_of(storyboard)
    signature = services.current_signature(storyboard, shots)
    ready, newest = services.latest_cut(storyboard)
    totals = services.storyboard_totals(
        storyboard, shots, [take for shot_takes in takes.values() for take in shot_takes]
    )
    return StoryboardDetailOut(
        **StoryboardOut.fields_of(storyboard, user=user),
        shots=[ShotOut.of(s, storyboard=storyboard, takes=takes.get(s.pk, [])) for s in shots],
        totals=TotalsOut(
            seconds=float(totals["seconds"]),
            spent_usd=_usd(totals["spent"]),
            to_go_usd=_usd(totals["to_go"]),
        ),
        cut=None if ready is None else CutOut.of(ready, signature=signature),
        newest_cut=None if newest is None else CutOut.of(newest, signature=signature),
        can_assemble=signature is not None,
    )


def _usd(amount) -> str:
    """Return a sum of money as the jobs' costs are written: 0.8000."""
    return str(Decimal(amount).quantize(Decimal("0.0001")))


def _frames(body, errors):
    """Return the body's images as Frames (None if it sent none); problems go in errors."""
    if body.images is None:
        return None
    frames = []
    for n, image in enumerate(body.images):
        frame = read_image(image, f"images[{n}]", errors)
        if frame is not None:
            frames.append(frame)
    return frames


def _shot_values(body) -> dict:
    values = {
        "prompt": body.prompt,
        "task": body.task,
        "duration_seconds": body.duration_seconds,
        "notes": body.notes,
    }
    values = {k: v for k, v in values.items() if v is not None}
    if body.options is not None:
        values["options"] = stored_options(body.options)
    return values


def _shot_refused(exc) -> ApiError:
    return refused(exc, options_prefix=True, renames=SHOT_RENAMES)


def _conflict(exc) -> ApiError:
    return ApiError(409, str(exc))


# --- Storyboards -----------------------------------------------------------------------


@router.get(
    "storyboards",
    url_name="storyboards",
    operation_id="listStoryboards",
    response={200: ListEnvelope[StoryboardOut], **error_responses()},
    summary="List the storyboards you may see, newest first",
)
def list_storyboards(request, filters: Query[StoryboardFilters]):
    """Your own and the team's shared storyboards; pass `nextCursor` back as `cursor`."""
    rows = (
        Storyboard.objects.visible_to(request.user)
        .select_related("owner")
        .order_by("-created_at", "-pk")
    )
    if filters.scope == "mine":
        rows = rows.filter(owner=request.user)
    elif filters.scope == "shared":
        rows = rows.filter(visibility=Visibility.SHARED)
    page, next_cursor = pagination.page_of(rows, limit=filters.limit, cursor=filters.cursor)
    return ok_list(
        [StoryboardOut(**StoryboardOut.fields_of(s, user=request.user)) for s in page],
        next_cursor=next_cursor,
        next_url=pagination.next_page_url(request, next_cursor),
    )


@router.post(
    "storyboards",
    url_name="storyboards",
    operation_id="createStoryboard",
    response={201: Envelope[StoryboardDetailOut], **error_responses(413)},
    summary="Create an empty storyboard with its defaults",
    openapi_extra={
        **request_body(StoryboardIn),
        **links(201, "storyboard_id", "$response.body#/data/id", *STORYBOARD_OPERATIONS),
    },
)
def create_storyboard(request):
    body, _raw = read_body(request, StoryboardIn)
    try:
        storyboard = services.storyboard_create(
            owner=request.user,
            name=body.name,
            model=body.model,
            aspect_ratio=body.aspect_ratio,
            resolution=body.resolution,
            visibility=body.visibility,
        )
    except ValidationError as exc:
        raise refused(exc) from None
    return ok(storyboard_out(storyboard, user=request.user), status=201)


@router.get(
    "storyboards/{storyboard_id}",
    url_name="storyboard",
    operation_id="getStoryboard",
    response={200: Envelope[StoryboardDetailOut], **error_responses()},
    summary="Get a storyboard: its shots in order with their takes, totals and cuts",
)
def get_storyboard(request, storyboard_id: str):
    return ok(storyboard_out(_storyboard(request, storyboard_id), user=request.user))


@router.patch(
    "storyboards/{storyboard_id}",
    url_name="storyboard",
    operation_id="updateStoryboard",
    response={200: Envelope[StoryboardDetailOut], **error_responses(409, 413)},
    summary="Rename a storyboard, change its defaults or share it (its owner)",
    openapi_extra=request_body(StoryboardUpdateIn),
)
def update_storyboard(request, storyboard_id: str):
    storyboard = _storyboard(request, storyboard_id, own=True)
    body, _raw = read_body(request, StoryboardUpdateIn)
    changes = body.model_dump(exclude_none=True, exclude={"base_version"})
    try:
        services.storyboard_update(
            storyboard=storyboard, author=request.user, base_version=body.base_version, **changes
        )
    except services.StoryboardConflict as exc:
        raise _conflict(exc) from None
    except ValidationError as exc:
        raise refused(exc) from None
    return ok(storyboard_out(storyboard, user=request.user))


@router.delete(
    "storyboards/{storyboard_id}",
    url_name="storyboard",
    operation_id="deleteStoryboard",
    response={200: Envelope[None], **error_responses()},
    summary="Delete a storyboard, its shots, versions and cuts (its owner); takes stay as jobs",
)
def delete_storyboard(request, storyboard_id: str):
    services.storyboard_delete(storyboard=_storyboard(request, storyboard_id, own=True))
    return ok(None)


@router.get(
    "storyboards/{storyboard_id}/versions",
    url_name="storyboard-versions",
    operation_id="listStoryboardVersions",
    response={200: ListEnvelope[StoryboardVersionOut], **error_responses()},
    summary="List a storyboard's versions, newest first",
)
def list_versions(request, storyboard_id: str):
    storyboard = _storyboard(request, storyboard_id)
    versions = storyboard.versions.select_related("author").order_by("-number")[:MAX_LISTED]
    return ok_list(
        [
            StoryboardVersionOut(
                number=v.number,
                created_at=v.created_at,
                note=v.note,
                author=v.author.get_username() if v.author else None,
            )
            for v in versions
        ]
    )


@router.post(
    "storyboards/{storyboard_id}/versions/{number}/restore",
    url_name="storyboard-restore",
    operation_id="restoreStoryboardVersion",
    response={200: Envelope[StoryboardDetailOut], **error_responses()},
    summary="Bring back a version's name, defaults, shots and picks as the newest version",
)
def restore_version(request, storyboard_id: str, number: str):
    # The owner's: a version brings back the name and defaults, which only they change.
    storyboard = _storyboard(request, storyboard_id, own=True)
    if not re.fullmatch(r"[0-9]{1,10}", number) or not 0 < int(number) <= 2**31 - 1:
        raise invalid({"number": "Use a version's number, e.g. 3."})
    version = storyboard.versions.filter(number=int(number)).first()
    if version is None:
        raise ApiError(404, f"This storyboard has no version {int(number)}.")
    services.storyboard_restore(storyboard=storyboard, version=version, author=request.user)
    return ok(storyboard_out(storyboard, user=request.user))


# --- Shots -----------------------------------------------------------------------------


@router.post(
    "storyboards/{storyboard_id}/shots",
    url_name="storyboard-shots",
    operation_id="addShot",
    response={201: Envelope[ShotOut], **error_responses(409, 413)},
    summary="Add a shot (at the end, or at a position)",
    openapi_extra={
        **request_body(ShotIn),
        **links(201, "shot_id", "$response.body#/data/id", *SHOT_OPERATIONS),
    },
)
def add_shot(request, storyboard_id: str):
    storyboard = _storyboard(request, storyboard_id, work=True)
    body, _raw = read_body(request, ShotIn, max_bytes=settings.API_MAX_BODY_BYTES)
    errors = {}
    if body.prompt is None:
        errors["prompt"] = "Write what the shot shows."
    images = _frames(body, errors)
    if errors:
        raise invalid(errors)
    try:
        shot = services.shot_add(
            storyboard=storyboard,
            author=request.user,
            position=body.position,
            images=images or (),
            base_version=body.base_version,
            **_shot_values(body),
        )
    except services.StoryboardConflict as exc:
        raise _conflict(exc) from None
    except ValidationError as exc:
        raise _shot_refused(exc) from None
    return ok(shot_out(shot, storyboard=storyboard), status=201)


@router.patch(
    "storyboards/{storyboard_id}/shots/{shot_id}",
    url_name="storyboard-shot",
    operation_id="updateShot",
    response={200: Envelope[ShotOut], **error_responses(409, 413)},
    summary="Change a shot's prompt, task, length, options, notes or images",
    openapi_extra=request_body(ShotUpdateIn),
)
def update_shot(request, storyboard_id: str, shot_id: str):
    storyboard = _storyboard(request, storyboard_id, work=True)
    shot = _shot(storyboard, shot_id)
    body, _raw = read_body(request, ShotUpdateIn, max_bytes=settings.API_MAX_BODY_BYTES)
    errors = {}
    images = _frames(body, errors)
    if errors:
        raise invalid(errors)
    try:
        shot = services.shot_update(
            shot=shot,
            author=request.user,
            images=images,
            base_version=body.base_version,
            **_shot_values(body),
        )
    except services.StoryboardConflict as exc:
        raise _conflict(exc) from None
    except ValidationError as exc:
        raise _shot_refused(exc) from None
    return ok(shot_out(shot, storyboard=storyboard))


@router.delete(
    "storyboards/{storyboard_id}/shots/{shot_id}",
    url_name="storyboard-shot",
    operation_id="deleteShot",
    response={200: Envelope[None], **error_responses()},
    summary="Remove a shot (its takes stay as jobs) and close the gap",
)
def delete_shot(request, storyboard_id: str, shot_id: str):
    storyboard = _storyboard(request, storyboard_id, work=True)
    services.shot_delete(shot=_shot(storyboard, shot_id), author=request.user)
    return ok(None)


@router.post(
    "storyboards/{storyboard_id}/shots/{shot_id}/move",
    url_name="storyboard-shot-move",
    operation_id="moveShot",
    response={200: Envelope[ShotOut], **error_responses(413)},
    summary="Move a shot to a position, shifting the shots between",
    openapi_extra=request_body(MoveIn),
)
def move_shot(request, storyboard_id: str, shot_id: str):
    storyboard = _storyboard(request, storyboard_id, work=True)
    shot = _shot(storyboard, shot_id)
    body, _raw = read_body(request, MoveIn)
    try:
        shot = services.shot_move(shot=shot, author=request.user, to=body.position)
    except ValidationError as exc:
        raise refused(exc) from None
    return ok(shot_out(shot, storyboard=storyboard))


# --- Takes, picks, trims ---------------------------------------------------------------


@router.get(
    "storyboards/{storyboard_id}/shots/{shot_id}/takes",
    url_name="storyboard-takes",
    operation_id="listTakes",
    response={200: ListEnvelope[TakeOut], **error_responses()},
    summary="List a shot's takes, first to last",
)
def list_takes(request, storyboard_id: str, shot_id: str):
    storyboard = _storyboard(request, storyboard_id)
    shot = _shot(storyboard, shot_id)
    takes = _takes_of(storyboard, shot=shot).get(shot.pk, [])[:MAX_LISTED]
    return ok_list([TakeOut.of(t, storyboard=storyboard, picked_id=shot.picked_id) for t in takes])


@router.post(
    "storyboards/{storyboard_id}/shots/{shot_id}/takes",
    url_name="storyboard-takes",
    operation_id="generateTake",
    response={201: Envelope[TakeOut], **error_responses(409, 429)},
    summary="Generate a take of a shot: a job, within your budgets and creation limit",
)
def generate_take(
    request,
    storyboard_id: str,
    shot_id: str,
    idempotency_key: str | None = idempotency.key_header(),
):
    """The take's job runs in the background: poll the take (or `GET jobs/{id}`)."""
    storyboard = _storyboard(request, storyboard_id, work=True)
    shot = _shot(storyboard, shot_id)

    def create():
        check_rate_limit(request.user)
        try:
            take = services.take_generate(shot=shot, user=request.user)
        except pricing.BudgetExceeded as exc:
            raise budget_refused(exc) from None
        except limits.CreationLimitExceeded:
            check_rate_limit(request.user)  # the 429 with its Retry-After
            raise
        except ValidationError as exc:
            raise _shot_refused(exc) from None
        take = Take.objects.select_related("job", "created_by").get(pk=take.pk)
        return ok(TakeOut.of(take, storyboard=storyboard, picked_id=shot.picked_id), status=201)

    return idempotency.create_once(request, idempotency_key, {}, create)


@router.put(
    "storyboards/{storyboard_id}/shots/{shot_id}/pick",
    url_name="storyboard-pick",
    operation_id="pickTake",
    response={200: Envelope[ShotOut], **error_responses(413)},
    summary="Pick the take the cut uses (a completed one), or none",
    openapi_extra=request_body(PickIn),
)
def pick_take(request, storyboard_id: str, shot_id: str):
    storyboard = _storyboard(request, storyboard_id, work=True)
    shot = _shot(storyboard, shot_id)
    body, raw = read_body(request, PickIn)
    if "takeId" not in raw:
        raise invalid({"takeId": "Send the take's id, or null to pick none."})
    take = None
    if body.take_id is not None:
        try:
            take = get_take(storyboard, body.take_id)
        except Http404:
            message = "This storyboard has no such take."
            raise ApiError(404, message, fields={"takeId": message}) from None
    try:
        shot = services.take_pick(shot=shot, take=take, author=request.user)
    except ValidationError as exc:
        raise refused(exc) from None
    return ok(shot_out(shot, storyboard=storyboard))


@router.put(
    "storyboards/{storyboard_id}/shots/{shot_id}/trim",
    url_name="storyboard-trim",
    operation_id="trimShot",
    response={200: Envelope[ShotOut], **error_responses(413)},
    summary="Set where the picked take is cut in and out, in seconds",
    openapi_extra=request_body(TrimIn),
)
def trim_shot(request, storyboard_id: str, shot_id: str):
    storyboard = _storyboard(request, storyboard_id, work=True)
    shot = _shot(storyboard, shot_id)
    body, _raw = read_body(request, TrimIn)
    try:
        shot = services.shot_set_trim(
            shot=shot, author=request.user, trim_in=body.trim_in, trim_out=body.trim_out
        )
    except ValidationError as exc:
        raise refused(exc) from None
    return ok(shot_out(shot, storyboard=storyboard))


# --- Generate all ----------------------------------------------------------------------


@router.get(
    "storyboards/{storyboard_id}/generate",
    url_name="storyboard-generate",
    operation_id="planGenerateAll",
    response={200: Envelope[PlanOut], **error_responses()},
    summary="What generating every shot without a pick would run, and what it would cost",
)
def plan_generate_all(request, storyboard_id: str, filters: Query[GenerateFilters]):
    storyboard = _storyboard(request, storyboard_id, work=True)
    plan = services.generate_all_plan(storyboard, chain=filters.chain)
    return ok(PlanOut.of(plan, user=request.user))


@router.post(
    "storyboards/{storyboard_id}/generate",
    url_name="storyboard-generate",
    operation_id="generateAll",
    response={201: Envelope[GenerateOut], **error_responses(409, 413, 429)},
    summary="Generate every shot without a pick as one batch (chained, if asked)",
    openapi_extra={
        **request_body(GenerateIn),
        **links(201, "batch_id", "$response.body#/data/batchId", "getBatch"),
    },
)
def generate_all(
    request, storyboard_id: str, idempotency_key: str | None = idempotency.key_header()
):
    storyboard = _storyboard(request, storyboard_id, work=True)
    body, raw = read_body(request, GenerateIn)

    def create():
        plan = services.generate_all_plan(storyboard, chain=body.chain)
        check_rate_limit(request.user, count=len(plan.now))
        try:
            batch, plan = services.storyboard_generate_all(
                storyboard=storyboard, user=request.user, chain=body.chain
            )
        except pricing.BudgetExceeded as exc:
            raise budget_refused(exc) from None
        except limits.CreationLimitExceeded:
            check_rate_limit(request.user, count=len(plan.now))
            raise
        except ValidationError as exc:
            raise _shot_refused(exc) from None
        take_ids = []
        if batch is not None:
            take_ids = list(
                Take.objects.filter(job__batch=batch)
                .order_by("shot__position")
                .values_list("pk", flat=True)
            )
        return ok(
            GenerateOut(
                batch_id=None if batch is None else batch.pk,
                take_ids=take_ids,
                plan=PlanOut.of(plan, user=request.user),
            ),
            status=201,
        )

    return idempotency.create_once(request, idempotency_key, raw, create)


# --- Cuts ------------------------------------------------------------------------------


@router.get(
    "storyboards/{storyboard_id}/cuts",
    url_name="storyboard-cuts",
    operation_id="listCuts",
    response={200: ListEnvelope[CutOut], **error_responses()},
    summary="List a storyboard's cuts, newest first",
)
def list_cuts(request, storyboard_id: str, filters: Query[PageFilters]):
    storyboard = _storyboard(request, storyboard_id)
    signature = services.current_signature(storyboard)
    rows = storyboard.cuts.order_by("-created_at", "-pk")
    page, next_cursor = pagination.page_of(rows, limit=filters.limit, cursor=filters.cursor)
    return ok_list(
        [CutOut.of(cut, signature=signature) for cut in page],
        next_cursor=next_cursor,
        next_url=pagination.next_page_url(request, next_cursor),
    )


@router.post(
    "storyboards/{storyboard_id}/cuts",
    url_name="storyboard-cuts",
    operation_id="requestCut",
    response={200: Envelope[CutOut], 202: Envelope[CutOut], **error_responses()},
    summary="Assemble the picked takes into one video (202); one already under way, or the "
    "ready cut when no pick or trim changed since, is answered instead (200)",
    openapi_extra=links(202, "cut_id", "$response.body#/data/id", "getCut"),
)
def request_cut(request, storyboard_id: str):
    """Poll `GET …/cuts/{id}` until it is ready (or failed); its `videoUrl` then plays."""
    storyboard = _storyboard(request, storyboard_id, work=True)
    # Only a cut this request queued is a 202; one under way, or the ready cut when nothing
    # changed since it was made, is answered as it is (200).
    existing = set(storyboard.cuts.values_list("pk", flat=True))
    try:
        cut = services.cut_request(storyboard=storyboard, user=request.user)
    except ValidationError as exc:
        raise refused(exc) from None
    signature = services.current_signature(storyboard)
    return ok(CutOut.of(cut, signature=signature), status=200 if cut.pk in existing else 202)


@router.get(
    "storyboards/{storyboard_id}/cuts/{cut_id}",
    url_name="storyboard-cut",
    operation_id="getCut",
    response={200: Envelope[CutOut], **error_responses()},
    summary="Get a cut: its status, progress, length, segments and video",
)
def get_one_cut(request, storyboard_id: str, cut_id: str):
    storyboard = _storyboard(request, storyboard_id)
    try:
        cut = get_cut(storyboard, cut_id)
    except Http404:
        raise ApiError(404, "This storyboard has no such cut.") from None
    return ok(CutOut.of(cut, signature=services.current_signature(storyboard)))
