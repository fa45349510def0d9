"""The model catalog: tasks, limits, prices, retirements, and an override file as data."""

import importlib
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError

import videostudio.settings
from jobs import catalog
from jobs.veo.base import Task

RAW = json.loads((Path(catalog.__file__).with_name("catalog.json")).read_text())["models"]
OMNI = "gemini-omni-1.2-flash"
TODAY = date(2026, 12, 2)


def _cases():
    for name, entry in RAW.items():
        for resolution in entry["resolutions"]:
            durations = entry.get("durations_by_resolution", {}).get(resolution, entry["durations"])
            for duration in durations:
                if "price_per_second" in entry:
                    rate = Decimal(entry["price_per_second"][resolution])
                else:
                    tokens = entry["tokens_per_second"][resolution]
                    rate = tokens * Decimal(entry["price_per_million_tokens"]) / 1_000_000
                yield name, resolution, duration, rate


@pytest.mark.parametrize(("model", "resolution", "duration", "rate"), list(_cases()))
def test_estimate_is_the_catalog_price_for_every_combination(model, resolution, duration, rate):
    cost = catalog.estimate_cost(model, resolution=resolution, duration_seconds=duration)
    assert cost == (rate * duration).quantize(Decimal("0.0001"))


def test_samples_multiply_the_price():
    cost = catalog.estimate_cost(
        "veo-3.1-fast-generate-001", resolution="1080p", duration_seconds=8, samples=3
    )
    assert cost == Decimal("2.88")


def test_omni_is_priced_by_the_video_tokens_a_second_costs():
    # The reference's §8 example: 10 s of 720p is 57,920 tokens at $17.50 a million.
    assert catalog.estimate_cost(OMNI, resolution="720p", duration_seconds=10) == Decimal("1.0136")
    assert catalog.estimate_cost(OMNI, resolution="4k", duration_seconds=3) == Decimal("0.9122")
    assert catalog.cost_of_tokens(OMNI, 57_920) == Decimal("1.0136")
    assert catalog.cost_of_tokens(OMNI, None) is None
    assert catalog.cost_of_tokens("veo-3.1-fast-generate-001", 57_920) is None
    assert "UNVERIFIED" in catalog.models()[OMNI].price_source


def test_each_model_says_which_api_serves_it_and_which_tasks_it_takes():
    assert catalog.api_of(OMNI) == "interactions"
    assert catalog.api_of("veo-3.1-generate-001") == "predict"
    assert catalog.models()[OMNI].providers == ("gemini", "vertex")
    assert list(catalog.tasks_of(OMNI)) == list(Task)
    assert catalog.tasks_of(OMNI)[Task.REFERENCES] == {"images": 6}
    assert catalog.tasks_of(OMNI)[Task.EXTEND]["chain_max_seconds"] == 30
    assert list(catalog.tasks_of("veo-3.1-lite-generate-001")) == [Task.TEXT, Task.IMAGE]
    extend = catalog.tasks_of("veo-3.1-generate-001")[Task.EXTEND]
    assert (extend["seconds_added"], extend["chain_max_seconds"]) == (7, 148)
    vertex = catalog.models()["veo-3.1-fast-generate-001"]
    assert (vertex.seed, vertex.negative_prompt, vertex.audio_toggle, vertex.enhance_prompt) == (
        True,
        True,
        True,
        True,
    )
    assert vertex.sample_counts == (1, 2, 3, 4)
    omni = catalog.models()[OMNI]
    assert (omni.seed, omni.negative_prompt, omni.audio_toggle, omni.enhance_prompt) == (
        True,
        False,
        False,
        False,
    )


def test_the_default_model_is_omni_on_the_gemini_api_and_veo_fast_on_vertex(monkeypatch):
    try:
        monkeypatch.delenv("VEO_MODEL", raising=False)
        assert importlib.reload(videostudio.settings).VEO_MODEL == OMNI
        monkeypatch.setenv("VEO_PROVIDER", "vertex")
        monkeypatch.setenv("VERTEX_PROJECT", "a-project")
        assert importlib.reload(videostudio.settings).VEO_MODEL == "veo-3.1-fast-generate-001"
    finally:
        monkeypatch.undo()
        importlib.reload(videostudio.settings)


