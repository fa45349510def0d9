"""The model catalog: prices, allowed combinations, and an override file as data."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError

from jobs import catalog

RAW = json.loads((Path(catalog.__file__).with_name("catalog.json")).read_text())["models"]


def _cases():
    for name, entry in RAW.items():
        for resolution in entry["resolutions"]:
            durations = entry.get("durations_by_resolution", {}).get(resolution, entry["durations"])
            for duration in durations:
                yield name, resolution, duration, Decimal(entry["price_per_second"][resolution])


@pytest.mark.parametrize(("model", "resolution", "duration", "rate"), list(_cases()))
def test_estimate_is_the_catalog_price_for_every_combination(model, resolution, duration, rate):
    assert catalog.estimate_cost(model, resolution=resolution, duration_seconds=duration) == (
        rate * duration
    )


def test_samples_multiply_the_price():
    cost = catalog.estimate_cost(
        "veo-3.1-fast-generate-001", resolution="1080p", duration_seconds=8, samples=3
    )
    assert cost == Decimal("2.88")


def _errors(model, **options):
    options = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 8, **options}
    flags = {k: options.pop(k) for k in ("has_image", "has_last_frame") if k in options}
    with pytest.raises(ValidationError) as caught:
        catalog.validate_options(model, options, **flags)
    return caught.value.message_dict


@pytest.mark.parametrize(
    ("model", "options", "field", "message"),
    [
        (
            "veo-3.1-lite-generate-preview",
            {"resolution": "4k"},
            "resolution",
            "accepts resolutions 720p, 1080p",
        ),
        (
            "veo-3.1-generate-preview",
            {"resolution": "1080p", "duration_seconds": 4},
            "duration_seconds",
            "at 1080p accepts durations 8 s",
        ),
        (
            "veo-3.1-generate-preview",
            {"aspect_ratio": "1:1"},
            "aspect_ratio",
            "accepts aspect ratios 16:9, 9:16",
        ),
        (
            "veo-3.1-generate-preview",
            {"sample_count": 2},
            "sample_count",
            "makes 1 videos per request",
        ),
        (
            "veo-3.1-generate-preview",
            {"person_generation": "allow_adult"},
            "person_generation",
            "text-to-video accepts person generation allow_all",
        ),
        (
            "veo-3.1-generate-preview",
            {"person_generation": "allow_all", "has_image": True},
            "person_generation",
            "image-to-video accepts person generation allow_adult",
        ),
        ("veo-3.1-generate-preview", {"has_last_frame": True}, "last_frame", "needs a first frame"),
        ("veo-3.0-generate-001", {}, "model", "retired by Google on 2026-06-30"),
        ("veo-9-imaginary", {}, "model", "Unknown model"),
    ],
)
def test_options_the_model_does_not_accept_are_named_with_the_allowed_values(
    model, options, field, message
):
    errors = _errors(model, **options)
    assert field in errors
    assert message in errors[field][0]


def test_accepted_combination_passes():
    catalog.validate_options(
        "veo-3.1-fast-generate-001",
        {"aspect_ratio": "9:16", "resolution": "4k", "duration_seconds": 8, "sample_count": 4},
        has_image=True,
    )


def test_only_the_providers_current_models_are_offered(settings):
    settings.VEO_PROVIDER = "gemini"
    gemini = catalog.offered("gemini")
    assert "veo-3.1-fast-generate-preview" in gemini
    assert "veo-3.0-generate-001" not in gemini  # retired
    assert "veo-3.1-generate-001" not in gemini  # Vertex
    assert set(catalog.offered("vertex")) == {"veo-3.1-generate-001", "veo-3.1-fast-generate-001"}


@pytest.fixture
def override(settings, tmp_path):
    def write(models):
        path = tmp_path / "catalog.json"
        path.write_text(json.dumps({"models": models}))
        settings.VEO_CATALOG_FILE = str(path)
        return path

    return write


def test_override_file_adds_retires_and_reprices_without_code(override):
    override(
        {
            "gemini-omni-video": {
                "label": "Omni",
                "provider": "gemini",
                "aspect_ratios": ["16:9"],
                "resolutions": ["720p"],
                "durations": [5],
                "price_per_second": {"720p": "0.07"},
                "price_date": "2026-11-01",
            },
            "veo-3.1-generate-preview": None,
            "veo-3.1-fast-generate-preview": {
                "price_per_second": {"720p": "0.11", "1080p": "0.12"}
            },
        }
    )
    offered = catalog.offered("gemini")
    assert "gemini-omni-video" in offered
    assert "veo-3.1-generate-preview" not in offered
    assert catalog.estimate_cost(
        "gemini-omni-video", resolution="720p", duration_seconds=5
    ) == Decimal("0.35")
    assert catalog.estimate_cost(
        "veo-3.1-fast-generate-preview", resolution="720p", duration_seconds=8
    ) == Decimal("0.88")
    # Keys the override does not name are kept from the built-in entry.
    assert offered["veo-3.1-fast-generate-preview"].resolutions == ("720p", "1080p", "4k")


def test_a_missing_price_refuses_to_submit(override):
    override({"veo-3.1-fast-generate-preview": {"price_per_second": {"720p": "0.10"}}})
    errors = _errors("veo-3.1-fast-generate-preview", resolution="1080p")
    assert "no price for Veo 3.1 Fast at 1080p" in errors["resolution"][0]


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"no-models": {}}),
        json.dumps({"models": {"x": {"provider": "gemini"}}}),
        json.dumps(
            {"models": {"veo-3.1-fast-generate-preview": {"price_per_second": {"720p": "-1"}}}}
        ),
    ],
)
def test_a_broken_override_file_is_a_configuration_error(settings, tmp_path, content):
    path = tmp_path / "broken.json"
    path.write_text(content)
    settings.VEO_CATALOG_FILE = str(path)
    with pytest.raises(ImproperlyConfigured):
        catalog.models()
