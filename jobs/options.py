"""The options a job may set and the prompt's length limit: one definition for all.

The create form, the JSON API, drafts and batch runs all read from here. Each option
has its stored name (a key of the job's `options`), its JSON type, its default and its
name in the JSON API. The defaults are the provider's (jobs.veo.base.GenerationOptions,
plain data without Django), except the model's, which is the VEO_MODEL setting.
jobs.services.job_create checks the prompt's length for every entry point.
"""

import types
import typing
from dataclasses import dataclass, fields

from django.conf import settings
from django.core.exceptions import ValidationError
from pydantic.alias_generators import to_camel

from .veo.base import GenerationOptions

NEGATIVE_PROMPT_MAX_CHARS = 1000
# Every other text option is a short name from the catalog.
OPTION_MAX_CHARS = 100


@dataclass(frozen=True)
class Option:
    name: str
    kind: type
    # None for the model: its default is the VEO_MODEL setting (default_model()).
    default: object
    api_name: str
    # For a text option, the longest value accepted.
    max_chars: int | None = None

    @property
    def optional(self):
        """Whether leaving it out leaves the choice to the model (seed, audio, enhance)."""
        return self.default is None and self.name != "model"


def _option(name, annotation, default):
    kind = _base_type(annotation)
    longest = NEGATIVE_PROMPT_MAX_CHARS if name == "negative_prompt" else OPTION_MAX_CHARS
    return Option(name, kind, default, to_camel(name), longest if kind is str else None)


def _base_type(annotation):
    """Return int for `int | None`, and the annotation itself for a plain type."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (kind,) = (arg for arg in typing.get_args(annotation) if arg is not type(None))
        return kind
    return annotation


OPTIONS = {
    option.name: option
    for option in (
        _option("model", str, None),
        *(_option(f.name, f.type, f.default) for f in fields(GenerationOptions)),
    )
}
BY_API_NAME = {option.api_name: option for option in OPTIONS.values()}
# The shot's shape: every job stores these, with their defaults when left out.
SHAPE = ("aspect_ratio", "resolution", "duration_seconds")
# What a draft's prompt, and a draft run, may set.
DRAFT_OPTIONS = ("model", "aspect_ratio", "resolution", "duration_seconds", "negative_prompt")


def default_model() -> str:
    return settings.VEO_MODEL


def defaults(*also) -> dict:
    """Return the shape's defaults, plus those of the options named in `also`."""
    return {name: OPTIONS[name].default for name in (*SHAPE, *also)}


def prompt_max_chars() -> int:
    """Characters, not tokens: Veo reads up to 1,024 tokens (VEO_PROMPT_MAX_CHARS)."""
    return settings.VEO_PROMPT_MAX_CHARS


def too_long(limit, length) -> str:
    """Return the message for a text of `length` characters where `limit` are allowed."""
    return f"Ensure this value has at most {limit} characters (it has {length})."


def prompt_length_problem(prompt_text) -> str | None:
    """Return what is wrong with the prompt's length (longer than Veo reads), or None."""
    limit = prompt_max_chars()
    return too_long(limit, len(prompt_text)) if len(prompt_text) > limit else None


def check_prompt_length(prompt_text) -> None:
    """Raise ValidationError on prompt_text if the prompt is longer than Veo reads."""
    problem = prompt_length_problem(prompt_text)
    if problem:
        raise ValidationError({"prompt_text": problem})


def clean_values(values) -> dict:
    """Return options with each value checked against its type and length.

    A whole number sent as a float (`8.0`, as some JSON writers do) becomes that int; a
    switch (generate_audio, enhance_prompt) takes only true or false; None drops the
    option, which leaves an optional one to the model. Raise ValidationError keyed by option name otherwise.
    """
    if not isinstance(values, dict):
        raise ValidationError('Give the options as an object, e.g. {"resolution": "720p"}.')
    cleaned, errors = {}, {}
    for name, value in values.items():
        option = OPTIONS.get(name)
        if option is None:
            errors[name] = f"Not an option; use {', '.join(OPTIONS)}."
        elif value is None:
            continue
        elif option.kind is bool:
            if isinstance(value, bool):
                cleaned[name] = value
            else:
                errors[name] = "Use true or false."
        elif option.kind is int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                cleaned[name] = value
            else:
                errors[name] = "Use a whole number."
        elif not isinstance(value, str):
            errors[name] = "Use a string."
        elif len(value) > option.max_chars:
            errors[name] = too_long(option.max_chars, len(value))
        else:
            cleaned[name] = value
    if errors:
        raise ValidationError(errors)
    return cleaned
