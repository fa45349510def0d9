"""Draft services: normalising, versions, sharing, import and batch planning."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from drafts import services
from drafts.models import Draft, DraftVersion
from jobs.models import VideoCreationJob
from tests.factories import JOB_OPTIONS, MODEL, make_job

pytestmark = pytest.mark.django_db

OPTIONS = {"model": MODEL, **JOB_OPTIONS}


def save(user, prompts=("A fox",), name="Foxes", **kwargs):
    return services.draft_save(author=user, name=name, prompts=list(prompts), **kwargs)


def message(exc_info):
    return " ".join(exc_info.value.messages)


def test_plain_strings_are_normalised_to_prompts_with_stable_ids():
    prompts = services.normalise_prompts(["A fox", {"id": "p2", "text": " A hare "}])
    assert prompts[0]["text"] == "A fox" and len(prompts[0]["id"]) == 8
    assert prompts[1] == {"id": "p2", "text": "A hare"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"text": "x"}, "must be a JSON array"),
        ([{"id": "a"}], "Prompt 1 has no text"),
        (["ok", {"text": "  "}], "Prompt 2 has no text"),
        ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], "Prompt 2 repeats the id 'a'"),
        ([42], "Prompt 1 must be text or an object"),
        ([{"text": "x", "options": {"colour": "red"}}], "Prompt 1 has options other than"),
    ],
)
def test_bad_prompt_lists_are_refused_with_the_prompt_named(data, expected):
    with pytest.raises(ValidationError) as caught:
        services.normalise_prompts(data)
    assert expected in message(caught)


def test_json_errors_point_at_the_line_and_column():
    with pytest.raises(ValidationError) as caught:
        services.parse_json('[\n  "one",\n  "two"\n  "three"\n]')
    assert message(caught).startswith("Line 4, column 3: Expecting ',' delimiter")


def test_every_save_keeps_an_immutable_version(user):
    draft = save(user, ["one"])
    draft = services.draft_save(author=user, draft=draft, name="Foxes", prompts=["one", "two"])
    assert draft.version == 2
    versions = list(draft.versions.order_by("number").values_list("number", "prompts"))
    assert [n for n, _ in versions] == [1, 2]
    assert [p["text"] for p in versions[0][1]] == ["one"]
    assert [p["text"] for p in versions[1][1]] == ["one", "two"]


def test_restore_saves_an_old_version_as_the_newest(user):
    draft = save(user, ["one"])
    draft = services.draft_save(author=user, draft=draft, name="Foxes", prompts=["changed"])
    draft = services.draft_restore(draft=draft, version=draft.versions.get(number=1), author=user)
    assert draft.version == 3
    assert [p["text"] for p in draft.prompts] == ["one"]
    assert draft.versions.get(number=3).note == "Restored version 1"


def test_a_save_from_a_stale_editor_is_refused_and_loses_nothing(user):
    draft = save(user, ["one"])
    services.draft_save(author=user, draft=draft, name="Foxes", prompts=["theirs"], base_version=1)
    with pytest.raises(services.DraftConflict) as caught:
        services.draft_save(
            author=user, draft=draft, name="Foxes", prompts=["mine"], base_version=1
        )
    assert "Someone saved this draft after you opened it" in str(caught.value)
    draft.refresh_from_db()
    assert [p["text"] for p in draft.prompts] == ["theirs"]
    assert draft.versions.count() == 2


def test_names_are_unique_per_owner_only(user, other_user):
    save(user, name="Teasers")
    save(other_user, name="Teasers")
    with pytest.raises(ValidationError) as caught:
        save(user, name="Teasers")
    assert "You already have a draft named 'Teasers'" in message(caught)
    assert Draft.objects.filter(owner=user).count() == 1
    assert DraftVersion.objects.filter(draft__owner=user).count() == 1


def test_duplicate_copies_into_my_library_privately(user, other_user):
    theirs = save(other_user, ["a", "b"], name="Launch", visibility="shared")
    copy = services.draft_duplicate(draft=theirs, user=user)
    again = services.draft_duplicate(draft=theirs, user=user)
    assert (copy.owner, copy.name, copy.visibility) == (user, "Copy of Launch", "private")
    assert again.name == "Copy of Launch (2)"
    assert copy.prompts == theirs.prompts


def test_import_takes_an_export_or_a_bare_array(user):
    exported = SimpleUploadedFile("x.json", b'{"name": "Night shots", "prompts": ["moon", "owl"]}')
    bare = SimpleUploadedFile("birds.json", b'["heron", "swift"]')
    assert services.draft_import(author=user, uploaded=exported).name == "Night shots"
    draft = services.draft_import(author=user, uploaded=bare)
    assert (draft.name, len(draft.prompts)) == ("birds", 2)


def test_oversized_or_broken_imports_save_nothing(user):
    huge = SimpleUploadedFile("big.json", b"[" + b'"x",' * 300_000 + b'"x"]')
    broken = SimpleUploadedFile("bad.json", b'["a", ]')
    with pytest.raises(ValidationError, match="imports are at most 1024 KB"):
        services.draft_import(author=user, uploaded=huge)
    with pytest.raises(ValidationError, match="Line 1, column 7"):
        services.draft_import(author=user, uploaded=broken)
    assert not Draft.objects.exists()


# --- Batch plans ---------------------------------------------------------------------------


@pytest.fixture
def version(user):
    draft = save(
        user,
        [
            {"id": "p1", "text": "A market in {{city}} in {{season}}"},
            {"id": "p2", "text": "Rooftops of {{city}}"},
            {"id": "p3", "text": "Plain prompt"},
        ],
        name="Cities",
    )
    return draft.versions.get()


def test_plan_expands_prompts_times_rows_and_prices_the_batch(version):
    plan = services.plan_batch(
        version=version,
        prompt_ids=["p1", "p2"],
        options=OPTIONS,
        csv_text="city,season\nLisbon,spring\nOslo,winter\n",
    )
    assert [job.text for job in plan.jobs] == [
        "A market in Lisbon in spring",
        "Rooftops of Lisbon",
        "A market in Oslo in winter",
        "Rooftops of Oslo",
    ]
    assert plan.estimated_cost == Decimal("0.10") * 4 * 4
    assert plan.placeholders == ["city", "season"]


@pytest.mark.parametrize(
    ("prompt_ids", "csv_text", "expected"),
    [
        (["p1"], "", "No values for {{city}}, {{season}}"),
        (["p1"], "city\nLisbon", "No values for {{season}}"),
        (["p2"], "city,season\nLisbon,spring", "season match no placeholder"),
        (["p1"], "city,season\nLisbon", "CSV line 2 has 1 values; the header has 2"),
        (["p1"], "city,season\n", "has a header but no rows"),
        ([], "", "Choose at least one prompt"),
    ],
)
def test_plans_that_cannot_run_are_refused_before_anything_exists(
    version, prompt_ids, csv_text, expected
):
    with pytest.raises(ValidationError) as caught:
        services.plan_batch(
            version=version, prompt_ids=prompt_ids, options=OPTIONS, csv_text=csv_text
        )
    assert expected in message(caught)
    assert not VideoCreationJob.objects.exists()


def test_a_batch_too_large_is_refused(settings, version):
    settings.BATCH_MAX_JOBS = 3
    with pytest.raises(
        ValidationError, match="would start more than 3 jobs; a batch runs at most 3"
    ):
        services.plan_batch(
            version=version, prompt_ids=["p2"], options=OPTIONS, csv_text="city\na\nb\nc\nd"
        )


def test_run_links_every_job_to_its_draft_version_and_prompt(
    user, version, django_capture_on_commit_callbacks
):
    plan = services.plan_batch(
        version=version, prompt_ids=["p2", "p3"], options=OPTIONS, csv_text="city\nLima"
    )
    with django_capture_on_commit_callbacks() as callbacks:
        batch = services.draft_run(user=user, draft=version.draft, version=version, plan=plan)
    jobs = list(batch.jobs.order_by("prompt_text"))
    assert [(j.prompt_text, j.prompt_id) for j in jobs] == [
        ("Plain prompt", "p3"),
        ("Rooftops of Lima", "p2"),
    ]
    assert {(j.draft_id, j.draft_version_id, j.owner_id) for j in jobs} == {
        (version.draft_id, version.pk, user.pk)
    }
    assert len(callbacks) == 2
    assert batch.draft_version == version


# --- Limits: a batch is counted before it is built; versions are capped ------------------------


@pytest.mark.parametrize(("prompts", "rows"), [(20, 10_000), (1, 60_000)])
def test_a_huge_batch_is_refused_before_its_rows_are_read_or_expanded(user, prompts, rows):
    import tracemalloc

    draft = save(user, [f"Shot {n} of {{{{c}}}}" for n in range(prompts)], name="Wide")
    csv_text = "c\n" + "x\n" * rows  # under 128 KB of text
    ids = [p["id"] for p in draft.prompts]
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError) as caught:
            services.plan_batch(
                version=draft.versions.get(), prompt_ids=ids, options=OPTIONS, csv_text=csv_text
            )
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "more than 200 jobs; a batch runs at most 200" in message(caught)
    # Today's cap of 200 jobs needs a few kilobytes; expanding every row took hundreds of MB.
    assert peak < 2 * 1024 * 1024, f"peak {peak / 1024 / 1024:.1f} MB"


def test_more_prompts_than_a_batch_holds_are_refused_by_count(settings, user):
    settings.BATCH_MAX_JOBS = 3
    draft = save(user, ["a", "b", "c", "d"], name="Four")
    ids = [p["id"] for p in draft.prompts]
    with pytest.raises(ValidationError, match="This would start 4 jobs; a batch runs at most 3"):
        services.plan_batch(version=draft.versions.get(), prompt_ids=ids, options=OPTIONS)


def test_csv_values_over_128_kb_are_refused_naming_the_values(version):
    with pytest.raises(ValidationError) as caught:
        services.plan_batch(
            version=version, prompt_ids=["p2"], options=OPTIONS, csv_text="city\n" + "x" * 131_072
        )
    assert caught.value.message_dict["values"] == [
        "The values are 131,077 characters; paste at most 128 KB (131,072 characters)."
    ]


def test_old_versions_are_pruned_unless_a_job_or_batch_points_at_them(user, monkeypatch):
    monkeypatch.setattr(services, "MAX_VERSIONS", 3)
    draft = save(user, ["v1"], name="Pruned")
    first = draft.versions.get(number=1)
    make_job(
        user,
        prompt_text="v1",
        draft=draft,
        draft_version=first,
    )
    for n in range(2, 8):
        draft = save(user, [f"v{n}"], name="Pruned", draft=draft)
    numbers = sorted(draft.versions.values_list("number", flat=True))
    assert numbers == [1, 5, 6, 7]
    assert DraftVersion.objects.get(number=1).prompts[0]["text"] == "v1"


# --- Search: accents, case and CJK on every database; never the JSON's keys -------------------


@pytest.fixture
def library(user):
    save(user, ["Un café au coin de la rue"], name="Paris")
    save(user, ["東京の夜景、雨上がり"], name="Tokyo")
    save(user, ["ÉTÉ À SÉVILLE"], name="Summer")
    save(user, ["A plain prompt"], name="Plain")
    return user


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("café", ["Paris"]),
        ("CAFE", ["Paris"]),
        ("Café", ["Paris"]),
        ("東京", ["Tokyo"]),
        ("夜景", ["Tokyo"]),
        ("été", ["Summer"]),
        ("seville", ["Summer"]),
        ("tokyo", ["Tokyo"]),
        ("id", []),
        ("text", []),
        ('"text"', []),
        ("options", []),
    ],
)
def test_search_folds_case_and_accents_and_ignores_json_keys(library, query, names):
    found = services.draft_list(user=library, scope="mine", query=query)
    assert [d.name for d in found] == names
