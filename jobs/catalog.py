"""The Veo models the studio offers, what each accepts and costs, as data.

The defaults live in catalog.json beside this module; the file named by
VEO_CATALOG_FILE replaces or extends them model by model (a model set to null is
removed), so a new model, a retirement or a price change is an edit to data.
"""

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError

from .options import OPTIONS, clean_values

CATALOG_FILE = Path(__file__).with_name("catalog.json")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    label: str
    provider: str
    aspect_ratios: tuple[str, ...]
    resolutions: tuple[str, ...]
    durations: tuple[int, ...]
    durations_by_resolution: dict = field(default_factory=dict)
    person_generation: dict = field(default_factory=dict)
    image_input: bool = False
    last_frame: bool = False
    reference_images: int = 0
    samples_per_request: tuple[int, ...] = (1,)
    audio: str = "always"
    price_per_second: dict = field(default_factory=dict)
    # Interactions models (Gemini Omni) are billed per video output token.
    api: str = "predict"
    price_per_million_tokens: str = ""
    price_date: str = ""
    price_source: str = ""
    retired: str = ""

    def allowed_durations(self, resolution):
        return tuple(self.durations_by_resolution.get(resolution, self.durations))

    def allowed_person_generation(self, *, with_image):
        return tuple(self.person_generation.get("image" if with_image else "text", ()))

    def price(self, resolution) -> Decimal | None:
        """Return the USD price per second at this resolution, or None if unknown."""
        raw = self.price_per_second.get(resolution)
        return None if raw is None else Decimal(str(raw))


class UnknownPrice(ValidationError):
    """The catalog has no price for this model and resolution: never submit blind."""


def models() -> dict[str, ModelSpec]:
    """Return every model in the catalog (built-in plus override file) by name."""
    return _load(settings.VEO_CATALOG_FILE or "")


def api_of(model_name) -> str:
    """Return the API that serves the model: "interactions" (Gemini Omni) or "predict" (Veo)."""
    spec = models().get(model_name)
    return spec.api if spec is not None else "predict"


def offered(provider) -> dict[str, ModelSpec]:
    """Return the models a person may choose for this provider family, retired ones left out."""
    family = "vertex" if provider == "vertex" else "gemini"
    return {n: m for n, m in models().items() if m.provider == family and not m.retired}


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
    spec = ModelSpec(
        name=name,
        label=entry.get("label", name),
        provider=entry["provider"],
        aspect_ratios=tuple(entry["aspect_ratios"]),
        resolutions=tuple(entry["resolutions"]),
        durations=tuple(int(d) for d in entry["durations"]),
        durations_by_resolution={
            k: tuple(int(d) for d in v) for k, v in entry.get("durations_by_resolution", {}).items()
        },
        person_generation=entry.get("person_generation", {}),
        image_input=bool(entry.get("image_input", False)),
        last_frame=bool(entry.get("last_frame", False)),
        reference_images=int(entry.get("reference_images", 0)),
        samples_per_request=tuple(int(n) for n in entry.get("samples_per_request", [1])),
        audio=entry.get("audio", "always"),
        price_per_second={k: str(v) for k, v in entry.get("price_per_second", {}).items()},
        api=entry.get("api", "predict"),
        price_per_million_tokens=str(entry.get("price_per_million_tokens", "")),
        price_date=entry.get("price_date", ""),
        price_source=entry.get("price_source", ""),
        retired=entry.get("retired", ""),
    )
    for price in spec.price_per_second.values():
        if Decimal(price) < 0:
            raise ValueError(f"{name} has a negative price")
    return spec


def validate_options(model_name, options, *, has_image=False, has_last_frame=False):
    """Raise ValidationError, keyed by field, naming the allowed values, for bad options."""
    spec = models().get(model_name)
    if spec is None:
        raise ValidationError(
            {
                "model": f"Unknown model {model_name!r}. Choose one of: {_list(offered(settings.VEO_PROVIDER))}."
            }
        )
    if spec.retired:
        raise ValidationError(
            {
                "model": f"{spec.label} was retired by Google on {spec.retired}; choose another model."
            }
        )
    # Values come here cleaned (options.clean_values); anything else is refused, so that
    # no float or text reaches the price arithmetic.
    known = {k: v for k, v in options.items() if k in OPTIONS and k != "model"}
    cleaned = clean_values(known)
    mistyped = [k for k, v in known.items() if v is not None and type(v) is not type(cleaned[k])]
    if mistyped:
        raise ValidationError({k: "Use a whole number." for k in mistyped})
    errors = {}
    aspect_ratio = options.get("aspect_ratio")
    resolution = options.get("resolution")
    duration = options.get("duration_seconds")
    if aspect_ratio not in spec.aspect_ratios:
        errors["aspect_ratio"] = f"{spec.label} accepts aspect ratios {_list(spec.aspect_ratios)}."
    if resolution not in spec.resolutions:
        errors["resolution"] = f"{spec.label} accepts resolutions {_list(spec.resolutions)}."
    elif duration not in spec.allowed_durations(resolution):
        allowed = _list(f"{d} s" for d in spec.allowed_durations(resolution))
        errors["duration_seconds"] = f"{spec.label} at {resolution} accepts durations {allowed}."
    samples = options.get("sample_count", 1)
    if samples not in spec.samples_per_request:
        errors["sample_count"] = (
            f"{spec.label} makes {_list(spec.samples_per_request)} videos per request."
        )
    person = options.get("person_generation") or ""
    allowed_people = spec.allowed_person_generation(with_image=has_image)
    if person and person not in allowed_people:
        kind = "image-to-video" if has_image else "text-to-video"
        errors["person_generation"] = (
            f"{spec.label} {kind} accepts person generation {_list(allowed_people)}."
        )
    if has_image and not spec.image_input:
        errors["image"] = f"{spec.label} does not take a first frame."
    if has_last_frame and not has_image:
        errors["last_frame"] = "A last frame needs a first frame too."
    elif has_last_frame and not spec.last_frame:
        errors["last_frame"] = f"{spec.label} does not take a last frame."
    if not errors and spec.price(resolution) is None:
        raise UnknownPrice(
            {
                "resolution": f"The catalog has no price for {spec.label} at {resolution}, so the studio will not submit it. Add the price to VEO_CATALOG_FILE."
            }
        )
    if errors:
        raise ValidationError(errors)


def estimate_cost(model_name, *, resolution, duration_seconds, samples=1) -> Decimal:
    """Return the price in USD of one request: seconds x rate x videos."""
    rate = models()[model_name].price(resolution)
    if rate is None:
        raise UnknownPrice(f"No price for {model_name} at {resolution}.")
    return rate * duration_seconds * samples


def _list(items):
    return ", ".join(str(i) for i in items)
