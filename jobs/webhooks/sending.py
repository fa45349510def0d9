"""Send one signed webhook request, only to a public address, and say how it went.

The address guard is the video download's (jobs/veo/download.py): the URL is parsed by
the parser requests connects with, its host resolved once, refused unless every address
is public (no loopback, private, link-local or cloud metadata address), and the
connection pinned to the address that was checked, so DNS that answers differently the
second time reaches nothing new. Redirects are never followed.
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime

import requests
from standardwebhooks import Webhook

from jobs.veo import download, transport
from jobs.veo.base import DownloadRefused, VeoError

logger = logging.getLogger(__name__)

USER_AGENT = "VideoStudio-Webhooks/1"


class AddressRefused(Exception):
    """The URL may not be sent to; the message says why, in a sentence."""


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    retryable: bool
    response_code: int | None = None
    error: str = ""


def vet(url):
    """Return (origin, address) to connect to, or raise AddressRefused with the reason.

    A failed lookup raises VeoError (retryable): the name may resolve later.
    """
    try:
        origin = download.origin_of(url)
    except DownloadRefused:
        raise AddressRefused(
            "The URL is malformed: use a plain https:// address without a user name."
        ) from None
    if origin.scheme != "https":
        raise AddressRefused("Use an https:// URL: webhooks are not sent over plain http.")
    try:
        address = download.vetted_address(origin)
    except DownloadRefused:
        raise AddressRefused(
            f"{origin.host} resolves to a private, local or metadata address; "
            "webhooks are sent only to public addresses."
        ) from None
    return origin, address


def signed_headers(*, secret, message_id, timestamp: datetime, body: str) -> dict:
    """Return the Standard Webhooks headers for body; `timestamp` must be in UTC."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }


def encode(body) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def send(url, *, body: str, headers: dict, timeout) -> Outcome:
    """POST body to url through the address guard; never raises for a network failure."""
    try:
        origin, address = vet(url)
    except AddressRefused as exc:
        logger.warning("Refused to send a webhook to %s: %s", url, exc)
        return Outcome(False, retryable=False, error=str(exc))
    except VeoError:
        return Outcome(
            False, retryable=True, error="The receiver's host name could not be looked up."
        )
    headers = {
        **headers,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        # The pool connects to the address, so the Host header must name the host.
        "Host": origin.netloc,
    }
    with download.pinned_session(origin, address, like=transport.new_session()) as session:
        try:
            response = session.post(
                url,
                data=body.encode(),
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            logger.warning("A webhook to %s failed: %r", origin.host, exc)
            reason = transport.failure_reason(exc, server="the receiver")
            return Outcome(False, retryable=True, error=reason[0].upper() + reason[1:] + ".")
        with response:  # the body is not read: only the status counts
            code = response.status_code
    if 200 <= code < 300:
        return Outcome(True, retryable=False, response_code=code)
    if 300 <= code < 400:
        error = f"The receiver answered {code}, a redirect, which is not followed."
    else:
        error = f"The receiver answered {code}."
    return Outcome(False, retryable=True, response_code=code, error=error)
