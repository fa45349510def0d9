import dataclasses
from dataclasses import dataclass
from datetime import date

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from . import catalog, frames, options
from .models import TASK_CHOICES
from .veo.base import Task

# The tasks the create form starts; extend, edit and upscale start from a finished job.
CREATE_TASKS = (Task.TEXT, Task.IMAGE, Task.REFERENCES)
TASK_LABELS = dict(TASK_CHOICES)
IMAGE_TYPES = "image/png,image/jpeg,image/webp"
SEED_MAX = 2**32 - 1
# A switch the model has a default for: left at "", the job leaves it to the model.
SWITCH_CHOICES = [("", "The model's default"), ("on", "On"), ("off", "Off")]
SWITCH = {"on": True, "off": False}


@dataclass(frozen=True)
class Offer:
    """What one model accepts, as the forms show it: its tasks with their limits, its flags."""

    # Task name -> its limits ({"images": n, "durations": [...], "chain_max_seconds": n}).
    tasks: dict = dataclasses.field(default_factory=dict)
    seed: bool = False
    negative_prompt: bool = True
    audio_toggle: bool = False
    sample_counts: tuple[int, ...] = (1,)
    enhance_prompt: bool = False
    warning: str = ""

    def offers(self, task) -> bool:
        return str(task) in self.tasks

    def limit(self, task, name, default=None):
        return (self.tasks.get(str(task)) or {}).get(name, default)

    def images(self, task) -> int:
        return int(self.limit(task, "images", 0) or 0)

    def create_tasks(self):
        return [task for task in CREATE_TASKS if self.offers(task)]

    def video_tasks(self):
        return [task for task in (Task.EXTEND, Task.EDIT, Task.UPSCALE) if self.offers(task)]


def offer(model) -> Offer:
    """Return what the catalog says this model accepts (an unknown model: text alone)."""
    spec = catalog.models().get(model)
    if spec is None:
        return Offer(tasks={Task.TEXT.value: {}})
    return Offer(
        tasks={str(task): dict(limits) for task, limits in catalog.tasks_of(model).items()},
        seed=spec.seed,
        negative_prompt=spec.negative_prompt,
        audio_toggle=spec.audio_toggle,
        sample_counts=spec.sample_counts,
        enhance_prompt=spec.enhance_prompt,
        warning=catalog.retirement_warning(model) or "",
    )


class MultipleImagesInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class ImagesField(forms.FileField):
    """Several image files from one file input, each checked like a frame."""

    widget = MultipleImagesInput

    def clean(self, data, initial=None):
        files = [f for f in (data if isinstance(data, (list, tuple)) else [data]) if f]
        return [super(ImagesField, self).clean(f, initial) for f in files]


def _choices(values, fmt="{}"):
    return [(v, fmt.format(v)) for v in values]


