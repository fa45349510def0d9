"""The API's shapes, one definition each for validation, answers and the OpenAPI document.

Bodies are camelCase on the wire (the seed's VideoCreationJob, VideoResource, JsonDraft)
and snake_case in Python. A request body naming a field this API does not know is a 400
naming it; the messages a person reads come from the validators here and from
videostudio.api's translation of pydantic's errors.
"""

from typing import Any, Literal

from django.urls import reverse
from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    create_model,
    field_validator,
)
from pydantic.alias_generators import to_camel

from jobs import options
from jobs.models import TASK_CHOICES, VideoCreationJob
from videostudio.envelope import CamelSchema, InputSchema, Timestamp

PROMPT_NEEDED = "Write a prompt: Veo needs a description of the video."
FRAME_HINT = 'Use {"data": "<base64>", "mimeType": "image/png"}.'
OPTIONS_HINT = 'Use an object, e.g. {"resolution": "720p"}.'
PROMPT_ID_MAX_CHARS = 255
JobStatus = Literal[tuple(VideoCreationJob.Status.values)]
TaskName = Literal[tuple(value for value, _label in TASK_CHOICES)]
SEED_MAX = 2**32 - 1
# More than any model takes: the catalog's limit is checked with the model known.
REFERENCE_IMAGES_MAX = 10


# An example of each option, from the catalog's first model; the catalog decides the rest.
OPTION_EXAMPLES = {
    "model": "veo-3.1-fast-generate-preview",
    "aspect_ratio": "16:9",
    "resolution": "720p",
    "duration_seconds": 8,
    "negative_prompt": "text, logos",
    "sample_count": 1,
    "person_generation": "allow_all",
    "seed": 42,
    "generate_audio": True,
    "enhance_prompt": True,
}


def _options_schema(name, *, doc, leave_out=()):
    """Return the options object: every option of jobs.options (but leave_out), camelCase,
    optional."""
    fields = {}
    for option in options.OPTIONS.values():
        if option.name in leave_out:
            continue
        examples = [OPTION_EXAMPLES[option.name]] if option.name in OPTION_EXAMPLES else None
        if option.kind is bool:
            annotation = StrictBool | None
            field = Field(None, examples=examples)
        elif option.kind is int:
            annotation = StrictInt | None
            # Veo on Vertex takes a seed as a uint32.
            largest = SEED_MAX if option.name == "seed" else 2**31 - 1
            field = Field(None, ge=0, le=largest, examples=examples)
        else:
            annotation = StrictStr | None
            field = Field(None, max_length=option.max_chars, examples=examples)
        fields[option.name] = (annotation, field)
    return create_model(name, __base__=InputSchema, __doc__=doc, **fields)


JobOptionsIn = _options_schema(
    "JobOptionsIn",
    doc="A job's options; each left out takes the default (16:9, 720p, 8 s, the studio's model).",
)
RunOptionsIn = _options_schema(
    "RunOptionsIn", doc="Options for every job of a run, over each prompt's own."
)
# A storyboard's shape and a shot's length are set on the storyboard and the shot.
ShotOptionsIn = _options_schema(
    "ShotOptionsIn",
    doc="A shot's further options; left out: the model's defaults, the storyboard's model.",
    leave_out=("aspect_ratio", "resolution", "duration_seconds"),
)


def an_object(cls, value):
    """Refuse options that are not an object, with an example of one."""
    if value is not None and not isinstance(value, dict):
        raise ValueError(OPTIONS_HINT)
    return value


def stored_options(options) -> dict:
    """Return the options a request set, by stored (snake_case) name."""
    return options.model_dump(exclude_none=True) if options is not None else {}


class FrameIn(InputSchema):
    """An image as base64, for the first or last frame."""

    data: StrictStr = Field(description="The image file (PNG, JPEG or WebP), base64-encoded.")
    mime_type: StrictStr | None = Field(None, description="Checked against the data if given.")


