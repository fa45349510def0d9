from datetime import date

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from . import catalog, frames, options


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
        "aspect_ratio",
        "resolution",
        "duration_seconds",
        "negative_prompt",
        "image",
        "last_frame",
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Shown and kept by the browser; job_create enforces it, with the same message.
        limit = options.prompt_max_chars()
        prompt = self.fields["prompt_text"]
        prompt.max_length = limit
        prompt.widget.attrs["maxlength"] = limit
        prompt.help_text += f" Up to {limit:,} characters (Veo reads at most 1,024 tokens)."

    def _clean_frame(self, name):
        uploaded = self.cleaned_data.get(name)
        if not uploaded:
            return None
        return frames.read_frame(uploaded, max_bytes=settings.VEO_IMAGE_MAX_BYTES)

    def clean_image(self):
        return self._clean_frame("image")

    def clean_last_frame(self):
        return self._clean_frame("last_frame")

    def clean(self):
        data = super().clean()
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