@pytest.mark.usefixtures("real_catalog")
def test_retired_models_stay_listed_with_date_and_source_but_are_not_offered():
    listed = catalog.models()
    for name, day in [
        ("veo-3.1-fast-generate-preview", "2026-10-22"),
        ("veo-3.1-generate-preview", "2026-10-22"),
        ("veo-3.0-generate-001", "2026-06-30"),
        ("gemini-omni-flash-preview", "2026-09-30"),
    ]:
        assert listed[name].retired == day
        assert listed[name].source
    assert "UNVERIFIED" in listed["veo-3.1-fast-generate-preview"].source
    assert set(catalog.offered("gemini", today=TODAY)) == {OMNI, "gemini-omni-1.1-flash"}
    assert set(catalog.offered("vertex", today=TODAY)) == {
        OMNI,
        "veo-3.1-generate-001",
        "veo-3.1-fast-generate-001",
        "veo-3.1-lite-generate-001",
    }
    # A retiring model is retired on its day.
    assert set(catalog.offered("gemini", today=date(2026, 12, 3))) == {OMNI}


def test_a_model_retiring_within_30_days_carries_a_warning():
    warning = catalog.retirement_warning("gemini-omni-1.1-flash", today=TODAY)
    assert warning == (
        "Gemini Omni 1.1 Flash retires on 2026-12-03 (tomorrow): Google stops serving it "
        "then, so choose another model for new work."
    )
    assert "in 30 days" in catalog.retirement_warning(
        "gemini-omni-1.1-flash", today=date(2026, 11, 3)
    )
    assert catalog.retirement_warning("gemini-omni-1.1-flash", today=date(2026, 11, 2)) is None
    assert catalog.retirement_warning("gemini-omni-1.1-flash", today=date(2026, 12, 3)) is None
    assert catalog.retirement_warning(OMNI, today=TODAY) is None
    assert catalog.retirement_warning("veo-9-imaginary", today=TODAY) is None


def _errors(model, task=None, **options):
    options = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 8, **options}
    flags = {
        k: options.pop(k)
        for k in ("image_count", "has_last_frame", "reference_count", "parent")
        if k in options
    }
    with pytest.raises(ValidationError) as caught:
        if task is None:
            catalog.validate_options(
                model,
                options,
                has_image=bool(flags.get("image_count")),
                has_last_frame=flags.get("has_last_frame", False),
            )
        else:
            catalog.validate_request(model, task=task, options=options, **flags)
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
            {"person_generation": "allow_all", "image_count": 1},
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


@pytest.mark.parametrize(
    ("model", "task", "options", "field", "message"),
    [
        (
            "veo-3.1-lite-generate-001",
            Task.REFERENCES,
            {"reference_count": 1},
            "task",
            "Veo 3.1 Lite (Vertex AI) does not reference images to video; it offers "
            "text to video, image to video.",
        ),
        ("veo-3.1-fast-generate-001", Task.UPSCALE, {}, "task", "does not upscale a video"),
        ("veo-3.1-fast-generate-001", "dance", {}, "task", "Unknown task 'dance'"),
        (
            OMNI,
            Task.REFERENCES,
            {"reference_count": 7},
            "reference_images",
            "Gemini Omni 1.2 Flash takes up to 6 reference images; 7 were given.",
        ),
        (
            "veo-3.1-fast-generate-001",
            Task.REFERENCES,
            {"reference_count": 4},
            "reference_images",
            "takes up to 3 reference images; 4 were given",
        ),
        (OMNI, Task.REFERENCES, {}, "reference_images", "Add at least one reference image."),
        (OMNI, Task.TEXT, {"reference_count": 1}, "reference_images", "not text to video"),
        (OMNI, Task.IMAGE, {}, "image", "Image to video needs a first frame."),
        (OMNI, Task.TEXT, {"image_count": 1}, "image", "not text to video"),
        (OMNI, Task.TEXT, {"negative_prompt": "text"}, "negative_prompt", "no negative prompt"),
        (OMNI, Task.TEXT, {"generate_audio": False}, "generate_audio", "always makes sound"),
        (OMNI, Task.TEXT, {"enhance_prompt": True}, "enhance_prompt", "no prompt enhancement"),
        (OMNI, Task.TEXT, {"sample_count": 2}, "sample_count", "makes 1 videos per request"),
        (OMNI, Task.TEXT, {"duration_seconds": 12}, "duration_seconds", "3 s, 4 s"),
        (OMNI, Task.TEXT, {"person_generation": "allow_all"}, "person_generation", "has no"),
        ("veo-3.1-generate-preview", Task.TEXT, {"seed": 7}, "seed", "takes no seed"),
        ("veo-3.1-generate-001", Task.TEXT, {"seed": 2**32}, "seed", "from 0 to 4294967295"),
        (
            "veo-3.1-generate-001",
            Task.REFERENCES,
            {"reference_count": 2, "duration_seconds": 4},
            "duration_seconds",
            "to reference images to video at 720p accepts durations 8 s",
        ),
        (OMNI, Task.EXTEND, {}, "parent", "Choose the job whose video to extend."),
    ],
)
def test_a_request_the_model_cannot_do_is_refused_naming_the_field(
    model, task, options, field, message
):
    errors = _errors(model, task, **options)
    assert field in errors, errors
    assert message in errors[field][0]


