"""The webhooks' JSON API: a django-ninja router the API instance mounts at `webhooks`.

Thin on purpose: schemas in, services do the work, and the services' ValidationError
becomes ninja's, naming the field, so the API's error handler answers it like any other
bad body. Another person's endpoint is a 404, as everywhere in the API.
"""

from datetime import datetime
from typing import Literal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from ninja import Field, Router, Schema, Status
from ninja.errors import ValidationError as RequestInvalid
from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

from . import services
from .access import get_delivery_for_user, get_endpoint_for_user
from .models import Event, WebhookEndpoint

router = Router(tags=["webhooks"])

EventName = Literal[tuple(Event.values)]
FormatName = Literal[tuple(WebhookEndpoint.Format.values)]


class CamelSchema(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class CamelInput(CamelSchema):
    """A request body: an unknown field is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


class EndpointIn(CamelInput):
    url: str = Field(max_length=2000, description="A public https:// URL.")
    events: list[EventName] = Field(min_length=1)
    description: str = Field("", max_length=200)
    format: FormatName = "standard"
    for_team: bool = Field(False, description="Staff who see everyone's jobs only.")
    is_active: bool = True


class EndpointPatch(CamelInput):
    url: str | None = Field(None, max_length=2000)
    events: list[EventName] | None = Field(None, min_length=1)
    description: str | None = Field(None, max_length=200)
    format: FormatName | None = None
    for_team: bool | None = None
    is_active: bool | None = None


class EndpointOut(CamelSchema):
    id: str
    url: str
    description: str
    events: list[str]
    format: str
    for_team: bool
    is_active: bool
    created_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="The Standard Webhooks signing secret (whsec_…).")


class AttemptOut(CamelSchema):
    number: int
    at: datetime
    succeeded: bool
    response_code: int | None
    error: str


class DeliveryOut(CamelSchema):
    id: str = Field(description="The webhook-id header, the same on every attempt.")
    event_type: str
    status: str
    attempts: int
    response_code: int | None
    error: str
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    attempt_log: list[AttemptOut]

    @staticmethod
    def resolve_attempt_log(obj):
        return list(obj.attempt_log.all())


def _person(request):
    """Return the caller: the user the API's authentication returned, or the session's."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, AbstractBaseUser) else request.user


def _call(service, **kwargs):
    try:
        return service(**kwargs)
    except ValidationError as exc:
        raise RequestInvalid(
            [
                {"loc": ["body", "payload", name], "msg": message, "type": "value_error"}
                for name, messages in exc.message_dict.items()
                for message in messages
            ]
        ) from None


@router.get("", response=list[EndpointOut], by_alias=True, operation_id="listWebhooks")
def list_endpoints(request):
    return WebhookEndpoint.objects.filter(owner_id=_person(request).pk)


@router.post("", response={201: EndpointWithSecret}, by_alias=True, operation_id="createWebhook")
def create_endpoint(request, payload: EndpointIn):
    endpoint = _call(services.endpoint_create, owner=_person(request), **payload.model_dump())
    return Status(201, endpoint)


@router.get("/{endpoint_id}", response=EndpointWithSecret, by_alias=True, operation_id="getWebhook")
def get_endpoint(request, endpoint_id: str):
    return get_endpoint_for_user(_person(request), endpoint_id)


@router.patch("/{endpoint_id}", response=EndpointOut, by_alias=True, operation_id="updateWebhook")
def update_endpoint(request, endpoint_id: str, payload: EndpointPatch):
    endpoint = get_endpoint_for_user(_person(request), endpoint_id)
    # A field sent as null is left as it is, like one not sent.
    changes = payload.model_dump(exclude_unset=True, exclude_none=True)
    return _call(services.endpoint_update, endpoint=endpoint, **changes)


@router.delete("/{endpoint_id}", response={204: None}, operation_id="deleteWebhook")
def delete_endpoint(request, endpoint_id: str):
    services.endpoint_delete(endpoint=get_endpoint_for_user(_person(request), endpoint_id))
    return Status(204, None)


@router.get(
    "/{endpoint_id}/deliveries",
    response=list[DeliveryOut],
    by_alias=True,
    operation_id="listWebhookDeliveries",
)
def list_deliveries(request, endpoint_id: str):
    endpoint = get_endpoint_for_user(_person(request), endpoint_id)
    return endpoint.deliveries.prefetch_related("attempt_log")[:100]


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/resend",
    response={202: DeliveryOut, 409: dict},
    by_alias=True,
    operation_id="resendWebhookDelivery",
)
def resend_delivery(request, endpoint_id: str, delivery_id: str):
    delivery = get_delivery_for_user(_person(request), endpoint_id, delivery_id)
    if not services.delivery_resend(delivery=delivery):
        return Status(
            409, {"error": "That delivery is still being sent; its retries are under way."}
        )
    delivery.refresh_from_db()
    return Status(202, delivery)
