"""The video models the studio offers, what each accepts and costs, as data.

The defaults live in catalog.json beside this module; the file named by
VEO_CATALOG_FILE replaces or extends them model by model (a model set to null is
removed), so a new model, a retirement or a price change is an edit to data.

Each model names the provider families that serve it (`providers`), the API it speaks
(`api`: "interactions" for Gemini Omni, "predict" for Veo's predictLongRunning), the
tasks it takes with their limits, which optional knobs exist, and its price: per second
of video, or per million video tokens with the tokens a second costs.
"""

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils import timezone

from .options import OPTIONS, clean_values
from .veo.base import FROM_VIDEO, Task

CATALOG_FILE = Path(__file__).with_name("catalog.json")
APIS = ("interactions", "predict")
FAMILIES = ("gemini", "vertex")
# A retiring model carries a warning this many days before its date.
RETIRING_WARNING_DAYS = 30
# Veo on Vertex takes a seed as a uint32.
SEED_MAX = 2**32 - 1
# Money is stored with four decimal places.
CENT_HUNDREDTHS = Decimal("0.0001")
MILLION = Decimal(1_000_000)

TASK_NAMES = {
    Task.TEXT: "text to video",
    Task.IMAGE: "image to video",
    Task.REFERENCES: "reference images to video",
    Task.EXTEND: "extend a video",
    Task.EDIT: "edit a video",
    Task.UPSCALE: "upscale a video",
}
VERBS = {Task.EXTEND: "extend", Task.EDIT: "edit", Task.UPSCALE: "upscale"}
FAMILY_NAMES = {"gemini": "the Gemini API", "vertex": "Vertex AI"}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    label: str
    providers: tuple[str, ...]
    api: str
    # The model's own shape; a task's limits may narrow it (ModelSpec.limits).
    aspect_ratios: tuple[str, ...]
    resolutions: tuple[str, ...]
    durations: tuple[int, ...]
    durations_by_resolution: dict = field(default_factory=dict)
    # Task -> limits: images, durations, resolutions, aspect_ratios, chain_max_seconds,
    # seconds_added (what one extension adds when it is fixed), source_seconds [min, max].
    tasks: dict = field(default_factory=dict)
    seed: bool = False
    negative_prompt: bool = False
    audio_toggle: bool = False
    sample_counts: tuple[int, ...] = (1,)
    enhance_prompt: bool = False
    person_generation: dict = field(default_factory=dict)
    price_per_second: dict = field(default_factory=dict)
    price_per_million_tokens: str = ""
    tokens_per_second: dict = field(default_factory=dict)
    price_date: str = ""
    price_source: str = ""
    retired: str = ""
    retiring: str = ""
    source: str = ""

    @property
    def provider(self):
        """The first family that serves the model (the catalog before tasks had one)."""
        return self.providers[0]

    @property
    def image_input(self):
        return Task.IMAGE in self.tasks

    @property
    def last_frame(self):
        return self.max_images(Task.IMAGE) >= 2

    @property
    def reference_images(self):
        return self.max_images(Task.REFERENCES)

    @property
    def samples_per_request(self):
        return self.sample_counts

    @property
    def prices_per_token(self):
        return bool(self.price_per_million_tokens)

    def offers(self, task):
        return task in self.tasks

    def limits(self, task) -> dict:
        return self.tasks.get(task, {})

    def max_images(self, task) -> int:
        return int(self.limits(task).get("images", 0))

    def task_aspect_ratios(self, task=Task.TEXT):
        return tuple(self.limits(task).get("aspect_ratios", self.aspect_ratios))

    def task_resolutions(self, task=Task.TEXT):
        return tuple(self.limits(task).get("resolutions", self.resolutions))

    def allowed_durations(self, resolution, task=Task.TEXT):
        if "durations" in self.limits(task):
            return tuple(self.limits(task)["durations"])
        return tuple(self.durations_by_resolution.get(resolution, self.durations))

    def allowed_person_generation(self, *, with_image):
        return tuple(self.person_generation.get("image" if with_image else "text", ()))

    def price(self, resolution) -> Decimal | None:
        """Return the USD price per second at this resolution, or None if unknown."""
        if self.prices_per_token:
            tokens = self.tokens_per_second.get(resolution)
            if tokens is None:
                return None
            return Decimal(tokens) * Decimal(self.price_per_million_tokens) / MILLION
        raw = self.price_per_second.get(resolution)
        return None if raw is None else Decimal(str(raw))

    def retired_on(self, today=None) -> str:
        """Return the date the model was retired, or "" while Google still serves it."""
        if self.retired:
            return self.retired
        if self.retiring and date.fromisoformat(self.retiring) <= (today or timezone.localdate()):
            return self.retiring
        return ""


