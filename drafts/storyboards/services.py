"""Storyboards: every write, for the pages, the JSON API, the admin and the worker.

Each change to a storyboard (its name, defaults, shots, picks or trims) saves a new
StoryboardVersion with a snapshot of the whole, so the previous storyboard is kept.
A take is a job made through jobs.services.job_create and linked to its shot; a cut
is assembled in the worker (cut_assemble) from the picked takes' stored videos.
"""

import contextlib
import errno
import hashlib
import json
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import partial
from io import BytesIO

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, OuterRef, Subquery
from django.utils import timezone
from django_q.tasks import async_task
from PIL import Image

from jobs import catalog, media, pricing, storage
from jobs import options as job_options
from jobs import services as job_services
from jobs.frames import FORMATS, Frame
from jobs.models import VideoCreationJob
from jobs.veo.base import Task
from jobs.webhooks import services as webhooks
from jobs.webhooks.models import Event

from . import assembly
from .models import Cut, CutSegment, Shot, Storyboard, StoryboardVersion, Take, Visibility

logger = logging.getLogger(__name__)

JobStatus = VideoCreationJob.Status
MAX_SHOTS = 200
MAX_NAME_LENGTH = 200
MAX_NOTES_LENGTH = 5000
# What the trim columns hold (max_digits=7, decimal_places=3).
MAX_SECONDS = Decimal("9999.999")
# Versions kept per storyboard; each is a snapshot of a few kilobytes.
MAX_VERSIONS = 200
# How long an assembly may go without progress before the sweep takes it back.
CUT_STALL_SECONDS = 15 * 60
CUT_MAX_ATTEMPTS = 2
CUT_TASK = "drafts.tasks.assemble_cut"
SHOT_FIELDS = ("prompt", "task", "duration_seconds", "options", "notes")
CUT_TROUBLE = "The cut could not be assembled. The details are in the worker's log; try again."
DISK_FULL = (
    "The studio's disk is full, so the cut could not be written; nothing half-written was "
    "kept. Free some space, then assemble again."
)


class StoryboardConflict(Exception):
    """A save started from a version that is no longer the newest: someone saved since."""

    def __init__(self):
        super().__init__(
            "Someone changed this storyboard after you opened it. Reload to see their "
            "version; your change was not saved."
        )


# --- Versions --------------------------------------------------------------------------


def snapshot(storyboard) -> dict:
    """Return the storyboard as a version keeps it: name, defaults and every shot."""
    shots = storyboard.shots.order_by("position", "created_at")
    return {
        "name": storyboard.name,
        "visibility": storyboard.visibility,
        "model": storyboard.model,
        "aspectRatio": storyboard.aspect_ratio,
        "resolution": storyboard.resolution,
        "shots": [
            {
                "id": shot.pk,
                "position": shot.position,
                "prompt": shot.prompt,
                "task": shot.task,
                "durationSeconds": shot.duration_seconds,
                "options": shot.options,
                "notes": shot.notes,
                "images": shot.images,
                "pickedTakeId": shot.picked_id,
                "trimIn": str(shot.trim_in),
                "trimOut": None if shot.trim_out is None else str(shot.trim_out),
            }
            for shot in shots
        ],
    }


def _save_version(storyboard, *, author, note, base_version=None):
    """Bump the storyboard's version (refusing a stale base) and keep a snapshot of it."""
    base = storyboard.version if base_version is None else base_version
    now = timezone.now()
    if not Storyboard.objects.filter(pk=storyboard.pk, version=base).update(
        version=base + 1, updated_at=now
    ):
        raise StoryboardConflict
    storyboard.version, storyboard.updated_at = base + 1, now
    StoryboardVersion.objects.create(
        storyboard=storyboard,
        number=storyboard.version,
        snapshot=snapshot(storyboard),
        author=author,
        note=note[:200],
        created_at=now,
    )
    storyboard.versions.filter(number__lte=storyboard.version - MAX_VERSIONS).delete()


# --- Storyboards -----------------------------------------------------------------------


def _clean_name(name) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise ValidationError({"name": "Give the storyboard a name."})
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError({"name": f"A name is at most {MAX_NAME_LENGTH} characters."})
    return name


def _clean_defaults(model, aspect_ratio, resolution) -> dict:
    """Check the storyboard's defaults against the catalog; return them."""
    offered = catalog.offered()
    if model not in offered:
        raise ValidationError({"model": f"Choose one of: {', '.join(offered)}."})
    spec = offered[model]
    if aspect_ratio not in spec.aspect_ratios:
        raise ValidationError(
            {"aspect_ratio": f"{spec.label} makes {', '.join(spec.aspect_ratios)} videos."}
        )
    if resolution not in spec.resolutions:
        raise ValidationError(
            {"resolution": f"{spec.label} makes {', '.join(spec.resolutions)} videos."}
        )
    return {"model": model, "aspect_ratio": aspect_ratio, "resolution": resolution}


def storyboard_create(
    *, owner, name, model=None, aspect_ratio="16:9", resolution="720p", visibility=None
) -> Storyboard:
    """Create an empty storyboard (version 1) with its defaults."""
    name = _clean_name(name)
    defaults = _clean_defaults(model or job_options.default_model(), aspect_ratio, resolution)
    if visibility is not None and visibility not in Visibility.values:
        raise ValidationError({"visibility": "Choose private or shared."})
    try:
        with transaction.atomic():
            storyboard = Storyboard.objects.create(
                owner=owner, name=name, visibility=visibility or Visibility.PRIVATE, **defaults
            )
            StoryboardVersion.objects.create(
                storyboard=storyboard,
                number=1,
                snapshot=snapshot(storyboard),
                author=owner,
                note="Created",
            )
    except IntegrityError:
        raise ValidationError({"name": f"You already have a storyboard named {name!r}."}) from None
    return storyboard


