"""The webhooks settings pages: a person's endpoints, their secrets and delivery logs."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from . import services
from .access import get_delivery_for_user, get_endpoint_for_user
from .forms import EndpointForm
from .models import WebhookEndpoint

LOG_ROWS = 50


def _save(form, save):
    """Call save(**cleaned data) if the form is valid; put the services' errors on it."""
    if not form.is_valid():
        return None
    try:
        return save(**form.cleaned_data)
    except ValidationError as exc:
        form.add_error(None, exc)
        return None


def _private(response):
    # A page may carry a secret: keep it out of every cache.
    patch_cache_control(response, no_store=True, private=True)
    return response


@sensitive_variables("context")
@require_http_methods(["GET", "POST"])
def endpoint_list(request):
    """List the person's endpoints; register one (its secret shown once)."""
    form = EndpointForm(request.POST if request.method == "POST" else None, user=request.user)
    created = None
    if request.method == "POST":
        created = _save(
            form, lambda **fields: services.endpoint_create(owner=request.user, **fields)
        )
        if created:
            messages.success(request, "Registered the endpoint. Copy its secret now.")
            form = EndpointForm(user=request.user)
    context = {
        "form": form,
        "created": created,
        "endpoints": WebhookEndpoint.objects.filter(owner=request.user),
    }
    status = 400 if form.errors else 200
    return _private(render(request, "jobs/webhooks.html", context, status=status))


def _detail(request, endpoint, form, *, secret=False, status=200):
    deliveries = endpoint.deliveries.prefetch_related("attempt_log")[:LOG_ROWS]
    context = {"endpoint": endpoint, "form": form, "deliveries": deliveries, "secret": secret}
    return _private(render(request, "jobs/webhook.html", context, status=status))


@require_http_methods(["GET", "POST"])
def endpoint_detail(request, pk):
    """Show an endpoint's settings and delivery log; change its settings."""
    endpoint = get_endpoint_for_user(request.user, pk)
    if request.method == "GET":
        return _detail(request, endpoint, EndpointForm.of(endpoint, user=request.user))
    form = EndpointForm(request.POST, user=request.user)
    if _save(form, lambda **fields: services.endpoint_update(endpoint=endpoint, **fields)):
        messages.success(request, "Saved the endpoint.")
        return redirect(endpoint)
    endpoint.refresh_from_db()
    return _detail(request, endpoint, form, status=400)


@sensitive_variables("endpoint")
@require_POST
def endpoint_secret(request, pk):
    """Show the endpoint's signing secret to its owner (a POST: never in a history)."""
    endpoint = get_endpoint_for_user(request.user, pk)
    form = EndpointForm.of(endpoint, user=request.user)
    return _detail(request, endpoint, form, secret=True)


@require_POST
def endpoint_delete(request, pk):
    endpoint = get_endpoint_for_user(request.user, pk)
    services.endpoint_delete(endpoint=endpoint)
    messages.success(request, f"Removed the endpoint {endpoint.url}.")
    return redirect("webhooks:endpoints")


@require_POST
def delivery_resend(request, pk, delivery_id):
    """Send a delivery again now, with the same webhook-id."""
    delivery = get_delivery_for_user(request.user, pk, delivery_id)
    if services.delivery_resend(delivery=delivery):
        messages.success(request, f"Sending {delivery.event_type} again.")
    else:
        messages.info(request, "That delivery is still being sent; its retries are under way.")
    return redirect(delivery.endpoint)
