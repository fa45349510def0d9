"""Drafts: saving versions, sharing, importing, and running a draft as a batch.

Pages, the JSON API and the admin all call these; every save writes an immutable
DraftVersion, so a job can always point at the exact prompts it ran.
"""

import csv
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs import catalog
from jobs import options as job_options
from jobs import services as job_services
from jobs.text import fold

from .models import Draft, DraftVersion

MAX_PROMPTS = 500
MAX_IMPORT_BYTES = 1024 * 1024
MAX_NAME_LENGTH = 200
MAX_PROMPT_ID_LENGTH = 64
# Pasted CSV values for a run: far more than 200 rows of real values need.
MAX_VALUES_CHARS = 128 * 1024
# Versions kept per draft; older ones go unless a job or a batch points at them.
MAX_VERSIONS = 100
# The largest version number, as PositiveIntegerField holds it on every database.
MAX_VERSION = 2**31 - 1
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class DraftConflict(Exception):
    """A save started from a version that is no longer the newest: someone saved since."""

    def __init__(self):
        super().__init__(
            "Someone saved this draft after you opened it. Reload to see their version; "
            "your changes were not saved."
        )


# --- Reading prompts ----------------------------------------------------------------------


def parse_json(text):
    """Parse JSON text, or raise ValidationError pointing at the line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"Line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None
    except RecursionError:
        raise ValidationError("The JSON is too deeply nested to read.") from None


def new_prompt_id():
    return uuid.uuid4().hex[:8]


def normalise_prompts(data):
    """Return a list of prompt objects {id, text, options?}; plain strings are accepted.

    Raise ValidationError naming the prompt (1-based) for anything else.
    """
    if not isinstance(data, list):
        raise ValidationError("Prompts must be a JSON array (a list in [ ]).")
    if len(data) > MAX_PROMPTS:
        raise ValidationError(f"A draft holds at most {MAX_PROMPTS} prompts; this has {len(data)}.")
    prompts, seen = [], set()
    for number, item in enumerate(data, start=1):
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, dict):
            raise ValidationError(f'Prompt {number} must be text or an object with a "text".')
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(f"Prompt {number} has no text.")
        too_long = job_options.prompt_length_problem(text)
        if too_long:
            raise ValidationError(f"Prompt {number}: {too_long}")
        prompt_id = _prompt_id(number, item.get("id"))
        if prompt_id in seen:
            raise ValidationError(
                f"Prompt {number} repeats the id {prompt_id!r}; ids must be unique."
            )
        seen.add(prompt_id)
        prompt = {"id": prompt_id, "text": text.strip()}
        options = item.get("options") or {}
        if not isinstance(options, dict) or set(options) - set(job_options.DRAFT_OPTIONS):
            allowed = ", ".join(sorted(job_options.DRAFT_OPTIONS))
            raise ValidationError(f"Prompt {number} has options other than: {allowed}.")
        try:
            options = job_options.clean_values(options)
        except ValidationError as exc:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise ValidationError(f"Prompt {number}, option {problems}") from None
        if options:
            prompt["options"] = options
        prompts.append(prompt)
    return prompts


def _prompt_id(number, raw):
    """Return a prompt's id as text: the one given (a string or a whole number) or a new one."""
    if raw is None or raw == "":
        return new_prompt_id()
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or len(raw) > MAX_PROMPT_ID_LENGTH or not raw.isprintable():
        raise ValidationError(
            f"Prompt {number} has an id that is not text of 1 to {MAX_PROMPT_ID_LENGTH} characters."
        )
    return raw


def _clean_name(name):
    if name is not None and not isinstance(name, str):
        raise ValidationError({"name": "Give the name as text."})
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the draft a name."})
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError({"name": f"Names are at most {MAX_NAME_LENGTH} characters."})
    return name


# --- Saving ---------------------------------------------------------------------------------


def draft_save(
    *, author, name, prompts, draft=None, visibility=None, note="", base_version=None
) -> Draft:
    """Create a draft or save a new version of one; the version keeps this content forever.

    `prompts` may be raw (strings or objects); they are normalised and validated first.
    `base_version` is the version the editor started from: if someone saved since, the
    save is refused with DraftConflict rather than silently overwriting their work.
    """
    name = _clean_name(name)
    try:
        prompts = normalise_prompts(prompts)
    except ValidationError as exc:
        raise ValidationError({"prompts": exc.messages}) from None
    if not prompts:
        raise ValidationError({"prompts": "Add at least one prompt."})
    if visibility is not None and visibility not in Draft.Visibility.values:
        raise ValidationError({"visibility": "Choose private or shared."})
    if base_version is not None and not is_version_number(base_version):
        raise ValidationError({"base_version": "Send the version you started from, a number."})
    search_text = search_text_for(name, prompts)
    now = timezone.now()
    try:
        with transaction.atomic():
            if draft is None:
                draft = Draft.objects.create(
                    owner=author,
                    name=name,
                    prompts=prompts,
                    visibility=visibility or Draft.Visibility.PRIVATE,
                    version=1,
                    prompt_count=len(prompts),
                    search_text=search_text,
                    created_at=now,
                    updated_at=now,
                )
            else:
                base = draft.version if base_version is None else base_version
                changes = {
                    "name": name,
                    "prompts": prompts,
                    "updated_at": now,
                    "version": base + 1,
                    "prompt_count": len(prompts),
                    "search_text": search_text,
                }
                if visibility:
                    changes["visibility"] = visibility
                if not Draft.objects.filter(pk=draft.pk, version=base).update(**changes):
                    raise DraftConflict
                draft.refresh_from_db()
            DraftVersion.objects.create(
                draft=draft,
                number=draft.version,
                name=name,
                prompts=prompts,
                author=author,
                note=note,
                created_at=now,
            )
            _prune_versions(draft)
    except IntegrityError:
        raise ValidationError({"name": f"You already have a draft named {name!r}."}) from None
    return draft