def storyboard_update(*, storyboard, author, base_version=None, **changes) -> Storyboard:
    """Change the name, defaults or visibility; keep the previous storyboard as a version."""
    allowed = {"name", "model", "aspect_ratio", "resolution", "visibility"}
    if unknown := set(changes) - allowed:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    values = {
        "name": storyboard.name,
        "model": storyboard.model,
        "aspect_ratio": storyboard.aspect_ratio,
        "resolution": storyboard.resolution,
        "visibility": storyboard.visibility,
        **{k: v for k, v in changes.items() if v is not None},
    }
    values["name"] = _clean_name(values["name"])
    if values["visibility"] not in Visibility.values:
        raise ValidationError({"visibility": "Choose private or shared."})
    if {"model", "aspect_ratio", "resolution"} & set(changes):
        _clean_defaults(values["model"], values["aspect_ratio"], values["resolution"])
    try:
        with transaction.atomic():
            Storyboard.objects.filter(pk=storyboard.pk).update(**values)
            for key, value in values.items():
                setattr(storyboard, key, value)
            _save_version(storyboard, author=author, note="Changed", base_version=base_version)
    except IntegrityError:
        raise ValidationError(
            {"name": f"You already have a storyboard named {values['name']!r}."}
        ) from None
    return storyboard


def storyboard_delete(*, storyboard) -> None:
    """Delete the storyboard, its shots, versions and cuts; the takes' jobs stay, unlinked."""
    with transaction.atomic():
        Storyboard.objects.filter(pk=storyboard.pk).delete()
        transaction.on_commit(partial(_delete_files, storyboard.pk))


def _delete_files(storyboard_id):
    try:
        storage.delete_storyboard_files(storyboard_id)
    except (OSError, storage.StorageUnavailable):
        logger.exception("Could not delete the files of storyboard %s", storyboard_id)


def storyboard_restore(*, storyboard, version, author) -> Storyboard:
    """Bring back an old version's name, defaults, shots and picks as the newest version.

    A shot's takes stay with it; a pick whose take has gone since is left empty.
    """
    data = version.snapshot
    if (
        Storyboard.objects.filter(owner_id=storyboard.owner_id, name=data["name"])
        .exclude(pk=storyboard.pk)
        .exists()
    ):
        raise ValidationError(
            f"Version {version.number} is named {data['name']!r}, which another storyboard of "
            "yours has now. Rename that one first."
        )
    with transaction.atomic():
        storyboard.name, storyboard.model = data["name"], data["model"]
        storyboard.aspect_ratio, storyboard.resolution = data["aspectRatio"], data["resolution"]
        storyboard.save(update_fields=["name", "model", "aspect_ratio", "resolution"])
        kept = {shot["id"] for shot in data["shots"]}
        storyboard.shots.exclude(pk__in=kept).delete()
        takes = set(Take.objects.filter(shot__storyboard=storyboard).values_list("pk", flat=True))
        for item in data["shots"]:
            Shot.objects.update_or_create(
                pk=item["id"],
                defaults={
                    "storyboard": storyboard,
                    "position": item["position"],
                    "prompt": item["prompt"],
                    "task": item["task"],
                    "duration_seconds": item["durationSeconds"],
                    "options": item["options"],
                    "notes": item["notes"],
                    "images": item["images"],
                    "picked_id": item["pickedTakeId"] if item["pickedTakeId"] in takes else None,
                    "trim_in": Decimal(item["trimIn"]),
                    "trim_out": None if item["trimOut"] is None else Decimal(item["trimOut"]),
                },
            )
        _save_version(storyboard, author=author, note=f"Restored version {version.number}")
    return storyboard


# --- Shots -----------------------------------------------------------------------------


def _clean_shot(storyboard, values, *, position):
    """Validate a shot's fields; return them cleaned. `position` is where it will stand."""
    prompt = str(values.get("prompt") or "").strip()
    if not prompt:
        raise ValidationError({"prompt": "Write what the shot shows."})
    try:
        job_options.check_prompt_length(prompt)
    except ValidationError as exc:
        raise ValidationError({"prompt": exc.messages}) from None
    task = values.get("task") or Shot.Task.TEXT
    if task not in Shot.Task.values:
        raise ValidationError({"task": f"Choose one of: {', '.join(Shot.Task.values)}."})
    if task in (Shot.Task.CONTINUE_FRAME, Shot.Task.CONTINUE_EXTEND) and position == 1:
        raise ValidationError({"task": "The first shot has no previous shot to continue from."})
    options = values.get("options") or {}
    if not isinstance(options, dict):
        raise ValidationError({"options": "Options must be an object."})
    allowed = set(job_options.OPTIONS) - {"aspect_ratio", "resolution", "duration_seconds"}
    if unknown := set(options) - allowed:
        raise ValidationError({"options": f"Unknown options: {', '.join(sorted(unknown))}."})
    duration = values.get("duration_seconds", 8)
    if isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= 60:
        raise ValidationError({"duration_seconds": "A shot lasts 1 to 60 seconds."})
    notes = str(values.get("notes") or "")
    if len(notes) > MAX_NOTES_LENGTH:
        raise ValidationError({"notes": f"Notes are at most {MAX_NOTES_LENGTH} characters."})
    cleaned = {
        "prompt": prompt,
        "task": task,
        "duration_seconds": duration,
        "options": options,
        "notes": notes,
    }
    # What the model says about this shot's task, options and length, before it is kept:
    # a shot that could never be generated is refused now, not at "Generate".
    model = options.get("model") or storyboard.model
    images = values.get("images") or ()
    try:
        catalog.validate_request(
            model,
            task=_job_task(task),
            options=_job_options(storyboard, cleaned),
            image_count=1 if task in (Shot.Task.FIRST_FRAME, Shot.Task.CONTINUE_FRAME) else 0,
            reference_count=max(1, len(images)) if task == Shot.Task.REFERENCES else 0,
        )
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"task": exc.messages}
        # The previous shot's take is chosen when the take is made, not now.
        errors.pop("parent", None)
        if errors:
            raise ValidationError(errors) from None
    return cleaned


