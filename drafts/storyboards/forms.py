from django import forms

from jobs import catalog, options

from . import services
from .models import Shot, Visibility


def _model_choices():
    return [(name, spec.label) for name, spec in catalog.offered().items()]


class StoryboardForm(forms.Form):
    """A storyboard's name, defaults and sharing."""

    name = forms.CharField(label="Name", max_length=services.MAX_NAME_LENGTH)
    model = forms.ChoiceField(label="Model")
    aspect_ratio = forms.ChoiceField(
        label="Aspect ratio", choices=[("16:9", "16:9 landscape"), ("9:16", "9:16 portrait")]
    )
    resolution = forms.ChoiceField(
        label="Resolution", choices=[(r, r) for r in ("360p", "720p", "1080p", "4k")]
    )
    visibility = forms.ChoiceField(label="Who can see it", choices=Visibility.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = _model_choices()
        self.fields["model"].initial = options.default_model()
        self.fields["resolution"].initial = "720p"


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented recipe); cleaned to a list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleImageInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if not data:
            return super().clean(None, initial) or []
        files = data if isinstance(data, (list, tuple)) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class ShotForm(forms.Form):
    """What a shot shows and how it is made; images for a first frame or references."""

    prompt = forms.CharField(label="Prompt", widget=forms.Textarea(attrs={"rows": 3}))
    task = forms.ChoiceField(label="How it starts", choices=Shot.Task.choices)
    duration_seconds = forms.IntegerField(label="Seconds", min_value=1, max_value=60, initial=8)
    seed = forms.IntegerField(label="Seed", required=False, min_value=0, max_value=2**32 - 1)
    negative_prompt = forms.CharField(
        label="Avoid", required=False, max_length=options.NEGATIVE_PROMPT_MAX_CHARS
    )
    notes = forms.CharField(
        label="Notes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=services.MAX_NOTES_LENGTH,
    )
    images = MultipleFileField(
        label="Images (a first frame, or references)",
        required=False,
        widget=MultipleImageInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    position = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    @property
    def cache_key(self):
        """What the rendered fields of an empty form depend on, for the fragment cache."""
        fields = [(name, field.initial, field.widget.attrs) for name, field in self.fields.items()]
        return repr((self.initial, fields))

    def shot_values(self) -> dict:
        data = self.cleaned_data
        extra = {}
        if data.get("seed") is not None:
            extra["seed"] = data["seed"]
        if data.get("negative_prompt"):
            extra["negative_prompt"] = data["negative_prompt"]
        return {
            "prompt": data["prompt"],
            "task": data["task"],
            "duration_seconds": data["duration_seconds"],
            "notes": data.get("notes", ""),
            "options": extra,
        }


class TrimForm(forms.Form):
    trim_in = forms.DecimalField(label="In (s)", min_value=0, decimal_places=3, required=False)
    trim_out = forms.DecimalField(label="Out (s)", min_value=0, decimal_places=3, required=False)