def test_the_knobs_a_model_has_are_accepted():
    catalog.validate_request(
        "veo-3.1-fast-generate-001",
        task=Task.REFERENCES,
        options={
            "aspect_ratio": "16:9",
            "resolution": "720p",
            "duration_seconds": 8,
            "seed": 4_294_967_295,
            "generate_audio": False,
            "enhance_prompt": True,
            "negative_prompt": "text",
            "sample_count": 4,
        },
        reference_count=3,
    )
    catalog.validate_request(
        OMNI,
        task=Task.IMAGE,
        options={"aspect_ratio": "9:16", "resolution": "360p", "duration_seconds": 3, "seed": 0},
        image_count=2,
        has_last_frame=True,
    )


@pytest.mark.usefixtures("real_catalog")
def test_a_retired_preview_is_refused_naming_the_usable_models():
    errors = _errors("veo-3.1-fast-generate-preview", Task.TEXT)
    assert errors["model"][0].startswith(
        "Veo 3.1 Fast was retired by Google on 2026-10-22; choose another model: "
        "gemini-omni-1.2-flash"
    )


def test_accepted_combination_passes():
    catalog.validate_options(
        "veo-3.1-fast-generate-001",
        {"aspect_ratio": "9:16", "resolution": "4k", "duration_seconds": 8, "sample_count": 4},
        has_image=True,
    )


def test_only_the_providers_current_models_are_offered(settings):
    settings.VEO_PROVIDER = "gemini"
    gemini = catalog.offered("gemini", today=TODAY)
    assert "veo-3.1-fast-generate-preview" in gemini  # kept usable by the tests' override
    assert OMNI in gemini
    assert "veo-3.0-generate-001" not in gemini  # retired
    assert "veo-3.1-generate-001" not in gemini  # Vertex


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
                "retired": "",
                "price_per_second": {"720p": "0.11", "1080p": "0.12"},
            },
            OMNI: {"price_per_million_tokens": "12.25"},
        }
    )
    offered = catalog.offered("gemini")
    assert "gemini-omni-video" in offered
    assert catalog.tasks_of("gemini-omni-video") == {Task.TEXT: {}}
    assert "veo-3.1-generate-preview" not in offered
    assert catalog.estimate_cost(
        "gemini-omni-video", resolution="720p", duration_seconds=5
    ) == Decimal("0.35")
    assert catalog.estimate_cost(
        "veo-3.1-fast-generate-preview", resolution="720p", duration_seconds=8
    ) == Decimal("0.88")
    assert catalog.cost_of_tokens(OMNI, 1_000_000) == Decimal("12.25")
    # Keys the override does not name are kept from the built-in entry.
    assert offered["veo-3.1-fast-generate-preview"].resolutions == ("720p", "1080p", "4k")


def test_a_missing_price_refuses_to_submit(override):
    override(
        {"veo-3.1-fast-generate-preview": {"retired": "", "price_per_second": {"720p": "0.10"}}}
    )
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
        json.dumps({"models": {OMNI: {"price_per_million_tokens": "-1"}}}),
        json.dumps({"models": {OMNI: {"api": "generateContent"}}}),
        json.dumps({"models": {OMNI: {"providers": ["azure"]}}}),
        json.dumps({"models": {OMNI: {"tasks": {"dance": {}}}}}),
        json.dumps({"models": {OMNI: {"retiring": "soon"}}}),
    ],
)
def test_a_broken_override_file_is_a_configuration_error(settings, tmp_path, content):
    path = tmp_path / "broken.json"
    path.write_text(content)
    settings.VEO_CATALOG_FILE = str(path)
    with pytest.raises(ImproperlyConfigured):
        catalog.models()
