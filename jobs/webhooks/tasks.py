"""django-q2 entry points for webhooks: thin adapters to the services."""

from . import services


def deliver(delivery_id, attempt):
    """Make one attempt at sending a delivery; the service logs and schedules the rest."""
    services.delivery_attempt(delivery_id, attempt)
