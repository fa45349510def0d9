"""Webhooks Google sends the studio: verified, recorded once, and a nudge to the pipeline.

The Gemini API's static webhook (README, "Told instead of polling") POSTs a thin event,
`{"type": "interaction.completed", "data": {"id": "v1_…"}, …}`, signed Standard-Webhooks
style with GEMINI_WEBHOOK_SECRET. The endpoint checks the signature over the raw body
and the timestamp (within 5 minutes either way) before it reads anything, records the
webhook-id (Google delivers at least once, so a repeat is answered and not acted on),
and for an event that ends a generation makes the job's next poll due now and queues a
run. The pipeline then polls Google as it always does and handles what Google answers:
the event's content is not trusted beyond its signature, and decides nothing. Polling
stays the fallback for every job, since a webhook may be lost, late, or never sent.

The endpoint answers at once without calling Google. Events it does not act on, and ids
no unfinished job has, are answered 200, so Google does not retry them for a day.
"""

import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from jobs import services
from jobs.models import VideoCreationJob

from .models import InboundEvent

logger = logging.getLogger(__name__)

# Events that say a generation has ended. video.generated names the Veo operation (its
# data.id may be an operation name); the interaction.* events name an interaction.
JOB_EVENTS = frozenset(
    {
        "interaction.completed",
        "interaction.failed",
        "interaction.cancelled",
        "video.generated",
    }
)
# Thin payloads are a few hundred bytes; anything near this is not Google's.
MAX_BODY_BYTES = 64 * 1024
TOLERANCE_SECONDS = 5 * 60
# Google retries a delivery for 24 hours; a week of ids covers that with room to spare.
KEEP_DAYS = 7
# Jobs one event may wake: one in practice; a bound, should an id be ambiguous.
MAX_WOKEN = 10
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
DUPLICATE = "duplicate"


class Refused(Exception):
    """The request is not a webhook the studio accepts; the message says why."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


# --- Verification --------------------------------------------------------------------------


def verify(secret, body: bytes, headers) -> None:
    """Raise Refused (401) unless body is signed with secret and signed recently.

    `headers` maps header names, in any case, to values. Several space-separated
    signatures (old and new secrets, while Google rotates them) pass if one matches.
    """
    headers = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in HEADERS if not headers.get(name)]
    if missing:
        raise Refused(
            401,
            f"The request lacks the {', '.join(missing)} header(s) of a Standard Webhooks "
            "signature, so it was not accepted.",
        )
    try:
        signed_at = int(headers["webhook-timestamp"])
    except ValueError:
        raise Refused(401, "The webhook-timestamp header is not a Unix time in seconds.") from None
    age = int(time.time()) - signed_at
    if age > TOLERANCE_SECONDS:
        raise Refused(
            401,
            f"The webhook was signed {age} seconds ago; the studio accepts one signed within "
            f"the last {TOLERANCE_SECONDS // 60} minutes, so a replay is refused.",
        )
    if -age > TOLERANCE_SECONDS:
        raise Refused(
            401,
            f"The webhook's timestamp is {-age} seconds in the future; the studio accepts one "
            f"within {TOLERANCE_SECONDS // 60} minutes of its own clock.",
        )
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise Refused(400, "The body is not UTF-8 text, so it is not JSON.") from None
    try:
        Webhook(secret).verify(text, headers, json_parse=False)
    except (WebhookVerificationError, ValueError):
        # ValueError: a signature that is not "v1,<base64>" (binascii.Error is one).
        raise Refused(
            401,
            "No webhook-signature matches the body: the webhook was not signed with the "
            "secret the studio has, or the body was changed on the way.",
        ) from None


def parse(body: bytes) -> tuple[str, str]:
    """Return the event's (type, data.id) from a verified body; raise Refused (400) if malformed.

    data.id is "" for an event the studio does not act on.
    """
    try:
        event = json.loads(body)
    except ValueError:
        raise Refused(400, "The body is not JSON.") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise Refused(400, 'The body must be a JSON object with a "type" string.')
    event_type = event["type"]
    if event_type not in JOB_EVENTS:
        return event_type[:64], ""
    data = event.get("data")
    object_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(object_id, str) or not object_id.strip():
        raise Refused(400, f'A {event_type} event must carry "data.id", the id it is about.')
    if len(object_id) > 500:
        raise Refused(400, '"data.id" is longer than 500 characters.')
    return event_type, object_id.strip()


# --- The event's effect --------------------------------------------------------------------


def jobs_for(object_id) -> list[int]:
    """Return the unfinished jobs whose operation is object_id.

    An interaction's id is stored as it is; an operation may be named in full
    (models/…/operations/abc) on one side and by its last part on the other.
    """
    last = object_id.rsplit("/", 1)[-1]
    match = Q(operation_name=object_id) | Q(operation_name__endswith=f"/{object_id}")
    if last != object_id:
        match |= Q(operation_name=last)
    return list(
        VideoCreationJob.objects.active()
        .filter(match)
        .order_by("pk")
        .values_list("pk", flat=True)[:MAX_WOKEN]
    )


def event_receive(*, webhook_id, event_type, object_id) -> str:
    """Record a verified event once and wake the jobs it is about; return the outcome.

    The outcome is an InboundEvent.Outcome, or DUPLICATE for a webhook-id already
    received (nothing is done again). Runs are queued when the transaction commits.
    """
    Outcome = InboundEvent.Outcome
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = InboundEvent.objects.create(
                    webhook_id=webhook_id,
                    event_type=event_type,
                    object_id=object_id,
                    outcome=Outcome.IGNORED,
                    received_at=now,
                )
        except IntegrityError:
            return DUPLICATE
        InboundEvent.objects.filter(received_at__lt=now - timedelta(days=KEEP_DAYS)).delete()
        if event_type not in JOB_EVENTS:
            return Outcome.IGNORED
        woken = [job_id for job_id in jobs_for(object_id) if services.job_wake(job_id)]
        event.outcome = Outcome.WOKE if woken else Outcome.NO_JOB
        event.job_id = woken[0] if woken else None
        event.save(update_fields=["outcome", "job"])
    if woken:
        logger.info("%s for %s woke job(s) %s", event_type, object_id, woken)
    return event.outcome


# --- The endpoint --------------------------------------------------------------------------


def _answer(status, **body):
    return JsonResponse({"success": status < 400, **body}, status=status)


@csrf_exempt
@login_not_required
@require_POST
def gemini(request):
    """Take one Gemini API webhook: verify it, record it once, wake its job; answer at once."""
    secret = settings.GEMINI_WEBHOOK_SECRET
    if not secret:
        raise Http404("Gemini API webhooks are switched off (GEMINI_WEBHOOK_SECRET is empty).")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return _answer(
            413, error=f"The body is larger than a webhook may be ({MAX_BODY_BYTES:,} bytes)."
        )
    try:
        body = request.body
        verify(secret, body, request.headers)
        webhook_id = request.headers["webhook-id"]
        if len(webhook_id) > 200:
            raise Refused(400, "The webhook-id header is longer than 200 characters.")
        event_type, object_id = parse(body)
    except Refused as refused:
        logger.warning("Refused a Gemini webhook (%d): %s", refused.status, refused.message)
        return _answer(refused.status, error=refused.message)
    outcome = event_receive(webhook_id=webhook_id, event_type=event_type, object_id=object_id)
    return _answer(200, outcome=outcome)
