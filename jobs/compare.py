"""What differs between two to four videos: their prompts word by word, and their settings.

Generic on purpose: a storyboard's takes and a gallery's videos both pass plain dicts
(label, video_url, poster_url, prompt, seed, model, options, cost, duration) and get the
same comparison back; nothing here knows where a video came from.
"""

import difflib
import json
import re
from dataclasses import dataclass

from .options import OPTIONS

WORD = re.compile(r"\S+")
# Punctuation around a word is not a difference worth a highlight ("fox," and "fox").
EDGES = re.compile(r"^[^\w]+|[^\w]+$")
# Shown for a setting a video leaves to the model (no seed) or does not set at all.
UNSET = "—"


@dataclass(frozen=True)
class Words:
    """A run of a prompt's words, all shared with every other prompt or all not."""

    text: str
    differs: bool


@dataclass(frozen=True)
class Compared:
    """One video as given, with its prompt split into runs of shared and differing words."""

    video: dict
    words: list[Words]


@dataclass(frozen=True)
class Parameter:
    """One setting across the videos: its value for each, in their order, as shown."""

    name: str
    label: str
    values: list[str]
    differs: bool


@dataclass(frozen=True)
class Comparison:
    videos: list[Compared]
    parameters: list[Parameter]


def compare_videos(videos) -> Comparison:
    """Return each video's prompt marked where it differs from the others, and the settings."""
    tokens = [WORD.findall(video.get("prompt") or "") for video in videos]
    keys = [[_word_key(token) for token in words] for words in tokens]
    compared = []
    for index, video in enumerate(videos):
        others = [other for number, other in enumerate(keys) if number != index]
        shared = _shared_positions(keys[index], others)
        flags = [position not in shared for position in range(len(tokens[index]))]
        compared.append(Compared(video=video, words=_runs(tokens[index], flags)))
    return Comparison(videos=compared, parameters=_parameters(videos))


def _word_key(token):
    return EDGES.sub("", token).casefold() or token


def _shared_positions(words, others) -> set[int]:
    """Return the positions in words that every other prompt has too, in the same order."""
    shared = set(range(len(words)))
    for other in others:
        # autojunk would treat a word repeated in a long prompt as noise and never match it.
        matcher = difflib.SequenceMatcher(None, words, other, autojunk=False)
        matched = set()
        for block in matcher.get_matching_blocks():
            matched.update(range(block.a, block.a + block.size))
        shared &= matched
    return shared


def _runs(tokens, flags) -> list[Words]:
    runs = []
    for token, differs in zip(tokens, flags, strict=True):
        if runs and runs[-1].differs == differs:
            runs[-1] = Words(text=f"{runs[-1].text} {token}", differs=differs)
        else:
            runs.append(Words(text=token, differs=differs))
    return runs


def _parameters(videos) -> list[Parameter]:
    """Return the model, the seed and every option any video sets, the known ones in order."""
    settings = [
        {"model": video.get("model"), "seed": video.get("seed"), **(video.get("options") or {})}
        for video in videos
    ]
    named = {name for values in settings for name in values}
    known = ["model", "seed", *(name for name in OPTIONS if name not in ("model", "seed"))]
    names = [name for name in known if name in named] + sorted(named - set(known))
    rows = []
    for name in names:
        values = [_unset_as_none(values.get(name)) for values in settings]
        distinct = {json.dumps(value, sort_keys=True, default=str) for value in values}
        rows.append(
            Parameter(
                name=name,
                label=_label(name),
                values=[_shown(value) for value in values],
                differs=len(distinct) > 1,
            )
        )
    return rows


def _unset_as_none(value):
    """Treat an empty text and a missing option alike: both leave it to the model."""
    return None if value is None or value == "" else value


def _label(name) -> str:
    if name.endswith("_seconds"):
        return f"{name.removesuffix('_seconds').replace('_', ' ').capitalize()} (s)"
    return name.replace("_", " ").capitalize()


def _shown(value) -> str:
    if value is None:
        return UNSET
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)
