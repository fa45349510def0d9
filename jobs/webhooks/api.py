"""The webhooks' JSON API: a django-ninja router on the studio's one API (videostudio.api).

    GET    webhooks                                   [Endpoint]
    POST   webhooks                                   201 Endpoint with its secret
    GET    webhooks/<id>                              Endpoint with its secret
    PATCH  webhooks/<id>                              Endpoint
    DELETE webhooks/<id>                              null
    GET    webhooks/<id>/deliveries                   [Delivery], the newest 100
    POST   webhooks/<id>/deliveries/<id>/resend       202 Delivery (409 while it is sent)

Thin on purpose: schemas in, services do the work; the services' ValidationError is the
envelope's 400 naming the field. Another person's endpoint is a 404, as everywhere.
"""

from typing import Literal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.http import Http404
from ninja import Field, Router
from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

from videostudio.envelope import (
    ApiError,
    CamelSchema,
    Envelope,
    InputSchema,
    ListEnvelope,
    Timestamp,
    error_responses,
    invalid,
    ok,
    ok_list,
    read_body,
    request_body,
)

from . import services
from .access import get_delivery_for_user, get_endpoint_for_user
from .models import Event, WebhookEndpoint

router = Router(tags=["webhooks"], by_alias=True)  # camelCase in the document too

EventName = Literal[tuple(Event.values)]
FormatName = Literal[tuple(WebhookEndpoint.Format.values)]
# The newest deliveries one answer lists.
MAX_DELIVERIES = 100


class EndpointIn(InputSchema):
    url: str = Field(max_length=2000, description="A public https:// URL.")
    events: list[EventName] = Field(min_length=1)
    description: str = Field("", max_length=200)
    format: FormatName = "standard"
    for_team: bool = Field(False, description="Staff who see everyone's jobs only.")
    is_active: bool = True


class EndpointPatch(InputSchema):
    url: str | None = Field(None, max_length=2000)
    events: list[EventName] | None = Field(None, min_length=1)
    description: str | None = Field(None, max_length=200)
    format: FormatName | None = None
    for_team: bool | None = None
    is_active: bool | None = None


class EndpointOut(CamelSchema):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    description: str
    events: list[str]
    format: str
    for_team: bool
    is_active: bool
    created_at: Timestamp


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="The Standard Webhooks signing secret (whsec_…).")


class AttemptOut(CamelSchema):
    model_config = ConfigDict(from_attributes=True)

    number: int
    at: Timestamp
    succeeded: bool
    response_code: int | None
    error: str


class DeliveryOut(CamelSchema):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="The webhook-id header, the same on every attempt.")
    event_type: str
    status: str
    attempts: int
    response_code: int | None
    error: str
    created_at: Timestamp
    last_attempt_at: Timestamp | None
    next_attempt_at: Timestamp | None
    attempt_log: list[AttemptOut]

    @staticmethod
    def resolve_attempt_log(obj):
        return list(obj.attempt_log.all())


def _person(request):
    """Return the caller: the user the API's authentication returned, or the session's."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, AbstractBaseUser) else request.user


def _endpoint(request, endpoint_id):
    try:
        return get_endpoint_for_user(_person(request), endpoint_id)
    except Http404:
        raise ApiError(404, "Webhook endpoint not found.") from None


def _call(service, **kwargs):
    """Run a service; its ValidationError is a 400 naming each field as the API writes it."""
    try:
        return service(**kwargs)
    except ValidationError as exc:
        raise invalid(
            {to_camel(name): " ".join(m) for name, m in exc.message_dict.items()}
        ) from None


def _out(endpoint, *, secret=False):
    return (EndpointWithSecret if secret else EndpointOut).model_validate(endpoint)


def _delivery_out(delivery):
    return DeliveryOut.model_validate(
        {
            **{name: getattr(delivery, name) for name in DeliveryOut.model_fields},
            "attempt_log": [AttemptOut.model_validate(a) for a in delivery.attempt_log.all()],
        }
    )


@router.get(
    "webhooks",
    url_name="webhooks",
    operation_id="listWebhooks",
    response={200: ListEnvelope[EndpointOut], **error_responses()},
    summary="Your webhook endpoints",
)
def list_endpoints(request):
    endpoints = WebhookEndpoint.objects.filter(owner_id=_person(request).pk).order_by("-created_at")
    return ok_list([_out(endpoint) for endpoint in endpoints])


@router.post(
    "webhooks",
    url_name="webhooks",
    operation_id="createWebhook",
    response={201: Envelope[EndpointWithSecret], **error_responses()},
    summary="Register an endpoint; the answer carries its signing secret",
    openapi_extra=request_body(EndpointIn),
)
def create_endpoint(request):
    body, _raw = read_body(request, EndpointIn)
    endpoint = _call(services.endpoint_create, owner=_person(request), **body.model_dump())
    return ok(_out(endpoint, secret=True), status=201)


@router.get(
    "webhooks/{endpoint_id}",
    url_name="webhook",
    operation_id="getWebhook",
    response={200: Envelope[EndpointWithSecret], **error_responses()},
    summary="One of your endpoints, with its signing secret",
)
def get_endpoint(request, endpoint_id: str):
    return ok(_out(_endpoint(request, endpoint_id), secret=True))


@router.patch(
    "webhooks/{endpoint_id}",
    url_name="webhook",
    operation_id="updateWebhook",
    response={200: Envelope[EndpointOut], **error_responses()},
    summary="Change an endpoint; a field left out (or null) stays as it is",
    openapi_extra=request_body(EndpointPatch),
)
def update_endpoint(request, endpoint_id: str):
    endpoint = _endpoint(request, endpoint_id)
    body, _raw = read_body(request, EndpointPatch)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return ok(_out(_call(services.endpoint_update, endpoint=endpoint, **changes)))


@router.delete(
    "webhooks/{endpoint_id}",
    url_name="webhook",
    operation_id="deleteWebhook",
    response={200: Envelope[None], **error_responses()},
    summary="Delete an endpoint and its delivery log",
)
def delete_endpoint(request, endpoint_id: str):
    services.endpoint_delete(endpoint=_endpoint(request, endpoint_id))
    return ok(None)


@router.get(
    "webhooks/{endpoint_id}/deliveries",
    url_name="webhook-deliveries",
    operation_id="listWebhookDeliveries",
    response={200: ListEnvelope[DeliveryOut], **error_responses()},
    summary="An endpoint's newest deliveries, with every attempt",
)
def list_deliveries(request, endpoint_id: str):
    endpoint = _endpoint(request, endpoint_id)
    deliveries = endpoint.deliveries.prefetch_related("attempt_log")[:MAX_DELIVERIES]
    return ok_list([_delivery_out(delivery) for delivery in deliveries])


@router.post(
    "webhooks/{endpoint_id}/deliveries/{delivery_id}/resend",
    url_name="webhook-resend",
    operation_id="resendWebhookDelivery",
    response={202: Envelope[DeliveryOut], **error_responses(409)},
    summary="Send a delivery again, with the same webhook-id",
)
def resend_delivery(request, endpoint_id: str, delivery_id: str):
    try:
        delivery = get_delivery_for_user(_person(request), endpoint_id, delivery_id)
    except Http404:
        raise ApiError(404, "Delivery not found.") from None
    if not services.delivery_resend(delivery=delivery):
        raise ApiError(409, "That delivery is still being sent; its retries are under way.")
    delivery.refresh_from_db()
    return ok(_delivery_out(delivery), status=202)