def _store_images(storyboard, shot_id, frames) -> list[str]:
    names = []
    for index, frame in enumerate(frames):
        name = storage.relative_storyboard_file(
            storyboard.pk, f"shots/{shot_id}/image-{index}.{frame.extension}"
        )
        storage.store_bytes(name, frame.data)
        names.append(name)
    return names


def shot_add(*, storyboard, author, position=None, images=(), base_version=None, **values) -> Shot:
    """Add a shot (at the end, or at `position`, moving the later ones down)."""
    count = storyboard.shots.count()
    if count >= MAX_SHOTS:
        raise ValidationError(f"A storyboard holds at most {MAX_SHOTS} shots.")
    position = count + 1 if position is None else max(1, min(int(position), count + 1))
    cleaned = _clean_shot(storyboard, {**values, "images": images}, position=position)
    _check_images(cleaned["task"], images)
    shot = Shot(storyboard=storyboard, position=position, **cleaned)
    shot.images = _store_images(storyboard, shot.pk, images)
    try:
        with transaction.atomic():
            storyboard.shots.filter(position__gte=position).update(position=F("position") + 1)
            shot.save(force_insert=True)
            _save_version(
                storyboard, author=author, note=f"Added shot {position}", base_version=base_version
            )
    except BaseException:
        _delete_images(shot.images)  # never hides why the save failed
        raise
    return shot


def _delete_images(names):
    for name in names:
        try:
            storage.delete_stored(name)
        except (OSError, storage.StorageUnavailable):
            logger.exception("Could not delete the image %s", name)


def _check_images(task, images):
    if task == Shot.Task.FIRST_FRAME and len(images) != 1:
        raise ValidationError({"images": "A shot from a first frame needs one image."})
    if task == Shot.Task.REFERENCES and not images:
        raise ValidationError({"images": "A shot from reference images needs at least one."})
    if task not in (Shot.Task.FIRST_FRAME, Shot.Task.REFERENCES) and images:
        raise ValidationError(
            {"images": "Only a shot from a first frame or references takes images."}
        )


def shot_update(*, shot, author, images=None, base_version=None, **changes) -> Shot:
    """Change a shot's prompt, task, options, duration or notes (and images, when given)."""
    if unknown := set(changes) - set(SHOT_FIELDS):
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    storyboard = shot.storyboard
    values = {name: getattr(shot, name) for name in SHOT_FIELDS}
    values.update({k: v for k, v in changes.items() if v is not None})
    cleaned = _clean_shot(
        storyboard,
        {**values, "images": images if images is not None else shot.images},
        position=shot.position,
    )
    if images is not None:
        _check_images(cleaned["task"], images)
    elif cleaned["task"] in (Shot.Task.FIRST_FRAME, Shot.Task.REFERENCES) and not shot.images:
        _check_images(cleaned["task"], ())
    with transaction.atomic():
        for key, value in cleaned.items():
            setattr(shot, key, value)
        if images is not None:
            shot.images = _store_images(storyboard, shot.pk, images)
        shot.save(update_fields=[*cleaned, "images"])
        _save_version(
            storyboard,
            author=author,
            note=f"Changed shot {shot.position}",
            base_version=base_version,
        )
    return shot


def shot_delete(*, shot, author) -> None:
    """Remove a shot (its takes' jobs stay, unlinked) and close the gap it leaves."""
    storyboard = shot.storyboard
    with transaction.atomic():
        Shot.objects.filter(pk=shot.pk).delete()
        storyboard.shots.filter(position__gt=shot.position).update(position=F("position") - 1)
        _unchain_first(storyboard)
        _save_version(storyboard, author=author, note=f"Removed shot {shot.position}")


def shot_move(*, shot, author, to) -> Shot:
    """Move a shot to position `to` (1-based), shifting the ones between."""
    storyboard = shot.storyboard
    count = storyboard.shots.count()
    try:
        to = int(to)
    except (TypeError, ValueError):
        raise ValidationError({"position": "Send the position to move to, a number."}) from None
    if not 1 <= to <= count:
        raise ValidationError({"position": f"Choose a position from 1 to {count}."})
    old = shot.position
    if to == old:
        return shot
    with transaction.atomic():
        if to < old:
            storyboard.shots.filter(position__gte=to, position__lt=old).update(
                position=F("position") + 1
            )
        else:
            storyboard.shots.filter(position__gt=old, position__lte=to).update(
                position=F("position") - 1
            )
        Shot.objects.filter(pk=shot.pk).update(position=to)
        shot.position = to
        _unchain_first(storyboard)
        _save_version(storyboard, author=author, note=f"Moved shot {old} to {to}")
    return shot


