"""Idempotency-Key: a create request repeated with the same key creates nothing new.

A repeat with the same key and the same body gets the first answer again (same status
and body, marked `Idempotent-Replayed: true`) without creating anything; the same key
with another body is a 409. The key is reserved by inserting its row before the work,
so a concurrent repeat blocks on the unique constraint until the first commits, then
finds its answer. Only a success is kept: an error rolls the reservation back with
everything else, so the key may be sent again. A key older than
API_IDEMPOTENCY_KEY_HOURS is forgotten and may be reused.
"""

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from ninja import Header

from jobs.models import IdempotencyKey
from videostudio.envelope import ApiError

IDEMPOTENCY_KEY_MAX_CHARS = 255
KEY_DESCRIPTION = (
    "Any unique string (e.g. a UUID) of 1 to 255 printable characters. A repeat with the "
    "same key and body within a day answers the first response again, with "
    "`Idempotent-Replayed: true`, and creates nothing; the same key with another body is "
    "a 409."
)


def key_header():
    """Return the ninja parameter that reads (and documents) the Idempotency-Key header."""
    return Header(
        None,
        alias="Idempotency-Key",
        description=KEY_DESCRIPTION,
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX_CHARS,
    )


def create_once(request, key, body, create):
    """Run create() in one transaction, at most once per Idempotency-Key and user."""
    if key is None:
        with transaction.atomic():
            return create()
    if not key.isprintable():
        raise ApiError(
            400,
            f"The Idempotency-Key header must be 1 to {IDEMPOTENCY_KEY_MAX_CHARS} printable "
            "characters, e.g. a UUID.",
            fields={"Idempotency-Key": "Use printable characters only."},
        )
    request_hash = _request_hash(request, body)
    expired = timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_KEY_HOURS)
    with transaction.atomic():
        IdempotencyKey.objects.filter(user=request.user, created_at__lt=expired).delete()
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user=request.user, key=key, request_hash=request_hash
                )
        except IntegrityError:
            return _replay(IdempotencyKey.objects.get(user=request.user, key=key), request_hash)
        response = create()
        record.status_code = response.status_code
        record.response_body = json.loads(response.content)
        record.save(update_fields=["status_code", "response_body"])
    return response


def _request_hash(request, body):
    """Return a SHA-256 of the method, the path and the canonical JSON of the body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def _replay(record, request_hash):
    if record.request_hash != request_hash:
        raise ApiError(
            409,
            "This Idempotency-Key was already used with a different request. "
            "Use a new key for a new request.",
        )
    if record.status_code is None:
        raise ApiError(409, "A request with this Idempotency-Key is still being processed.")
    response = JsonResponse(record.response_body, status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response
