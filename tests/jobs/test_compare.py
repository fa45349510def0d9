"""jobs.compare: two to four videos' prompts word by word, and their settings side by side."""

from jobs.compare import UNSET, Words, compare_videos
from tests.factories import MODEL


def video(prompt, *, seed=None, model=MODEL, **options):
    options = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 4, **options}
    return {
        "label": prompt[:10],
        "prompt": prompt,
        "seed": seed,
        "model": model,
        "options": options,
    }


def marked(compared):
    """Return the words a video's prompt highlights."""
    return [run.text for run in compared.words if run.differs]


def row(comparison, name):
    (found,) = [p for p in comparison.parameters if p.name == name]
    return found


def test_words_not_in_the_other_prompt_are_marked_in_each():
    result = compare_videos(
        [video("A red fox runs through snow at dusk"), video("A red fox walks through snow")]
    )

    first, second = result.videos
    assert marked(first) == ["runs", "at dusk"]
    assert marked(second) == ["walks"]
    assert first.words == [
        Words("A red fox", False),
        Words("runs", True),
        Words("through snow", False),
        Words("at dusk", True),
    ]


def test_a_word_shared_by_only_some_of_four_prompts_is_marked_in_those():
    result = compare_videos(
        [
            video("A fox at dusk"),
            video("A fox at dawn"),
            video("A fox at dusk"),
            video("A fox"),
        ]
    )

    assert [marked(v) for v in result.videos] == [["at dusk"], ["at dawn"], ["at dusk"], []]


def test_same_prompts_mark_nothing_and_case_and_punctuation_are_no_difference():
    result = compare_videos([video("A fox, in snow."), video("a Fox in snow")])

    assert [marked(v) for v in result.videos] == [[], []]
    assert result.videos[0].words == [Words("A fox, in snow.", False)]


def test_a_repeated_word_in_a_long_prompt_still_matches():
    # Over 200 words difflib's autojunk would call "the" noise and mark every one.
    long = " ".join(["the fox and the hound"] * 60)
    result = compare_videos([video(long), video("Again " + long)])

    assert marked(result.videos[0]) == []
    assert marked(result.videos[1]) == ["Again"]


def test_identical_settings_are_not_flagged():
    result = compare_videos([video("A", seed=7), video("B", seed=7)])

    assert [p.name for p in result.parameters] == [
        "model",
        "seed",
        "aspect_ratio",
        "resolution",
        "duration_seconds",
    ]
    assert not any(p.differs for p in result.parameters)
    assert row(result, "duration_seconds").label == "Duration (s)"


def test_a_seed_left_to_the_model_differs_from_a_set_one():
    result = compare_videos([video("A"), video("A", seed=42)])

    seed = row(result, "seed")
    assert seed.differs
    assert seed.values == [UNSET, "42"]
    assert not row(result, "model").differs


def test_a_seed_of_zero_is_a_seed():
    seed = row(compare_videos([video("A", seed=0), video("A")]), "seed")

    assert seed.values == ["0", UNSET]
    assert seed.differs


def test_differing_options_are_flagged_and_one_only_a_video_sets_is_listed():
    result = compare_videos(
        [
            video("A", model="veo-3.1-generate-preview", resolution="1080p", generate_audio=True),
            video("A", negative_prompt="", style={"grain": 2}),
            video("A", generate_audio=False, style={"grain": 2}),
        ]
    )

    assert row(result, "model").differs
    assert row(result, "resolution").values == ["1080p", "720p", "720p"]
    assert row(result, "resolution").differs
    assert row(result, "generate_audio").values == ["Yes", UNSET, "No"]
    # An empty negative prompt and none at all leave it to the model alike.
    assert row(result, "negative_prompt").values == [UNSET, UNSET, UNSET]
    assert not row(result, "negative_prompt").differs
    # An option the catalog does not know comes last, shown as written.
    assert result.parameters[-1].name == "style"
    assert result.parameters[-1].values == [UNSET, '{"grain": 2}', '{"grain": 2}']
    assert result.parameters[-1].differs
    assert not row(result, "aspect_ratio").differs