def _unchain_first(storyboard):
    """A shot that now stands first has no previous shot: it starts from its prompt."""
    storyboard.shots.filter(
        position=1, task__in=[Shot.Task.CONTINUE_FRAME, Shot.Task.CONTINUE_EXTEND]
    ).update(task=Shot.Task.TEXT)


def ordered_shots(storyboard):
    return list(storyboard.shots.order_by("position", "created_at").select_related("picked__job"))


def previous_shot(shot):
    return (
        Shot.objects.filter(storyboard_id=shot.storyboard_id, position__lt=shot.position)
        .order_by("-position", "-created_at")
        .select_related("picked__job")
        .first()
    )


# --- Takes -----------------------------------------------------------------------------


def _job_task(task) -> Task:
    return {
        Shot.Task.TEXT: Task.TEXT,
        Shot.Task.FIRST_FRAME: Task.IMAGE,
        Shot.Task.REFERENCES: Task.REFERENCES,
        Shot.Task.CONTINUE_FRAME: Task.IMAGE,
        Shot.Task.CONTINUE_EXTEND: Task.EXTEND,
    }[task]


def _job_options(storyboard, shot) -> dict:
    """Return the job options of a shot: the storyboard's shape, the shot's length and options."""
    values = shot if isinstance(shot, dict) else {n: getattr(shot, n) for n in SHOT_FIELDS}
    extra = {k: v for k, v in values["options"].items() if k != "model" and v not in (None, "")}
    return {
        "aspect_ratio": storyboard.aspect_ratio,
        "resolution": storyboard.resolution,
        "duration_seconds": values["duration_seconds"],
        **extra,
    }


def shot_model(shot) -> str:
    return shot.options.get("model") or shot.storyboard.model


def _estimate(storyboard, shot) -> Decimal:
    """Return what a take of the shot would cost; 0 for a model the catalog no longer has
    (making one is then refused with a sentence, by job_create's check of the model)."""
    try:
        return pricing.job_estimate(shot_model(shot), _job_options(storyboard, shot))
    except (KeyError, catalog.UnknownPrice):
        return Decimal(0)


def _picked_video_of_previous(shot):
    """Return the previous shot's picked take's job, or raise ValidationError saying why not."""
    before = previous_shot(shot)
    if before is None:
        raise ValidationError("The first shot has no previous shot to continue from.")
    if before.picked is None:
        raise ValidationError(
            f"Shot {shot.position} continues from shot {before.position}, which has no "
            "picked take yet. Pick one first."
        )
    job = before.picked.job
    if job.status != JobStatus.COMPLETED:
        raise ValidationError(f"Shot {before.position}'s picked take has no video.")
    return job


def _last_frame(job) -> Frame:
    """Return the last frame of a job's video as a PNG Frame."""
    try:
        with storage.local_copy(storage.relative_output(job.pk)) as path:
            data = assembly.last_frame(path)
    except FileNotFoundError:
        raise ValidationError(
            "The previous shot's picked take has no video file any more."
        ) from None
    except assembly.AssemblyError:
        raise ValidationError(
            "The previous shot's picked take could not be read; pick another take."
        ) from None
    with Image.open(BytesIO(data)) as image:
        width, height = image.size
    return Frame(data=data, mime_type="image/png", extension="png", width=width, height=height)


def _stored_frames(shot) -> list[Frame]:
    frames = []
    for name in shot.images:
        unreadable = ValidationError(
            f"Shot {shot.position}'s image is missing or unreadable; upload it again."
        )
        try:
            data = storage.read_bytes(name)
            with Image.open(BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
        except (FileNotFoundError, OSError, Image.DecompressionBombError):
            raise unreadable from None
        mime, extension = FORMATS.get(kind, ("image/png", "png"))
        frames.append(
            Frame(data=data, mime_type=mime, extension=extension, width=width, height=height)
        )
    return frames


def take_spec(shot) -> dict:
    """Return the job_create arguments that generate a take of this shot now.

    Raise ValidationError (a sentence) when the shot cannot run yet.
    """
    storyboard = shot.storyboard
    spec = {
        "prompt_text": shot.prompt,
        "model": shot_model(shot),
        "options": _job_options(storyboard, shot),
        "task": _job_task(shot.task),
        "prompt_id": shot.pk,
    }
    if shot.task == Shot.Task.FIRST_FRAME:
        spec["image"] = _stored_frames(shot)[0]
    elif shot.task == Shot.Task.REFERENCES:
        spec["reference_images"] = _stored_frames(shot)
    elif shot.task == Shot.Task.CONTINUE_FRAME:
        spec["image"] = _last_frame(_picked_video_of_previous(shot))
    elif shot.task == Shot.Task.CONTINUE_EXTEND:
        spec["parent"] = _picked_video_of_previous(shot)
    return spec


def _add_take(shot, job, user) -> Take:
    Shot.objects.select_for_update().filter(pk=shot.pk).first()
    number = (shot.takes.aggregate(n=Max("number"))["n"] or 0) + 1
    return Take.objects.create(shot=shot, job=job, number=number, created_by=user)


def take_generate(*, shot, user) -> Take:
    """Generate one take of the shot (a job), within the person's budgets and limits."""
    spec = take_spec(shot)
    with transaction.atomic():
        job = job_services.job_create(owner=user, **spec)
        take = _add_take(shot, job, user)
    return take


def take_pick(*, shot, take, author) -> Shot:
    """Pick the take the cut uses; only a completed take of this shot can be picked."""
    if take is None:
        with transaction.atomic():
            Shot.objects.filter(pk=shot.pk).update(picked=None)
            shot.picked = None
            _save_version(shot.storyboard, author=author, note=f"Unpicked shot {shot.position}")
        return shot
    if take.shot_id != shot.pk:
        raise ValidationError("That take belongs to another shot.")
    # The row as it is now, not as the caller read it: the take may have finished since.
    status = (
        VideoCreationJob.objects.filter(pk=take.job_id).values_list("status", flat=True).first()
    )
    if status != JobStatus.COMPLETED:
        state = "failed" if status == JobStatus.FAILED else "is not finished"
        raise ValidationError(f"Take {take.number} {state}; only a completed take can be picked.")
    with transaction.atomic():
        Shot.objects.filter(pk=shot.pk).update(picked=take, trim_in=0, trim_out=None)
        shot.picked, shot.trim_in, shot.trim_out = take, Decimal(0), None
        _save_version(
            shot.storyboard,
            author=author,
            note=f"Picked take {take.number} of shot {shot.position}",
        )
    return shot


def take_duration(take) -> float | None:
    video = (take.job.metadata or {}).get("video") or {}
    return video.get("duration_seconds")


def _seconds(value, field):
    if value in (None, ""):
        return None
    try:
        seconds = Decimal(str(value)).quantize(Decimal("0.001"))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: "Write the time in seconds, like 1.5."}) from None
    if not seconds.is_finite() or seconds < 0 or seconds > MAX_SECONDS:
        raise ValidationError({field: f"Write a time from 0 to {MAX_SECONDS} seconds."})
    return seconds