def is_version_number(value) -> bool:
    """Return whether value can be a version's number (a positive int the database holds)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_VERSION


def _prune_versions(draft):
    """Delete versions older than the newest MAX_VERSIONS that no job or batch points at."""
    old = draft.versions.filter(number__lte=draft.version - MAX_VERSIONS)
    old.filter(jobs__isnull=True, batches__isnull=True).delete()


def search_text_for(name, prompts) -> str:
    """Return the text a draft is found by: its name and prompt texts, folded."""
    texts = (prompt.get("text") for prompt in prompts)
    return fold("\n".join([name, *(text for text in texts if isinstance(text, str))]))


def draft_set_visibility(*, draft, visibility) -> Draft:
    if visibility not in Draft.Visibility.values:
        raise ValidationError({"visibility": "Choose private or shared."})
    Draft.objects.filter(pk=draft.pk).update(visibility=visibility, updated_at=timezone.now())
    draft.visibility = visibility
    return draft


def draft_delete(*, draft) -> None:
    """Delete the draft and its versions; jobs it made keep their prompts, unlinked."""
    Draft.objects.filter(pk=draft.pk).delete()


def draft_restore(*, draft, version, author) -> Draft:
    """Save an old version's content as the newest version."""
    return draft_save(
        author=author,
        draft=draft,
        name=version.name,
        prompts=version.prompts,
        note=f"Restored version {version.number}",
    )


def draft_duplicate(*, draft, user) -> Draft:
    """Copy a draft (a teammate's shared one, say) into user's own library, privately."""
    base = f"Copy of {draft.name}"[:MAX_NAME_LENGTH]
    name, n = base, 2
    while Draft.objects.filter(owner=user, name=name).exists():
        name, n = f"{base} ({n})", n + 1
    return draft_save(
        author=user,
        name=name,
        prompts=draft.prompts,
        note=f"Duplicated from {draft.name} v{draft.version}",
    )


def draft_list(*, user, scope="mine", query=""):
    """Return the seed's get-drafts list for a user: "mine", "shared" or "all" visible."""
    drafts = Draft.objects.select_related("owner")
    if scope == "mine":
        drafts = drafts.mine(user)
    elif scope == "shared":
        drafts = drafts.shared_by_others(user)
    else:
        drafts = drafts.visible_to(user)
    return drafts.search(fold(query.strip())).order_by("name", "pk")


# --- Import, export -------------------------------------------------------------------------


def draft_export(draft) -> dict:
    return {"name": draft.name, "version": draft.version, "prompts": draft.prompts}


def draft_import(*, author, uploaded, name="") -> Draft:
    """Create a draft from an uploaded JSON file: {"name", "prompts"} or a bare array."""
    if uploaded.size > MAX_IMPORT_BYTES:
        raise ValidationError(
            f"The file is {uploaded.size / 1024:.0f} KB; imports are at most "
            f"{MAX_IMPORT_BYTES // 1024} KB."
        )
    try:
        text = uploaded.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("The file is not UTF-8 text.") from None
    data = parse_json(text)
    if isinstance(data, dict):
        name = name or data.get("name", "")
        data = data.get("prompts")
    name = name or (uploaded.name or "Imported draft").rsplit(".", 1)[0]
    return draft_save(author=author, name=name, prompts=data, note="Imported")


# --- Batches: prompts x rows of values ------------------------------------------------------


@dataclass
class PlannedJob:
    prompt_id: str
    text: str
    options: dict
    values: dict = field(default_factory=dict)


@dataclass
class BatchPlan:
    jobs: list[PlannedJob]
    estimated_cost: Decimal
    placeholders: list[str]


def placeholders(text):
    return PLACEHOLDER.findall(text)


