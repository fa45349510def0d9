from django import forms

from jobs.models import sees_all_jobs

from .models import Event, WebhookEndpoint


class EndpointForm(forms.Form):
    """An endpoint's settings; the services check the URL's address and the team flag."""

    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="An https:// address on the public internet, e.g. a Slack incoming webhook.",
        error_messages={"required": "Enter the URL the events are sent to."},
    )
    description = forms.CharField(label="Description", max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label="Events",
        choices=Event.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )
    format = forms.ChoiceField(
        label="Body",
        choices=WebhookEndpoint.Format.choices,
        initial=WebhookEndpoint.Format.STANDARD,
        help_text="Slack's incoming webhooks take a message with a link back to the studio.",
    )
    for_team = forms.BooleanField(
        label="The whole team's events",
        required=False,
        help_text="Send everyone's jobs, batches and the team's budget, not only yours.",
    )
    is_active = forms.BooleanField(label="Active", required=False, initial=True)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if not sees_all_jobs(user):
            del self.fields["for_team"]

    @classmethod
    def of(cls, endpoint, *, user):
        """Return the form filled in with an endpoint's settings."""
        fields = ["url", "description", "events", "format", "for_team", "is_active"]
        return cls(initial={name: getattr(endpoint, name) for name in fields}, user=user)
