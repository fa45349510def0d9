"""Tell a studio that an interaction ended, as the Gemini API's static webhook does.

``notify(event_type, data)`` POSTs Google's thin event, ``{"type", "version": "v1",
"timestamp", "data"}``, to VEO_EMULATOR_WEBHOOK_URL, signed Standard-Webhooks style with
VEO_EMULATOR_WEBHOOK_SECRET (``whsec_`` and base64; several, space-separated, sign with
each, as Google does while a secret is rotated). Both are read from the environment when
called, so ``python -m jobs.veo.emulator`` takes them like any setting; with no URL,
nothing is sent. Delivery runs on a thread, at least once: a failure is retried with the
same webhook-id, as Google retries.

The signature is written here by hand (HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``), not
with the studio's library, so a test of the studio's verifier against it compares two
implementations of the scheme.
"""

import base64
import hashlib
import hmac
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import requests

logger = logging.getLogger(__name__)

URL_VARIABLE = "VEO_EMULATOR_WEBHOOK_URL"
SECRET_VARIABLE = "VEO_EMULATOR_WEBHOOK_SECRET"  # noqa: S105 (a variable's name)
ATTEMPTS = 3
TIMEOUT_SECONDS = 5
# The longest notify() waits for its `until` before sending anyway.
WAIT_LIMIT_SECONDS = 600


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return one ``v1,<base64>`` Standard Webhooks signature of body with secret."""
    key = secret.removeprefix("whsec_")
    key_bytes = base64.b64decode(key + "=" * (-len(key) % 4))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_bytes, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> dict:
    """Return the webhook-id, -timestamp and -signature headers, one signature a secret."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets),
    }


def event_body(event_type: str, data: dict, at: datetime) -> bytes:
    """Return the thin event Google sends: pointers, never the video."""
    event = {
        "type": event_type,
        "version": "v1",
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": data,
    }
    return json.dumps(event, separators=(",", ":")).encode()


def deliver(url: str, secrets: list[str], event_type: str, data: dict) -> int | None:
    """POST one signed event, retrying a failure; return the last status (None: unreachable)."""
    message_id = f"msg_{uuid.uuid4().hex}"
    body = event_body(event_type, data, datetime.now(UTC))
    status = None
    for attempt in range(1, ATTEMPTS + 1):
        # Each attempt is signed afresh, as Google does: a retry is not a stale replay.
        headers = signed_headers(secrets, message_id, int(time.time()), body)
        try:
            status = requests.post(
                url,
                data=body,
                headers={**headers, "Content-Type": "application/json"},
                timeout=TIMEOUT_SECONDS,
                allow_redirects=False,
            ).status_code
        except requests.RequestException as exc:
            logger.warning("Webhook %s to %s failed: %s", message_id, url, exc)
            status = None
        if status is not None and (200 <= status < 300 or 400 <= status < 500):
            return status  # delivered, or refused for good (a retry would be refused too)
        time.sleep(0.2 * attempt)
    return status


def notify(
    event_type: str,
    data: dict,
    *,
    url=None,
    secret=None,
    delay: float = 0.0,
    until: Callable[[], bool] | None = None,
) -> threading.Thread | None:
    """Send event_type with data to the configured studio on a thread; return the thread.

    The thread waits `delay` seconds, then (if given) until `until()` is true, checked
    every 50 ms for at most WAIT_LIMIT_SECONDS, so an emulator can call this when it
    accepts a generation and have the event sent when the video is ready. Return None
    when no URL is configured (nothing is sent). Never raises into the caller: the
    emulator's answers do not depend on the studio hearing of it.
    """
    url = url if url is not None else os.environ.get(URL_VARIABLE, "").strip()
    secret = secret if secret is not None else os.environ.get(SECRET_VARIABLE, "")
    secrets = secret.replace(",", " ").split()
    if not url or not secrets:
        return None

    def send():
        time.sleep(delay)
        give_up = time.monotonic() + WAIT_LIMIT_SECONDS
        while until is not None and not until() and time.monotonic() < give_up:
            time.sleep(0.05)
        try:
            deliver(url, secrets, event_type, data)
        except Exception:
            logger.exception("Could not send the %s webhook to %s", event_type, url)

    thread = threading.Thread(target=send, name="webhook", daemon=True)
    thread.start()
    return thread
