"""A person's own settings pages: the personal API tokens scripts use."""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods

from jobs.models import ApiToken

from . import tokens


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What the token is for, e.g. “nightly render script”.",
        error_messages={"required": "Name the token, so you can tell it apart later."},
    )
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        choices=[
            ("", "Never"),
            (7, "In 7 days"),
            (30, "In 30 days"),
            (90, "In 90 days"),
            (365, "In a year"),
        ],
        coerce=int,
        empty_value=None,
        required=False,
        initial=90,
    )
    scope = forms.ChoiceField(
        label="Access",
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ_WRITE,
        required=False,
        help_text="A read-only token may list and fetch jobs and videos but change nothing.",
    )

    def expires_at(self):
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None


@sensitive_variables("raw", "context")
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    """List the person's tokens; make one (its value shown once) or revoke one."""
    if request.method == "POST" and "revoke" in request.POST:
        return _revoke(request, request.POST["revoke"])
    form = ApiTokenForm(request.POST or None)
    raw = None
    if form.is_valid():
        token, raw = tokens.token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            expires_at=form.expires_at(),
            scope=form.cleaned_data["scope"] or ApiToken.Scope.READ_WRITE,
        )
        messages.success(request, f"Made the token “{token.name}”. Copy it now.")
        form = ApiTokenForm()
    context = {
        "form": form,
        "raw_token": raw,
        "tokens": ApiToken.objects.filter(user=request.user),
    }
    response = render(request, "jobs/tokens.html", context, status=400 if form.errors else 200)
    # The page may carry a token's only showing: keep it out of every cache.
    patch_cache_control(response, no_store=True)
    return response


def _revoke(request, token_id):
    # isdigit() is true of "²" and other digits int() refuses; only 0-9 make an id.
    if not (token_id.isascii() and token_id.isdecimal()):
        raise Http404("No such token.")
    token = get_object_or_404(ApiToken, user=request.user, pk=token_id)
    if tokens.token_revoke(token=token):
        messages.success(request, f"Revoked “{token.name}”: scripts using it are refused now.")
    else:
        messages.info(request, f"“{token.name}” was already revoked.")
    return redirect("api-tokens")