def shot_set_trim(*, shot, author, trim_in=None, trim_out=None) -> Shot:
    """Set where the picked take is cut in and out (seconds); None out is its end."""
    if shot.picked_id is None:
        raise ValidationError("Pick a take before trimming it.")
    picked = Take.objects.select_related("job").get(pk=shot.picked_id)
    start = _seconds(trim_in, "trim_in") or Decimal(0)
    end = _seconds(trim_out, "trim_out")
    length = take_duration(picked)
    if end is not None and end <= start:
        raise ValidationError({"trim_out": "The out point must come after the in point."})
    if length is not None:
        if start >= Decimal(str(length)):
            raise ValidationError(
                {"trim_in": f"The in point is past the take's end ({length:.1f} s)."}
            )
        if end is not None and end > Decimal(str(length)) + Decimal("0.05"):
            raise ValidationError(
                {"trim_out": f"The out point is past the take's end ({length:.1f} s)."}
            )
    with transaction.atomic():
        Shot.objects.filter(pk=shot.pk).update(trim_in=start, trim_out=end)
        shot.trim_in, shot.trim_out = start, end
        _save_version(shot.storyboard, author=author, note=f"Trimmed shot {shot.position}")
    return shot


# --- Generate all ----------------------------------------------------------------------


@dataclass
class RunPlan:
    """What "Generate all" would do: shots to run now, shots that wait, and the cost."""

    now: list
    waiting: list  # (shot, reason)
    later: list  # chained shots that run when the previous take completes
    cost: Decimal
    shot_count: int = 0

    @property
    def count(self):
        return len(self.now) + len(self.later)


def _running_take(shot_takes):
    return any(not take.job.is_finished for take in shot_takes)


def generate_all_plan(storyboard, *, chain=False) -> RunPlan:
    """Plan a run of every shot without a picked take (and no take still running).

    A shot that continues from the previous one runs now when that shot has a pick;
    otherwise it waits for the pick, or (chain) runs once the previous take completes.
    """
    shots = ordered_shots(storyboard)
    takes = {}
    for take in Take.objects.filter(shot__storyboard=storyboard).select_related("job"):
        takes.setdefault(take.shot_id, []).append(take)
    now, waiting, later = [], [], []
    will_have_take = set()
    previous = None
    for shot in shots:
        if shot.picked_id is None and not _running_take(takes.get(shot.pk, [])):
            if not shot.continues or previous.picked_id is not None:
                now.append(shot)
                will_have_take.add(shot.pk)
            elif chain and (
                previous.pk in will_have_take or _running_take(takes.get(previous.pk, []))
            ):
                later.append(shot)
                will_have_take.add(shot.pk)
            else:
                waiting.append((shot, f"waits for a pick in shot {previous.position}"))
        previous = shot
    cost = sum((_estimate(storyboard, s) for s in now + later), Decimal(0))
    return RunPlan(now=now, waiting=waiting, later=later, cost=cost, shot_count=len(shots))


def storyboard_generate_all(*, storyboard, user, chain=False):
    """Run the plan: one batch of the shots that can run now; mark the chained ones waiting.

    The budget check covers the whole run, chained takes included. Return (batch, plan);
    the batch is None when only chained shots remain.
    """
    plan = generate_all_plan(storyboard, chain=chain)
    if not plan.count:
        if not storyboard.shots.exists():
            raise ValidationError("The storyboard has no shots yet.")
        raise ValidationError("Every shot has a picked or running take, or waits for a pick.")
    offered = catalog.offered()
    for shot in plan.now + plan.later:
        if shot_model(shot) not in offered:
            raise ValidationError(
                f"Shot {shot.position}'s model, {shot_model(shot)}, is no longer offered. "
                "Choose another in the storyboard's settings."
            )
    specs = [take_spec(shot) for shot in plan.now]
    shots_by_id = {shot.pk: shot for shot in plan.now}
    batch = None
    with transaction.atomic():
        pricing.check_budgets(owner=user, amount=plan.cost)
        if specs:
            label = f"{storyboard.name} · {len(specs)} take{'s' if len(specs) != 1 else ''}"
            batch = job_services.batch_create(owner=user, label=label, jobs=specs)
            for job in batch.jobs.all():
                _add_take(shots_by_id[job.prompt_id], job, user)
        if plan.later:
            Shot.objects.filter(pk__in=[s.pk for s in plan.later]).update(waiting_for_previous=True)
            Storyboard.objects.filter(pk=storyboard.pk).update(chaining=True)
            storyboard.chaining = True
    return batch, plan