class JobIn(InputSchema):
    """The seed's createVideo(promptId, promptText), with options and frames."""

    model_config = ConfigDict(
        json_schema_extra={
            "required": ["promptText"],
            "examples": [
                {"promptText": "A heron lifts off a misty lake", "promptId": "heron-1"},
                {"promptText": "A lighthouse at dusk", "options": {"durationSeconds": 4}},
            ],
        }
    )

    prompt_text: StrictStr = Field(None, validate_default=True, description="What Veo draws.")
    prompt_id: StrictStr | None = Field(None, min_length=1, max_length=PROMPT_ID_MAX_CHARS)
    options: JobOptionsIn | None = None
    image: FrameIn | None = None
    last_frame: FrameIn | None = None
    task: TaskName | None = Field(
        None,
        description="What the job does; left out: image_to_video with an image, "
        "reference_to_video with referenceImages, text_to_video otherwise. extend, edit "
        "and upscale need parentId.",
    )
    parent_id: StrictStr | None = Field(
        None, description="The finished job whose video an extend, edit or upscale starts from."
    )
    reference_images: list[FrameIn] | None = Field(
        None,
        max_length=REFERENCE_IMAGES_MAX,
        description="For reference_to_video: images of a subject or style, up to the model's limit.",
    )
    seed: StrictInt | None = Field(
        None, ge=0, le=SEED_MAX, description="Where the model takes one."
    )
    generate_audio: StrictBool | None = Field(
        None, description="Audio on or off, where the model lets you choose; left out: its default."
    )
    enhance_prompt: StrictBool | None = Field(
        None, description="Let Google rewrite the prompt, where the model offers it."
    )

    @field_validator("prompt_text", mode="before")
    @classmethod
    def _prompt(cls, value):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(PROMPT_NEEDED)
        # Its length is job_create's to check, as for every other way in (jobs.options).
        return value.strip()

    _options = field_validator("options", mode="before")(an_object)

    @field_validator("image", "last_frame", mode="before")
    @classmethod
    def _frame(cls, value):
        if value is not None and (
            not isinstance(value, dict) or not isinstance(value.get("data"), str)
        ):
            raise ValueError(FRAME_HINT)
        return value

    @field_validator("reference_images", mode="before")
    @classmethod
    def _references(cls, value):
        if value is not None and (
            not isinstance(value, list)
            or not all(isinstance(v, dict) and isinstance(v.get("data"), str) for v in value)
        ):
            raise ValueError(f"Use a list of images, each {FRAME_HINT[4:]}")
        return value


class JobCreatedOut(CamelSchema):
    job_id: str


class JobFilters(CamelSchema):
    limit: int = Field(20, ge=1, description="Page size, 1 to 100 (more is taken as 100).")
    status: JobStatus | None = None
    cursor: str | None = Field(None, description="The `nextCursor` of the page before.")


class ResourceOut(CamelSchema):
    """The seed's VideoResource; `url` is the API path that serves the file."""

    id: str
    job_id: str
    type: Literal["image", "video", "audio", "transcript"]
    url: str
    filename: str
    file_path: str | None
    created_at: Timestamp

    @classmethod
    def of(cls, resource):
        return cls(
            id=resource.pk,
            job_id=resource.job_id,
            type=resource.type,
            url=reverse("api:resource", args=[resource.job_id, resource.pk]),
            filename=resource.filename,
            file_path=resource.file_path,
            created_at=resource.created_at,
        )


class OriginOut(CamelSchema):
    """Where a job came from: its draft, the version run, the prompt, batch, retried job."""

    draft_id: str | None
    draft_version_id: str | None
    draft_version: int | None
    prompt_id: str | None
    batch_id: str | None
    retry_of: str | None

    @classmethod
    def of(cls, job):
        """Reads the version's number: a list should select it (`select_related`)."""
        version = job.draft_version if job.draft_version_id else None
        return cls(
            draft_id=job.draft_id,
            draft_version_id=job.draft_version_id,
            draft_version=version.number if version else None,
            prompt_id=job.prompt_id if job.draft_id else None,
            batch_id=job.batch_id,
            retry_of=job.retry_of_id,
        )


class JobOut(CamelSchema):
    """The seed's VideoCreationJob with its resources, plus what a script needs besides.

    The provider's operation name and the lease and heartbeat fields stay internal.
    """

    id: str
    prompt_id: str | None
    prompt_text: str
    status: JobStatus
    progress: int
    video_url: str | None
    error: str | None
    created_at: Timestamp
    completed_at: Timestamp | None
    resources: list[ResourceOut]
    model: str
    options: dict[str, Any] = Field(description="The options, camelCase, as the job ran.")
    stage: str
    retry_of: str | None
    estimated_cost_usd: str
    origin: OriginOut
    task: TaskName = Field(description="What the job does.")
    parent_id: str | None = Field(
        description="The job whose video this one extends, edits or upscales."
    )
    children: list[str] = Field(
        description="The jobs made from this one's video (extend, edit, upscale), oldest first."
    )
    visibility: Literal["private", "shared"] = Field(
        description="Who sees it besides its owner: nobody, or the team (its batch may share it too)."
    )
    owner: str = Field(description="The username of the person whose job it is.")

    @classmethod
    def of(cls, job):
        """Reads the children's ids: a list should prefetch them (`prefetch_related`)."""
        return cls(
            id=job.pk,
            prompt_id=job.prompt_id,
            prompt_text=job.prompt_text,
            status=job.status,
            progress=job.progress,
            video_url=reverse("api:video", args=[job.pk]) if job.video_url else None,
            error=job.error,
            created_at=job.created_at,
            completed_at=job.completed_at,
            resources=[ResourceOut.of(r) for r in job.resources.all()],
            model=job.model,
            options={to_camel(key): value for key, value in (job.options or {}).items()},
            stage=job.stage,
            retry_of=job.retry_of_id,
            estimated_cost_usd=str(job.estimated_cost_usd),
            origin=OriginOut.of(job),
            task=job.task,
            parent_id=job.parent_id,
            children=[child.pk for child in job.children.all()],
            visibility=job.visibility,
            owner=job.owner.get_username(),
        )


