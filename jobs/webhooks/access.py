"""Who may see a webhook endpoint: its owner only (a team endpoint is its maker's)."""

from django.http import Http404

from .models import WebhookDelivery, WebhookEndpoint


def get_endpoint_for_user(user, pk) -> WebhookEndpoint:
    """Return the user's endpoint, or raise 404 for anyone else's or none."""
    endpoint = WebhookEndpoint.objects.filter(owner_id=user.pk, pk=str(pk)).first()
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


def get_delivery_for_user(user, endpoint_pk, pk) -> WebhookDelivery:
    """Return a delivery of the user's endpoint, or raise 404."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .filter(endpoint__owner_id=user.pk, endpoint_id=str(endpoint_pk), pk=str(pk))
        .first()
    )
    if delivery is None:
        raise Http404("No such delivery.")
    return delivery