def take_job_ended(job_id) -> None:
    """React to a take's job ending: fire take.completed, and move a chained run on.

    In a chain, the completed take is picked when its shot has none, and the next shot
    that waits for it gets its take; a failed take stops the chain there.
    """
    take = Take.objects.filter(job_id=job_id).select_related("job", "shot__storyboard").first()
    if take is None:
        return
    shot, storyboard, job = take.shot, take.shot.storyboard, take.job
    if job.status == JobStatus.COMPLETED:
        with transaction.atomic():
            webhooks.event_fire(
                event=Event.TAKE_COMPLETED,
                key=f"{Event.TAKE_COMPLETED}:{take.pk}",
                data=take_data(take),
                owner_id=storyboard.owner_id,
            )
    if not storyboard.chaining:
        return
    following = (
        Shot.objects.filter(storyboard=storyboard, position__gt=shot.position)
        .order_by("position")
        .first()
    )
    if job.status != JobStatus.COMPLETED:
        _chain_stop(storyboard)
        return
    with transaction.atomic():
        if Shot.objects.filter(pk=shot.pk, picked__isnull=True).update(picked=take):
            _save_version(
                storyboard,
                author=take.created_by,
                note=f"Picked take {take.number} of shot {shot.position} (chained)",
            )
    if following is None or not following.waiting_for_previous:
        if not Shot.objects.filter(storyboard=storyboard, waiting_for_previous=True).exists():
            Storyboard.objects.filter(pk=storyboard.pk).update(chaining=False)
        return
    if not Shot.objects.filter(pk=following.pk, waiting_for_previous=True).update(
        waiting_for_previous=False
    ):
        return  # another process moved the chain on
    following.refresh_from_db()
    user = take.created_by or storyboard.owner
    try:
        take_generate(shot=following, user=user)
    except (ValidationError, pricing.BudgetExceeded) as exc:
        logger.info(
            "The chain of storyboard %s stopped at shot %s: %s",
            storyboard.pk,
            following.position,
            exc,
        )
        _chain_stop(storyboard)


def _chain_stop(storyboard):
    Shot.objects.filter(storyboard=storyboard).update(waiting_for_previous=False)
    Storyboard.objects.filter(pk=storyboard.pk).update(chaining=False)


def take_data(take) -> dict:
    job = take.job
    return {
        "id": take.pk,
        "number": take.number,
        "shotId": take.shot_id,
        "storyboardId": take.shot.storyboard_id,
        "job": webhooks.job_data(job),
    }


# --- Totals ----------------------------------------------------------------------------


def storyboard_totals(storyboard, shots, takes) -> dict:
    """Return the storyboard's running time (picked, trimmed takes), spend and cost to go,
    from its shots and all its takes with their jobs, as the board and the API read them."""
    seconds = Decimal(0)
    to_go = Decimal(0)
    for shot in shots:
        if shot.picked is not None:
            length = take_duration(shot.picked) or shot.duration_seconds
            end = shot.trim_out if shot.trim_out is not None else Decimal(str(length))
            seconds += max(Decimal(0), end - shot.trim_in)
        else:
            seconds += shot.duration_seconds
            to_go += _estimate(storyboard, shot)
    costs = (take.job.actual_cost_usd for take in takes)
    spent = sum((cost for cost in costs if cost is not None), Decimal(0))
    return {"seconds": seconds, "spent": spent, "to_go": to_go}


# --- Cuts ------------------------------------------------------------------------------


def cut_segments(storyboard, shots=None) -> list[dict]:
    """Return what a cut of the storyboard now would be made of, or raise ValidationError."""
    shots = ordered_shots(storyboard) if shots is None else shots
    if not shots:
        raise ValidationError("The storyboard has no shots yet.")
    segments = []
    for shot in shots:
        take = shot.picked
        if take is None:
            raise ValidationError(f"Shot {shot.position} has no picked take.")
        job = take.job
        if job.status != JobStatus.COMPLETED:
            raise ValidationError(f"Shot {shot.position}'s picked take has no video.")
        length = take_duration(take)
        end = shot.trim_out if shot.trim_out is not None else None
        if length is not None and end is not None and end > Decimal(str(length)) + Decimal("0.05"):
            raise ValidationError(
                f"Shot {shot.position}'s out point is past its take's end ({length:.1f} s)."
            )
        segments.append(
            {
                "shot": shot.position,
                "shotId": shot.pk,
                "takeId": take.pk,
                "take": take.number,
                "jobId": job.pk,
                "in": str(shot.trim_in),
                "out": None if end is None else str(end),
                "prompt": job.prompt_text,
                "seed": (job.options or {}).get("seed"),
                "model": job.model,
                "costUsd": str(
                    job.actual_cost_usd
                    if job.actual_cost_usd is not None
                    else job.estimated_cost_usd
                ),
            }
        )
    return segments


def cut_signature(segments) -> str:
    """Return a digest of the picks and trims a cut is made of."""
    key = [(s["shotId"], s["jobId"], s["in"], s["out"]) for s in segments]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