class CountsOut(CamelSchema):
    total: int
    idle: int
    processing: int
    completed: int
    failed: int


class BatchOut(CamelSchema):
    """A batch's live summary and its jobs' ids: poll it until `finished`."""

    id: str
    label: str
    created_at: Timestamp
    draft_version_id: str | None
    counts: CountsOut
    progress: int
    finished: bool
    job_ids: list[str]
    visibility: Literal["private", "shared"] = Field(
        description="Who sees the batch and its jobs besides its owner: nobody, or the team."
    )


class VisibilityIn(InputSchema):
    """Share a job or a batch with the team, or make it private again (its owner's)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"visibility": "shared"}]})

    visibility: Literal["private", "shared"]


# --- Drafts --------------------------------------------------------------------------

Visibility = Literal["private", "shared"]
# A prompt is a string, or {"id", "text", "options"} (drafts.services checks the rest).
Prompts = list[StrictStr | dict[str, Any]]


class DraftEcho(CamelSchema):
    """A draft's body: a field this API does not know is refused, naming it; the fields a
    draft's answer carries are taken and ignored, so a draft read can be sent back as is
    (the seed's updateDraft sends a Partial<JsonDraft>)."""

    model_config = ConfigDict(extra="forbid")

    id: Any = Field(None, description="Read-only: ignored.")
    created_at: Any = Field(None, description="Read-only: ignored.")
    updated_at: Any = Field(None, description="Read-only: ignored.")
    version: Any = Field(None, description="Read-only: ignored (see baseVersion).")
    owner: Any = Field(None, description="Read-only: ignored.")
    can_edit: Any = Field(None, description="Read-only: ignored.")
    versions: Any = Field(None, description="Read-only: ignored.")


class DraftIn(DraftEcho):
    """The seed's saveDraft: a name and prompts; `visibility` private (default) or shared."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Launch", "prompts": ["A rocket", {"id": "p2", "text": "A crowd"}]}
            ]
        }
    )

    name: StrictStr = ""
    prompts: Prompts = Field(None, max_length=10_000)
    visibility: Visibility | None = None


class DraftUpdateIn(DraftEcho):
    """A new version of a draft: any field left out keeps its value."""

    name: StrictStr = Field(None, description="Left out: unchanged. Not null.")
    prompts: Prompts = Field(None, max_length=10_000, description="Left out: unchanged.")
    visibility: Visibility | None = None
    base_version: StrictInt | None = Field(
        None, description="The version the edit started from: a 409 if someone saved since."
    )


class RunIn(CamelSchema):
    """Run a draft's version: prompts x rows of values, one job each, as one batch."""

    model_config = ConfigDict(extra="forbid")

    version: StrictInt | None = Field(None, description="Default: the latest version.")
    prompt_ids: list[StrictStr] | None = Field(None, description="Default: every prompt.")
    options: RunOptionsIn | None = None
    values: StrictStr = Field("", description="CSV: a header of placeholders, a row per job.")
    notify_by_email: StrictBool = False

    _options = field_validator("options", mode="before")(an_object)


class VersionOut(CamelSchema):
    number: int
    created_at: Timestamp
    note: str


class DraftOut(CamelSchema):
    """The seed's JsonDraft, with its version, visibility, owner and whether you may edit."""

    id: str
    name: str
    prompts: list[Any]
    created_at: Timestamp
    updated_at: Timestamp
    version: int
    visibility: Visibility
    owner: str
    can_edit: bool


class DraftDetailOut(DraftOut):
    versions: list[VersionOut]


class RunOut(CamelSchema):
    batch_id: str
    job_ids: list[str]
    estimated_cost_usd: str