class GenerationOptionsForm(forms.Form):
    """The model and its options, offered from the catalog and checked against it."""

    model = forms.ChoiceField(label="Model")
    aspect_ratio = forms.ChoiceField(label="Aspect ratio")
    resolution = forms.ChoiceField(label="Resolution")
    duration_seconds = forms.TypedChoiceField(label="Duration", coerce=int)
    negative_prompt = forms.CharField(
        label="Negative prompt",
        required=False,
        max_length=options.NEGATIVE_PROMPT_MAX_CHARS,
        widget=forms.TextInput(attrs={"placeholder": "What to avoid, e.g. text, cartoon"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        specs = catalog.offered(settings.VEO_PROVIDER)
        choices = [(name, spec.label) for name, spec in specs.items()]
        # Never another model in VEO_MODEL's place (start-up refuses one it cannot use):
        # should it retire while the studio runs, the person chooses, nothing is preselected.
        if options.default_model() not in specs:
            choices.insert(0, ("", "Choose a model"))
        self.fields["model"].choices = choices
        self.fields["model"].initial = options.default_model()
        everything = {f: set() for f in ("aspect_ratios", "resolutions", "durations")}
        for spec in specs.values():
            for field in everything:
                everything[field].update(getattr(spec, field))
        self.fields["aspect_ratio"].choices = _choices(sorted(everything["aspect_ratios"]))
        self.fields["resolution"].choices = _choices(
            sorted(everything["resolutions"], key=lambda r: (len(r), r))
        )
        self.fields["duration_seconds"].choices = _choices(
            sorted(everything["durations"]), "{} seconds"
        )
        for name, value in options.defaults().items():
            self.fields[name].initial = value

    def job_options(self):
        data = self.cleaned_data
        return {
            "aspect_ratio": data["aspect_ratio"],
            "resolution": data["resolution"],
            "duration_seconds": data["duration_seconds"],
            "negative_prompt": data["negative_prompt"],
        }

    def add_catalog_errors(self, error):
        """Show a ValidationError from the catalog or job_create on the fields it names."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, messages in error.message_dict.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)


class JobForm(GenerationOptionsForm):
    """The create form: the fields the chosen model and task accept, and no others.

    The model and task come from the data sent (or the initial values, for a page that
    shows the fields of a model just chosen), so the fields a model or task does not take
    are not in the form at all: not rendered, not read. A task the model does not offer
    is an error on `task`.
    """

    task = forms.ChoiceField(
        label="Task",
        required=False,  # left out: text to video, as before tasks
        error_messages={
            "invalid_choice": "This model does not offer that task; choose one of those listed."
        },
    )
    seed = forms.IntegerField(
        label="Seed (optional)",
        required=False,
        min_value=0,
        max_value=SEED_MAX,
        help_text="The same seed, prompt and options give a similar video again.",
    )
    generate_audio = forms.TypedChoiceField(
        label="Audio",
        choices=SWITCH_CHOICES,
        coerce=SWITCH.get,
        required=False,
        empty_value=None,
    )
    sample_count = forms.TypedChoiceField(
        label="Videos per request", coerce=int, required=False, empty_value=None
    )
    enhance_prompt = forms.TypedChoiceField(
        label="Prompt enhancement",
        choices=SWITCH_CHOICES,
        coerce=SWITCH.get,
        required=False,
        empty_value=None,
        help_text="Google may rewrite the prompt to add detail.",
    )
    reference_images = ImagesField(
        label="Reference images",
        required=False,
        widget=MultipleImagesInput(attrs={"accept": IMAGE_TYPES}),
    )
    prompt_text = forms.CharField(
        label="Prompt",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Describe the shot…"}),
        help_text="Describe the video: subject, action, camera, light, sound.",
        error_messages={"required": "Write a prompt: Veo needs a description of the video."},
    )
    image = forms.FileField(
        label="First frame (optional)",
        required=False,
        help_text="A PNG, JPEG or WebP still for Veo to start the video from.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    last_frame = forms.FileField(
        label="Last frame (optional)",
        required=False,
        help_text="A still to end on; needs a first frame.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )

    field_order = [
        "prompt_text",
        "model",
        "task",
        "aspect_ratio",
        "resolution",
        "duration_seconds",
        "negative_prompt",
        "seed",
        "generate_audio",
        "sample_count",
        "enhance_prompt",
        "image",
        "last_frame",
        "reference_images",
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        chosen = self.data if self.is_bound else self.initial
        models = dict(self.fields["model"].choices)
        model = chosen.get("model")
        self.model_name = model if model in models else self.fields["model"].initial
        self.offer = offer(self.model_name)
        tasks = self.offer.create_tasks()
        self.fields["task"].choices = [(t.value, TASK_LABELS[t]) for t in tasks]
        self.fields["task"].initial = tasks[0].value
        task = chosen.get("task")
        if not task and self.files and {"image", "last_frame"} & set(self.files):
            task = Task.IMAGE.value  # a form from before tasks, sent with its frames
        self.task = task if task in {t.value for t in tasks} else tasks[0].value
        self._shape_to_offer()
        if self.offer.warning:
            self.fields["model"].widget.attrs["aria-describedby"] = "model-warning"
        # Shown and kept by the browser; job_create enforces it, with the same message.
        limit = options.prompt_max_chars()
        prompt = self.fields["prompt_text"]
        prompt.max_length = limit
        prompt.widget.attrs["maxlength"] = limit
        prompt.help_text += f" Up to {limit:,} characters (Veo reads at most 1,024 tokens)."

    def _shape_to_offer(self):
        """Leave out the fields the chosen model and task do not take; size the others."""
        offer, task = self.offer, self.task
        drop = set()
        if task != Task.IMAGE:
            drop |= {"image", "last_frame"}
        elif offer.images(Task.IMAGE) < 2:
            drop.add("last_frame")
        limit = offer.images(Task.REFERENCES)
        if task != Task.REFERENCES or not limit:
            drop.add("reference_images")
        else:
            references = self.fields["reference_images"]
            references.help_text = (
                f"Up to {limit} PNG, JPEG or WebP images of a subject, a character or a style "
                "for the video to keep."
            )
        for name in ("seed", "negative_prompt", "enhance_prompt"):
            if not getattr(offer, name):
                drop.add(name)
        if not offer.audio_toggle:
            drop.add("generate_audio")
        if len(offer.sample_counts) > 1:
            self.fields["sample_count"].choices = _choices(offer.sample_counts)
            self.fields["sample_count"].initial = offer.sample_counts[0]
        else:
            drop.add("sample_count")
        for name in drop:
            self.fields.pop(name, None)
        if task == Task.IMAGE:
            self.fields["image"].label = "First frame"

    def more_fields(self):
        """Return the fields after the shot's shape that this model and task take, in order."""
        shown = ("model", "task", "prompt_text", *options.SHAPE)
        return [self[name] for name in self.fields if name not in shown]

    @property
    def cache_key(self):
        """What the rendered fields of an empty form depend on, for the fragment cache."""
        return repr((self.model_name, self.task, list(self.fields), self.offer))

    def job_options(self):
        data = self.cleaned_data
        values = {name: data[name] for name in options.SHAPE}
        if "negative_prompt" in self.fields:
            values["negative_prompt"] = data["negative_prompt"]
        if data.get("seed") is not None:
            values["seed"] = data["seed"]
        for name in ("generate_audio", "enhance_prompt", "sample_count"):
            if name in self.fields and data.get(name) is not None:
                values[name] = data[name]
        return values

    def job_task(self):
        return self.cleaned_data.get("task") or self.task

    def clean_task(self):
        return self.cleaned_data.get("task") or self.task

    def _clean_frame(self, name):
        uploaded = self.cleaned_data.get(name)
        if not uploaded:
            return None
        return frames.read_frame(uploaded, max_bytes=settings.VEO_IMAGE_MAX_BYTES)

    def clean_image(self):
        return self._clean_frame("image")

    def clean_last_frame(self):
        return self._clean_frame("last_frame")

    def clean_reference_images(self):
        uploads = self.cleaned_data.get("reference_images") or []
        limit = self.offer.images(Task.REFERENCES)
        if len(uploads) > limit:
            raise ValidationError(
                f"{catalog.models()[self.model_name].label} takes at most {limit} reference "
                f"images; you chose {len(uploads)}."
            )
        return [frames.read_frame(f, max_bytes=settings.VEO_IMAGE_MAX_BYTES) for f in uploads]

    def clean(self):
        data = super().clean()
        task = data.get("task")
        if task == Task.IMAGE and not self.files.get("image") and not self.files.get("last_frame"):
            self.add_error("image", "Choose a first frame: image to video starts from it.")
        if task == Task.REFERENCES and not self.files.getlist("reference_images"):
            self.add_error("reference_images", "Choose at least one reference image.")
        if not self.errors:
            try:
                catalog.validate_options(
                    data["model"],
                    self.job_options(),
                    has_image=data.get("image") is not None,
                    has_last_frame=data.get("last_frame") is not None,
                )
            except ValidationError as exc:
                self.add_catalog_errors(exc)
        return data


class FromVideoForm(forms.Form):
    """Extend, edit or upscale a finished job's video: a child job, linked to it."""

    prompt_text = forms.CharField(
        label="Prompt",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    LABELS = {
        Task.EXTEND: ("What happens next (optional)", "Left empty, the video's own prompt."),
        Task.EDIT: ("What to change", "An instruction, e.g. make it night, add rain."),
        Task.UPSCALE: ("Prompt (optional)", "Left empty, the video's own prompt."),
    }

    def __init__(self, *args, task, parent, **kwargs):
        kwargs.setdefault("prefix", str(task))
        super().__init__(*args, **kwargs)
        self.task, self.parent = Task(task), parent
        prompt = self.fields["prompt_text"]
        prompt.label, prompt.help_text = self.LABELS[self.task]
        limit = options.prompt_max_chars()
        prompt.max_length = limit
        prompt.widget.attrs["maxlength"] = limit
        if self.task == Task.EDIT:
            prompt.required = True
            prompt.error_messages["required"] = "Say what to change: an edit needs an instruction."

    @property
    def url_name(self):
        return f"jobs:{self.task}"

    @property
    def title(self):
        return {Task.EXTEND: "Extend", Task.EDIT: "Edit", Task.UPSCALE: "Upscale"}[self.task]

    def job_prompt(self):
        return self.cleaned_data.get("prompt_text", "").strip() or self.parent.prompt_text

    def job_options(self):
        return child_options(self.parent, self.task)


def child_options(parent, task) -> dict:
    """Return a child job's options: its parent's, fitted to the task's limits.

    An upscale asks for the largest resolution the task lists; a duration or resolution
    the task does not list becomes the first it does.
    """
    limits = offer(parent.model)
    values = dict(parent.options or {})
    durations = limits.limit(task, "durations")
    if durations and values.get("duration_seconds") not in durations:
        values["duration_seconds"] = int(durations[0])
    resolutions = limits.limit(task, "resolutions")
    if task == Task.UPSCALE and resolutions:
        values["resolution"] = resolutions[-1]
    elif resolutions and values.get("resolution") not in resolutions:
        values["resolution"] = resolutions[0]
    return values


class UsageForm(forms.Form):
    PRESETS = [
        ("this-month", "This month"),
        ("last-month", "Last month"),
        ("last-7-days", "Last 7 days"),
        ("last-30-days", "Last 30 days"),
        ("custom", "From … to …"),
    ]
    MAX_DAYS = 366

    period = forms.ChoiceField(
        label="Period", choices=PRESETS, initial="this-month", required=False
    )
    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    scope = forms.ChoiceField(
        label="Whose", choices=[("mine", "Mine"), ("team", "The whole team")], required=False
    )

    def clean(self):
        data = super().clean()
        if data.get("period") == "custom":
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                raise ValidationError("Give both dates for a custom period.")
            if start > end:
                raise ValidationError("The period's start is after its end.")
            if end >= date.max:
                # The period ends at midnight after its last day, past the calendar's end.
                self.add_error("end", f"Choose an end before {date.max:%Y-%m-%d}.")
            elif (end - start).days >= self.MAX_DAYS:
                raise ValidationError(f"Choose at most {self.MAX_DAYS} days.")
        return data
