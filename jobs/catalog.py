"""The Veo models the studio offers, what each accepts and costs, as data.

The defaults live in catalog.json beside this module; a new or retired model is a
change to that file, not to code.
"""

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

from django.core.exceptions import ValidationError

CATALOG_FILE = Path(__file__).with_name("catalog.json")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    label: str
    provider: str
    aspect_ratios: tuple[str, ...]
    resolutions: tuple[str, ...]
    durations: tuple[int, ...]
    durations_by_resolution: dict
    price_per_second: dict
    price_date: str

    def allowed_durations(self, resolution):
        return tuple(self.durations_by_resolution.get(resolution, self.durations))


@cache
def models() -> dict[str, ModelSpec]:
    """Return every model in the catalog by name."""
    data = json.loads(CATALOG_FILE.read_text())
    return {
        name: ModelSpec(
            name=name,
            label=spec["label"],
            provider=spec["provider"],
            aspect_ratios=tuple(spec["aspect_ratios"]),
            resolutions=tuple(spec["resolutions"]),
            durations=tuple(spec["durations"]),
            durations_by_resolution=spec.get("durations_by_resolution", {}),
            price_per_second=spec["price_per_second"],
            price_date=spec["price_date"],
        )
        for name, spec in data["models"].items()
    }


def validate_options(model_name, *, aspect_ratio, resolution, duration_seconds):
    """Raise ValidationError, keyed by field, for options the model does not accept."""
    spec = models().get(model_name)
    if spec is None:
        raise ValidationError(
            {"model": f"Unknown model {model_name!r}. Choose one of: {_list(models())}."}
        )
    errors = {}
    if aspect_ratio not in spec.aspect_ratios:
        errors["aspect_ratio"] = f"{spec.label} accepts aspect ratios {_list(spec.aspect_ratios)}."
    if resolution not in spec.resolutions:
        errors["resolution"] = f"{spec.label} accepts resolutions {_list(spec.resolutions)}."
    elif duration_seconds not in spec.allowed_durations(resolution):
        allowed = _list(f"{d} s" for d in spec.allowed_durations(resolution))
        errors["duration_seconds"] = f"{spec.label} at {resolution} accepts durations {allowed}."
    if errors:
        raise ValidationError(errors)


def estimate_cost(model_name, *, resolution, duration_seconds, samples=1) -> Decimal:
    """Return the price in USD of one request: seconds x rate x videos."""
    rate = models()[model_name].price_per_second[resolution]
    return Decimal(rate) * duration_seconds * samples


def _list(items):
    return ", ".join(str(i) for i in items)