class UnknownPrice(ValidationError):
    """The catalog has no price for this model and resolution: never submit blind."""


def models() -> dict[str, ModelSpec]:
    """Return every model in the catalog (built-in plus override file) by name."""
    return _load(settings.VEO_CATALOG_FILE or "")


def family(provider=None) -> str:
    """Return the model family of a VEO_PROVIDER value: the emulator speaks Gemini's."""
    provider = settings.VEO_PROVIDER if provider is None else provider
    return "vertex" if provider == "vertex" else "gemini"


def offered(provider=None, *, today=None) -> dict[str, ModelSpec]:
    """Return the models a person may choose for this provider family, retired ones left out."""
    wanted = family(provider)
    return {n: m for n, m in models().items() if wanted in m.providers and not m.retired_on(today)}


def api_of(model) -> str:
    """Return the API the model speaks: "interactions" or "predict".

    A model the catalog no longer lists (an old job's) is taken to be a Veo model.
    """
    spec = models().get(model)
    return spec.api if spec else "predict"


def tasks_of(model) -> dict[Task, dict]:
    """Return the tasks the model takes, in the catalog's order, with their limits."""
    spec = models().get(model)
    return dict(spec.tasks) if spec else {}


def retirement_warning(model, today=None) -> str | None:
    """Return a sentence when the model retires within RETIRING_WARNING_DAYS, else None."""
    spec = models().get(model)
    if spec is None or not spec.retiring or spec.retired:
        return None
    on = date.fromisoformat(spec.retiring)
    days = (on - (today or timezone.localdate())).days
    if not 0 < days <= RETIRING_WARNING_DAYS:
        return None
    when = "tomorrow" if days == 1 else f"in {days} days"
    return (
        f"{spec.label} retires on {on:%Y-%m-%d} ({when}): Google stops serving it then, "
        "so choose another model for new work."
    )


def usable_models(provider=None) -> list[str]:
    return list(offered(provider))


def model_setting_problem() -> str | None:
    """Return the one-line configuration error when VEO_MODEL cannot be used, else None."""
    model = settings.VEO_MODEL
    usable = ", ".join(usable_models()) or "none"
    spec = models().get(model)
    where = FAMILY_NAMES[family()]
    if spec is None:
        return f"VEO_MODEL={model} is not a model the catalog knows; set VEO_MODEL to one of: {usable}."
    if spec.retired_on():
        return (
            f"VEO_MODEL={model} was retired by Google on {spec.retired_on()}; "
            f"set VEO_MODEL to one of: {usable}."
        )
    if family() not in spec.providers:
        return f"VEO_MODEL={model} is not served by {where}; set VEO_MODEL to one of: {usable}."
    return None


@cache
def _load(override_path) -> dict[str, ModelSpec]:
    entries = json.loads(CATALOG_FILE.read_text())["models"]
    if override_path:
        try:
            override = json.loads(Path(override_path).read_text())["models"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"VEO_CATALOG_FILE {override_path} is not a readable catalog: {exc}"
            ) from None
        for name, entry in override.items():
            if entry is None:
                entries.pop(name, None)
            else:
                entries[name] = {**entries.get(name, {}), **entry}
    try:
        return {name: _spec(name, entry) for name, entry in entries.items()}
    except KeyError as exc:
        raise ImproperlyConfigured(f"A model in the catalog lacks the key {exc}.") from None
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise ImproperlyConfigured(f"The model catalog has a malformed entry: {exc}") from None


