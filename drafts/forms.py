from django import forms
from django.core.exceptions import ValidationError

from jobs.forms import GenerationOptionsForm

from . import services
from .models import Draft


class DraftForm(forms.Form):
    """The draft's name and sharing; the prompts come from the editor's rows or raw JSON."""

    name = forms.CharField(label="Name", max_length=services.MAX_NAME_LENGTH)
    visibility = forms.ChoiceField(
        label="Who can see it", choices=Draft.Visibility.choices, initial=Draft.Visibility.PRIVATE
    )
    base_version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class ImportForm(forms.Form):
    file = forms.FileField(
        label="JSON file",
        help_text='A draft exported from the studio, or a JSON array of prompts (["…", "…"]).',
        widget=forms.ClearableFileInput(attrs={"accept": "application/json,.json"}),
    )


class RunForm(GenerationOptionsForm):
    """Run a draft version's chosen prompts, over optional rows of {{placeholder}} values."""

    prompt_ids = forms.MultipleChoiceField(
        label="Prompts to run", widget=forms.CheckboxSelectMultiple
    )
    values = forms.CharField(
        label="Values for {{placeholders}} (CSV)",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": "city,season\nLisbon,spring\nOslo,winter"}
        ),
        help_text="First line: the placeholder names. Each further line runs every chosen prompt once.",
        max_length=services.MAX_VALUES_CHARS,
        error_messages={
            "max_length": f"Paste at most {services.MAX_VALUES_CHARS // 1024} KB "
            f"({services.MAX_VALUES_CHARS:,} characters) of values."
        },
    )
    notify_by_email = forms.BooleanField(label="Email me when the batch finishes", required=False)

    def __init__(self, *args, version, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version
        self.fields["prompt_ids"].choices = [(p["id"], p["text"]) for p in version.prompts]
        self.fields["prompt_ids"].initial = [p["id"] for p in version.prompts]
        self.plan = None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        options = {"model": data["model"], **self.job_options()}
        try:
            self.plan = services.plan_batch(
                version=self.version,
                prompt_ids=data["prompt_ids"],
                options=options,
                csv_text=data.get("values", ""),
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                self.add_catalog_errors(exc)
            else:
                self.add_error(None, exc)
        return data