def current_signature(storyboard, shots=None) -> str | None:
    try:
        return cut_signature(cut_segments(storyboard, shots))
    except ValidationError:
        return None


def latest_cut(storyboard):
    """Return the newest ready cut (the one that plays) and the newest cut of any state."""
    cuts = list(storyboard.cuts.order_by("-created_at")[:20])
    ready = next((cut for cut in cuts if cut.status == Cut.Status.READY), None)
    return ready, (cuts[0] if cuts else None)


# What the board shows of the storyboard's own row, read again with its version.
BOARD_FIELDS = ("name", "model", "aspect_ratio", "resolution", "visibility", "version", "chaining")


def board_version(storyboard) -> str:
    """Return a token that changes whenever the board would show something new.

    The board shows the storyboard (every edit of it, its shots, picks and trims bumps its
    version; a chained run marks shots waiting without one), its takes' jobs and its cuts:
    the token digests each of those rows' write times, not only the newest (a write stamped
    before another may commit after it). The storyboard's row is read again here, so a
    board rendered after this call shows its state as of the token, or newer: a change in
    between shows on the next poll. Three queries.
    """
    waiting = Shot.objects.filter(storyboard=OuterRef("pk"), waiting_for_previous=True)
    row = (
        Storyboard.objects.filter(pk=storyboard.pk)
        .annotate(
            waiting=Subquery(waiting.values("storyboard").annotate(n=Count("pk")).values("n"))
        )
        .values(*BOARD_FIELDS, "waiting")
        .get()
    )
    waiting = row.pop("waiting")
    for name, value in row.items():
        setattr(storyboard, name, value)
    takes = Take.objects.filter(shot__storyboard=storyboard).order_by()
    jobs = takes.values_list("job_id", "job__updated_at")
    cuts = storyboard.cuts.order_by().values_list("pk", "updated_at")
    state = (row, waiting, sorted(jobs), sorted(cuts))
    return hashlib.sha256(repr(state).encode()).hexdigest()[:16]


def cut_request(*, storyboard, user) -> Cut:
    """Queue an assembly of the picked takes.

    One already under way is returned instead, and so is the ready cut when no pick or
    trim changed since it was made.
    """
    segments = cut_segments(storyboard)
    signature = cut_signature(segments)
    running = storyboard.cuts.filter(status__in=[Cut.Status.QUEUED, Cut.Status.ASSEMBLING]).first()
    if running is not None:
        return running
    ready, _newest = latest_cut(storyboard)
    if ready is not None and ready.signature == signature:
        return ready  # nothing changed since: the cut that plays is this one
    try:
        with transaction.atomic():
            cut = Cut.objects.create(
                storyboard=storyboard, signature=signature, edit_list=segments, created_by=user
            )
            transaction.on_commit(partial(async_task, CUT_TASK, cut.pk, group="cuts"))
    except IntegrityError:
        # Another request queued one between the look and the insert: that is the cut.
        return storyboard.cuts.get(status__in=[Cut.Status.QUEUED, Cut.Status.ASSEMBLING])
    return cut


def _cut_fail(cut_id, message, *, rows=None) -> bool:
    """Fail the cut if it is still queued or assembling (and among rows, when given)."""
    rows = (
        Cut.objects.filter(status__in=[Cut.Status.QUEUED, Cut.Status.ASSEMBLING])
        if rows is None
        else rows
    )
    now = timezone.now()
    return bool(
        rows.filter(pk=cut_id).update(
            status=Cut.Status.FAILED, error=message, completed_at=now, updated_at=now
        )
    )


def cut_assemble(cut_id) -> bool:
    """Assemble a queued cut (the worker's task): copy the takes locally, join, store.

    1. Take the cut (queued to assembling, a conditional UPDATE: a second delivery stops).
    2. Check each segment's take still has its video; fetch local copies.
    3. Join them (drafts.storyboards.assembly), reporting progress on the row.
    4. Store the video, its poster and its edit list under the storyboard's folder.
    5. Mark it ready (or failed with a sentence), and fire storyboard.cut_ready.
    """
    if not Cut.objects.filter(pk=cut_id, status=Cut.Status.QUEUED).update(
        status=Cut.Status.ASSEMBLING,
        attempts=F("attempts") + 1,
        progress=0,
        updated_at=timezone.now(),
    ):
        return False
    cut = Cut.objects.select_related("storyboard").get(pk=cut_id)
    try:
        return _assemble(cut)
    except assembly.AssemblyError as exc:
        _cut_fail(cut_id, str(exc))
    except storage.StorageUnavailable as exc:
        _cut_fail(cut_id, exc.message)
    except OSError as exc:
        logger.exception("Assembling cut %s failed", cut_id)
        _cut_fail(cut_id, DISK_FULL if exc.errno in (errno.ENOSPC, errno.EDQUOT) else CUT_TROUBLE)
    except Exception:
        logger.exception("Assembling cut %s failed", cut_id)
        _cut_fail(cut_id, CUT_TROUBLE)
    return False