def parse_values(csv_text, *, max_rows=None):
    """Parse pasted CSV (a header row of names, then rows of values) into a list of dicts.

    Reading stops past max_rows rows of values: the batch is refused as too large
    without holding the rest.
    """
    if csv_text is not None and not isinstance(csv_text, str):
        raise ValidationError({"values": "Send the values as CSV text."})
    csv_text = (csv_text or "").strip()
    if not csv_text:
        return []
    if len(csv_text) > MAX_VALUES_CHARS:
        raise ValidationError({"values": _values_too_long(len(csv_text))})
    reader = csv.reader(io.StringIO(csv_text))
    try:
        header = [name.strip() for name in next(reader)]
        if any(not PLACEHOLDER.fullmatch(f"{{{{{name}}}}}") for name in header):
            raise ValidationError(
                {"values": "The first CSV row must name the placeholders, e.g. city,season."}
            )
        if len(set(header)) != len(header):
            raise ValidationError({"values": "The CSV names a column twice."})
        values = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ValidationError(
                    {
                        "values": f"CSV line {reader.line_num} has {len(row)} values; the header has {len(header)}."
                    }
                )
            if max_rows is not None and len(values) >= max_rows:
                raise ValidationError({"values": _too_many_jobs()})
            values.append(dict(zip(header, (cell.strip() for cell in row), strict=True)))
    except csv.Error:
        raise ValidationError(
            {"values": f"CSV line {reader.line_num} cannot be read; check its quotes."}
        ) from None
    if not values:
        raise ValidationError({"values": "The CSV has a header but no rows of values."})
    return values


def _values_too_long(length):
    return (
        f"The values are {length:,} characters; paste at most "
        f"{MAX_VALUES_CHARS // 1024} KB ({MAX_VALUES_CHARS:,} characters)."
    )


def _too_many_jobs(count=None):
    limit = settings.BATCH_MAX_JOBS
    would = f"{count:,}" if count is not None else f"more than {limit:,}"
    return f"This would start {would} jobs; a batch runs at most {limit:,}."


def plan_batch(*, version, prompt_ids, options, csv_text="") -> BatchPlan:
    """Expand the chosen prompts of a draft version over the rows of values.

    Every placeholder must have a column and every column a placeholder; the number of
    jobs (rows x prompts) is checked before any is built, and options are validated
    against the catalog for each job, all before anything is created.
    """
    if not isinstance(prompt_ids, list | tuple) or not all(
        isinstance(prompt_id, str) for prompt_id in prompt_ids
    ):
        raise ValidationError({"prompt_ids": "Give the prompts to run as a list of their ids."})
    wanted = set(prompt_ids)
    chosen = [p for p in version.prompts if p["id"] in wanted]
    if not chosen:
        raise ValidationError({"prompts": "Choose at least one prompt to run."})
    limit = settings.BATCH_MAX_JOBS
    if len(chosen) > limit:
        raise ValidationError({"prompts": _too_many_jobs(len(chosen))})
    rows = parse_values(csv_text, max_rows=limit // len(chosen))
    if len(rows or [{}]) * len(chosen) > limit:
        raise ValidationError({"values": _too_many_jobs(len(rows) * len(chosen))})
    used = sorted({name for p in chosen for name in placeholders(p["text"])})
    columns = sorted(rows[0]) if rows else []
    missing = [name for name in used if name not in columns]
    if missing:
        names = ", ".join(f"{{{{{name}}}}}" for name in missing)
        raise ValidationError(
            {"values": f"No values for {names}. Paste a CSV with a column for each placeholder."}
        )
    extra = [name for name in columns if name not in used]
    if extra:
        raise ValidationError(
            {
                "values": f"The CSV column(s) {', '.join(extra)} match no placeholder in the chosen prompts."
            }
        )
    jobs = []
    for values in rows or [{}]:
        for prompt in chosen:
            text = PLACEHOLDER.sub(lambda m, v=values: v[m.group(1)], prompt["text"])
            merged = {
                **options,
                **{k: v for k, v in prompt.get("options", {}).items() if k != "model"},
            }
            merged.setdefault("model", options.get("model"))
            if prompt.get("options", {}).get("model"):
                merged["model"] = prompt["options"]["model"]
            jobs.append(
                PlannedJob(prompt_id=prompt["id"], text=text, options=merged, values=values)
            )
    total = Decimal(0)
    for job in jobs:
        stored = _job_options(job.options)
        # Checked again by job_create; here so that the estimate is never shown for it.
        job_options.check_prompt_length(job.text)
        catalog.validate_options(job.options["model"], stored)
        total += catalog.estimate_cost(
            job.options["model"],
            resolution=stored["resolution"],
            duration_seconds=stored["duration_seconds"],
        )
    return BatchPlan(jobs=jobs, estimated_cost=total, placeholders=used)


def _job_options(options):
    return {k: v for k, v in options.items() if k != "model" and v not in (None, "")}


def draft_run(*, user, draft, version, plan, notify_by_email=False):
    """Create the batch of jobs a plan describes, each linked to its draft version and prompt."""
    specs = [
        {
            "prompt_text": job.text,
            "model": job.options["model"],
            "options": _job_options(job.options),
            "prompt_id": job.prompt_id,
            "draft_version": version,
        }
        for job in plan.jobs
    ]
    label = f"{draft.name} v{version.number} · {len(specs)} job{'s' if len(specs) != 1 else ''}"
    return job_services.batch_create(
        owner=user,
        label=label,
        jobs=specs,
        options={k: v for k, v in (plan.jobs[0].options if plan.jobs else {}).items()},
        draft_version=version,
        notify_by_email=notify_by_email,
    )