def _spec(name, entry):
    providers = tuple(entry["providers"] if "providers" in entry else [entry["provider"]])
    api = entry.get("api", "predict")
    if api not in APIS or not providers or set(providers) - set(FAMILIES):
        raise ValueError(f"{name} names an unknown api or provider")
    spec = ModelSpec(
        name=name,
        label=entry.get("label", name),
        providers=providers,
        api=api,
        aspect_ratios=tuple(entry["aspect_ratios"]),
        resolutions=tuple(entry["resolutions"]),
        durations=tuple(int(d) for d in entry["durations"]),
        durations_by_resolution={
            k: tuple(int(d) for d in v) for k, v in entry.get("durations_by_resolution", {}).items()
        },
        tasks=_tasks(entry),
        seed=bool(entry.get("seed", False)),
        negative_prompt=bool(entry.get("negative_prompt", True)),
        audio_toggle=bool(entry.get("audio_toggle", entry.get("audio") == "optional")),
        sample_counts=tuple(
            int(n) for n in entry.get("sample_counts", entry.get("samples_per_request", [1]))
        ),
        enhance_prompt=bool(entry.get("enhance_prompt", False)),
        person_generation=entry.get("person_generation", {}),
        price_per_second={k: str(v) for k, v in entry.get("price_per_second", {}).items()},
        price_per_million_tokens=str(entry.get("price_per_million_tokens") or ""),
        tokens_per_second={k: int(v) for k, v in entry.get("tokens_per_second", {}).items()},
        price_date=entry.get("price_date", ""),
        price_source=entry.get("price_source", ""),
        retired=entry.get("retired") or "",
        retiring=entry.get("retiring") or "",
        source=entry.get("source", ""),
    )
    for when in (spec.retired, spec.retiring):
        if when:
            date.fromisoformat(when)
    prices = [*spec.price_per_second.values(), spec.price_per_million_tokens or "0"]
    if any(Decimal(price) < 0 for price in prices) or any(
        n < 0 for n in spec.tokens_per_second.values()
    ):
        raise ValueError(f"{name} has a negative price")
    return spec


def _tasks(entry):
    """Return the entry's tasks, or those an entry written before tasks existed implies."""
    if "tasks" in entry:
        return {Task(task): dict(limits or {}) for task, limits in entry["tasks"].items()}
    tasks = {Task.TEXT: {}}
    if entry.get("image_input"):
        tasks[Task.IMAGE] = {"images": 2 if entry.get("last_frame") else 1}
    if entry.get("reference_images"):
        tasks[Task.REFERENCES] = {"images": int(entry["reference_images"])}
    return tasks


# --- Validation -----------------------------------------------------------------------


def validate_options(model_name, options, *, has_image=False, has_last_frame=False):
    """Raise ValidationError, keyed by field, naming the allowed values, for bad options.

    The task is text to video, or image to video when a frame comes with it.
    """
    validate_request(
        model_name,
        task=Task.IMAGE if has_image or has_last_frame else Task.TEXT,
        options=options,
        image_count=int(has_image) + int(has_last_frame),
        has_last_frame=has_last_frame,
    )