def _assemble(cut) -> bool:
    storyboard = cut.storyboard
    segments = cut.edit_list
    jobs = {
        job.pk: job
        for job in VideoCreationJob.objects.filter(pk__in=[s["jobId"] for s in segments])
    }
    for segment in segments:
        job = jobs.get(segment["jobId"])
        if job is None or job.status != JobStatus.COMPLETED:
            _cut_fail(
                cut.pk,
                f"Shot {segment['shot']}'s take was deleted; pick another take and assemble again.",
            )
            return False
    profile = _profile(storyboard)
    name = storage.relative_storyboard_file(storyboard.pk, f"cuts/{cut.pk}/cut.mp4")
    poster = storage.relative_storyboard_file(storyboard.pk, f"cuts/{cut.pk}/poster.jpg")
    edit_name = storage.relative_storyboard_file(storyboard.pk, f"cuts/{cut.pk}/edit-list.json")
    scratch = storage.scratch_dir()
    result = None

    def alive():  # the stall sweep judges an assembly by its last write
        Cut.objects.filter(pk=cut.pk, status=Cut.Status.ASSEMBLING).update(
            updated_at=timezone.now()
        )

    outputs = [storage.relative_output(s["jobId"]) for s in segments]
    with _local_copies(outputs, copied=alive) as paths:
        if paths is None:
            _cut_fail(cut.pk, "A take's video is missing; pick another take and assemble again.")
            return False
        parts = [
            assembly.Segment(
                path=path,
                trim_in=float(s["in"]),
                trim_out=None if s["out"] is None else float(s["out"]),
            )
            for path, s in zip(paths, segments, strict=True)
        ]
        last = [0]

        def progress(fraction):
            percent = int(fraction * 90)
            if percent >= last[0] + 5:
                last[0] = percent
                Cut.objects.filter(pk=cut.pk, status=Cut.Status.ASSEMBLING).update(
                    progress=percent, updated_at=timezone.now()
                )

        made = storage.temp_file(scratch, suffix=".mp4")
        try:
            result = assembly.assemble(parts, made, profile=profile, progress=progress)
            size = made.stat().st_size
            storage.store_made(poster, lambda dest: media.write_poster(made, dest))
            storage.store(name, made)  # last: on local disk, this moves the file
        finally:
            made.unlink(missing_ok=True)
    edit_list = [
        {**s, "start": round(start, 3), "end": round(end, 3)}
        for s, (start, end) in zip(segments, result.segments, strict=True)
    ]
    storage.store_json(
        edit_name,
        {
            "storyboard": storyboard.pk,
            "cut": cut.pk,
            "durationSeconds": round(result.duration, 3),
            "streamCopy": result.stream_copy,
            "segments": edit_list,
        },
    )
    now = timezone.now()
    with transaction.atomic():
        changed = Cut.objects.filter(pk=cut.pk, status=Cut.Status.ASSEMBLING).update(
            status=Cut.Status.READY,
            progress=100,
            edit_list=edit_list,
            duration_seconds=round(result.duration, 3),
            stream_copy=result.stream_copy,
            stored_bytes=size,
            completed_at=now,
            updated_at=now,
        )
        if not changed:
            return False
        CutSegment.objects.bulk_create(
            CutSegment(
                cut=cut,
                position=index,
                job_id=s["jobId"],
                trim_in=Decimal(s["in"]),
                trim_out=Decimal(str(s["end"] - s["start"])) + Decimal(s["in"]),
            )
            for index, s in enumerate(edit_list, start=1)
        )
        cut.refresh_from_db()
        webhooks.event_fire(
            event=Event.STORYBOARD_CUT_READY,
            key=f"{Event.STORYBOARD_CUT_READY}:{cut.pk}",
            data=cut_data(cut),
            owner_id=storyboard.owner_id,
        )
    return True


@contextlib.contextmanager
def _local_copies(names, *, copied=lambda: None):
    """Yield local paths of several stored files at once, or None if one is missing;
    copied() is called after each file (a bucket's may take a while)."""
    with contextlib.ExitStack() as stack:
        try:
            paths = []
            for name in names:
                paths.append(stack.enter_context(storage.local_copy(name)))
                copied()
        except FileNotFoundError:
            paths = None
        yield paths


def _profile(storyboard) -> assembly.Profile:
    """Return the cut's size for a re-encode: the storyboard's aspect ratio and resolution."""
    lines = {"360p": 360, "720p": 720, "1080p": 1080, "4k": 2160}
    short = lines.get(storyboard.resolution, 720)
    long = short * 16 // 9
    width, height = (long, short) if storyboard.aspect_ratio != "9:16" else (short, long)
    return assembly.Profile(width=width - width % 2, height=height - height % 2, fps=24)


def cut_data(cut) -> dict:
    return {
        "id": cut.pk,
        "storyboardId": cut.storyboard_id,
        "status": cut.status,
        "durationSeconds": cut.duration_seconds,
        "url": webhooks.link(cut.get_absolute_url()),
        "segments": cut.edit_list,
    }


def cuts_fail(*, cuts, message) -> int:
    """Fail the given cuts that are still queued or assembling (the admin's action)."""
    return sum(_cut_fail(cut.pk, message) for cut in cuts)


def cuts_recover(*, now=None) -> int:
    """Take back assemblies a dead worker left: queue them again once, then fail them."""
    now = now or timezone.now()
    # Each UPDATE asks again whether the cut is stalled: a worker's progress between the
    # read and the write keeps its assembly.
    stalled = Cut.objects.filter(
        status=Cut.Status.ASSEMBLING,
        updated_at__lt=now - timezone.timedelta(seconds=CUT_STALL_SECONDS),
    )
    moved = 0
    for cut in stalled:
        if cut.attempts >= CUT_MAX_ATTEMPTS:
            moved += _cut_fail(cut.pk, "The cut's assembly stopped twice; try again.", rows=stalled)
        elif stalled.filter(pk=cut.pk).update(status=Cut.Status.QUEUED, updated_at=timezone.now()):
            async_task(CUT_TASK, cut.pk, group="cuts")
            moved += 1
    return moved