def validate_request(
    model_name,
    *,
    task,
    options,
    image_count=0,
    has_last_frame=False,
    reference_count=0,
    parent=None,
):
    """Raise ValidationError keyed by field when the model cannot do this request.

    `image_count` counts the frames sent (a first, and a last when `has_last_frame`),
    `reference_count` the reference images, and `parent` is the job whose video an
    extend, edit or upscale starts from. Every message names what is allowed.
    """
    spec = _usable_spec(model_name)
    try:
        task = Task(task)
    except ValueError:
        raise ValidationError(
            {"task": f"Unknown task {task!r}. Choose one of: {_list(TASK_NAMES[t] for t in Task)}."}
        ) from None
    if not spec.offers(task):
        raise ValidationError(
            {
                "task": f"{spec.label} does not {TASK_NAMES[task]}; it offers "
                f"{_list(TASK_NAMES[t] for t in spec.tasks)}."
            }
        )
    _check_types(options)
    errors = {}
    _check_shape(spec, task, options, errors)
    _check_flags(spec, options, errors)
    _check_images(spec, task, image_count, has_last_frame, reference_count, errors)
    _check_people(spec, task, options, image_count, errors)
    _check_parent(spec, task, options, parent, errors)
    resolution = options.get("resolution")
    if not errors and spec.price(resolution) is None:
        raise UnknownPrice(
            {
                "resolution": f"The catalog has no price for {spec.label} at {resolution}, so the studio will not submit it. Add the price to VEO_CATALOG_FILE."
            }
        )
    if errors:
        raise ValidationError(errors)


def _usable_spec(model_name):
    spec = models().get(model_name)
    if spec is None:
        raise ValidationError(
            {"model": f"Unknown model {model_name!r}. Choose one of: {_list(offered())}."}
        )
    if spec.retired_on():
        raise ValidationError(
            {
                "model": f"{spec.label} was retired by Google on {spec.retired_on()}; "
                f"choose another model: {_list(offered())}."
            }
        )
    return spec


def _check_types(options):
    # Values come here cleaned (options.clean_values); anything else is refused, so that
    # no float or text reaches the price arithmetic.
    known = {k: v for k, v in options.items() if k in OPTIONS and k != "model"}
    cleaned = clean_values(known)
    mistyped = [k for k, v in known.items() if v is not None and type(v) is not type(cleaned[k])]
    if mistyped:
        raise ValidationError({k: "Use a whole number." for k in mistyped})


def _check_shape(spec, task, options, errors):
    aspect_ratio = options.get("aspect_ratio")
    resolution = options.get("resolution")
    duration = options.get("duration_seconds")
    doing = "" if task in (Task.TEXT, Task.IMAGE) else f" to {TASK_NAMES[task]}"
    aspect_ratios = spec.task_aspect_ratios(task)
    resolutions = spec.task_resolutions(task)
    if aspect_ratio not in aspect_ratios:
        errors["aspect_ratio"] = (
            f"{spec.label}{doing} accepts aspect ratios {_list(aspect_ratios)}."
        )
    if resolution not in resolutions:
        errors["resolution"] = f"{spec.label}{doing} accepts resolutions {_list(resolutions)}."
    elif task in (Task.EDIT, Task.UPSCALE):
        # The result is as long as its source: job_create stores the source's length.
        if not isinstance(duration, int) or duration < 1:
            errors["duration_seconds"] = "Give the source video's length in whole seconds."
    elif duration not in spec.allowed_durations(resolution, task):
        allowed = _list(f"{d} s" for d in spec.allowed_durations(resolution, task))
        errors["duration_seconds"] = (
            f"{spec.label}{doing} at {resolution} accepts durations {allowed}."
        )
    samples = options.get("sample_count", 1)
    if samples not in spec.sample_counts:
        errors["sample_count"] = (
            f"{spec.label} makes {_list(spec.sample_counts)} videos per request."
        )


def _check_flags(spec, options, errors):
    seed = options.get("seed")
    if seed is not None and not spec.seed:
        errors["seed"] = f"{spec.label} takes no seed here; leave it out."
    elif seed is not None and not 0 <= seed <= SEED_MAX:
        errors["seed"] = f"Use a whole number from 0 to {SEED_MAX}."
    if options.get("negative_prompt") and not spec.negative_prompt:
        errors["negative_prompt"] = (
            f"{spec.label} has no negative prompt; say what to avoid in the prompt itself."
        )
    if options.get("generate_audio") is not None and not spec.audio_toggle:
        errors["generate_audio"] = (
            f"{spec.label} always makes sound; its audio cannot be switched on or off."
        )
    if options.get("enhance_prompt") is not None and not spec.enhance_prompt:
        errors["enhance_prompt"] = f"{spec.label} has no prompt enhancement to switch."


def _check_images(spec, task, image_count, has_last_frame, reference_count, errors):
    if task == Task.IMAGE:
        limit = spec.max_images(Task.IMAGE)
        if image_count < 1 or (has_last_frame and image_count < 2):
            key = "last_frame" if has_last_frame else "image"
            errors[key] = (
                "A last frame needs a first frame too."
                if has_last_frame
                else "Image to video needs a first frame."
            )
        elif image_count > limit:
            errors["last_frame"] = (
                f"{spec.label} takes a first frame only, not a last frame."
                if limit == 1
                else f"{spec.label} takes at most {limit} frames."
            )
    elif image_count:
        key = "last_frame" if has_last_frame and image_count == 1 else "image"
        errors[key] = f"Frames go with image to video, not {TASK_NAMES[task]}."
    limit = spec.max_images(Task.REFERENCES)
    if task == Task.REFERENCES and reference_count < 1:
        errors["reference_images"] = "Add at least one reference image."
    elif task == Task.REFERENCES and reference_count > limit:
        errors["reference_images"] = (
            f"{spec.label} takes up to {limit} reference images; {reference_count} were given."
        )
    elif task != Task.REFERENCES and reference_count:
        errors["reference_images"] = (
            f"Reference images go with reference images to video, not {TASK_NAMES[task]}."
        )


def _check_people(spec, task, options, image_count, errors):
    person = options.get("person_generation") or ""
    if not person:
        return
    with_image = bool(image_count) or task == Task.REFERENCES
    allowed = spec.allowed_person_generation(with_image=with_image)
    if not spec.person_generation:
        errors["person_generation"] = f"{spec.label} has no person generation setting."
    elif person not in allowed:
        kind = "image-to-video" if with_image else "text-to-video"
        errors["person_generation"] = (
            f"{spec.label} {kind} accepts person generation {_list(allowed)}."
        )


def _check_parent(spec, task, options, parent, errors):
    if task not in FROM_VIDEO:
        if parent is not None:
            errors["parent"] = (
                f"Only an extend, edit or upscale starts from another job's video, "
                f"not {TASK_NAMES[task]}."
            )
        return
    verb = VERBS[task]
    if parent is None:
        errors["parent"] = f"Choose the job whose video to {verb}."
        return
    if parent.status != "completed" or not parent.video_url:
        state = "has not finished" if parent.status in ("idle", "processing") else "failed"
        if parent.status == "completed":
            state = "finished without one"
        errors["parent"] = f"Job {parent.pk} has no video to {verb}: it {state}."
        return
    made_with = models().get(parent.model)
    # A job from before the provider was recorded is judged by its model's providers.
    made_at = (parent.metadata or {}).get("provider", family())
    if (
        made_with is None
        or made_with.api != spec.api
        or family() not in made_with.providers
        or made_at != family()
    ):
        by = made_with.label if made_with else parent.model
        errors["parent"] = (
            f"Job {parent.pk}'s video was made by {by} through another provider or API; "
            f"{spec.label} can only {verb} videos made through {_api_name(spec)} on "
            f"{FAMILY_NAMES[family()]}."
        )
        return
    length = chain_seconds(parent)
    limits = spec.limits(task)
    source_resolution = (parent.options or {}).get("resolution")
    if task == Task.EXTEND and source_resolution not in limits.get(
        "resolutions", [source_resolution]
    ):
        errors["parent"] = (
            f"Job {parent.pk}'s video is {source_resolution}; {spec.label} extends "
            f"{_list(limits['resolutions'])} videos only."
        )
    elif task == Task.EXTEND:
        _check_room(spec, parent, length, options, limits, errors)
    elif task == Task.EDIT and "source_seconds" in limits:
        shortest, longest = limits["source_seconds"]
        if not shortest <= length <= longest:
            errors["parent"] = (
                f"Job {parent.pk}'s video is {length} s long; {spec.label} edits videos "
                f"of {shortest} to {longest} s."
            )


def _check_room(spec, parent, length, options, limits, errors):
    longest = limits.get("chain_max_seconds")
    if longest is None:
        return
    room = longest - length
    adds = limits.get("seconds_added") or options.get("duration_seconds")
    shortest = limits.get("seconds_added") or min(limits.get("durations") or spec.durations)
    if room < shortest:
        errors["parent"] = (
            f"Job {parent.pk}'s video is already {length} s long and {spec.label} extends a "
            f"video to at most {longest} s: {max(room, 0)} s are left, less than one "
            f"extension ({shortest} s)."
        )
    elif isinstance(adds, int) and adds > room:
        errors["duration_seconds"] = (
            f"The video is {length} s long and {spec.label} extends a video to at most "
            f"{longest} s: {room} s are left, so choose at most {room} s."
        )


def _api_name(spec):
    return "the Interactions API" if spec.api == "interactions" else "predictLongRunning"


# --- Lineage --------------------------------------------------------------------------


def chain_seconds(job) -> int:
    """Return how long the job's video is, counted along its extension chain.

    An extension adds what its model's extension adds (Veo's fixed 7 s, or the seconds
    asked for); an edit or upscale is as long as its source. A link whose parent was
    deleted counts from that job on.
    """
    seconds, seen = 0, set()
    while job is not None and job.pk not in seen:
        seen.add(job.pk)
        own = int((job.options or {}).get("duration_seconds") or 0)
        if job.task == Task.EXTEND:
            spec = models().get(job.model)
            added = spec.limits(Task.EXTEND).get("seconds_added") if spec else None
            seconds += added or own
        elif job.task in (Task.EDIT, Task.UPSCALE) and job.parent_id:
            pass
        else:
            return seconds + own
        job = job.parent
    return seconds


def chain_room(job) -> int | None:
    """Return the seconds an extension of this job's video may still add, or None if
    its model cannot extend or sets no limit."""
    spec = models().get(job.model)
    longest = spec.limits(Task.EXTEND).get("chain_max_seconds") if spec else None
    if spec is None or not spec.offers(Task.EXTEND) or longest is None:
        return None
    return max(longest - chain_seconds(job), 0)


# --- Prices ---------------------------------------------------------------------------


def estimate_cost(model_name, *, resolution, duration_seconds, samples=1) -> Decimal:
    """Return the price in USD of one request: seconds x rate x videos.

    For a model priced per token the rate is its tokens a second times the price of a
    token. Rounded to the 1/100 cent the studio stores.
    """
    rate = models()[model_name].price(resolution)
    if rate is None:
        raise UnknownPrice(f"No price for {model_name} at {resolution}.")
    return money(rate * duration_seconds * samples)


def cost_of_tokens(model_name, video_tokens) -> Decimal | None:
    """Return what `video_tokens` output tokens cost on a model priced per token, else None."""
    spec = models().get(model_name)
    if spec is None or not spec.prices_per_token or video_tokens is None:
        return None
    return money(Decimal(video_tokens) * Decimal(spec.price_per_million_tokens) / MILLION)


def money(amount) -> Decimal:
    """Return the amount rounded to the four decimal places a cost is stored with."""
    amount = Decimal(amount)
    if amount.as_tuple().exponent >= CENT_HUNDREDTHS.as_tuple().exponent:
        return amount  # already exact: keep it as written, 0.80 not 0.8000
    return amount.quantize(CENT_HUNDREDTHS, rounding=ROUND_HALF_UP)


def _list(items):
    return ", ".join(str(i) for i in items)
