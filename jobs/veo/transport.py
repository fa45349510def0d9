"""HTTP calls to Google's Veo endpoints, with every failure classified once.

Both providers send their paid submit and their free polls through here, so the rules
live in one place: a submit is never retried once it may have reached Google (a 5xx, a
timeout or a connection dropped after sending is "outcome unknown"), a 429 or a
connection that never opened is safe to retry, and every final error carries a
message a person can act on.
"""

import json
import logging
import random

import requests

from .base import SubmitOutcomeUnknown, VeoError

logger = logging.getLogger(__name__)

RETRYABLE_HTTP = {408, 429, 500, 502, 503, 504}


class UnredirectedSession(requests.Session):
    """A session that never follows a redirect, whatever a call asks.

    requests drops only Authorization when a redirect changes host: it would send the
    x-goog-api-key header on to wherever an API answer points. A 3xx comes back as the
    answer instead; a download follows its hops itself, checking each (download.fetch).
    """

    def request(self, method, url, *args, **kwargs):
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


def new_session() -> requests.Session:
    """Return a session that follows no redirect and takes no proxy, CA bundle or .netrc login
    from the environment.

    A proxy or .netrc the worker happens to inherit would otherwise see (or be sent) the
    API key, and would connect somewhere other than the address the download checked.
    """
    session = UnredirectedSession()
    session.trust_env = False
    return session


def failure_reason(exc, *, server) -> str:
    """Say in words why a request to `server` ("Veo", "the file server") failed."""
    if isinstance(exc, requests.exceptions.SSLError):
        return f"the certificate of {server} could not be verified"
    if isinstance(exc, requests.Timeout):
        return f"{server} did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        return f"could not connect to {server}"
    return f"the request to {server} could not be made"


class LastByteHeld:
    """A request body whose last byte goes out only after `on_sending()` returns.

    The server acts on a request only once its whole body has arrived, so everything up
    to `on_sending` (recording that a paid call is going out) leaves nothing at Google
    if the process dies there: the connection closes on an unfinished body. If
    `on_sending` raises, the request is abandoned the same way.
    """

    def __init__(self, data: bytes, on_sending):
        self._data, self._sent, self._on_sending = data, 0, on_sending

    def __len__(self):
        return len(self._data) - self._sent

    def read(self, size=-1):
        last = len(self._data) - 1
        if size is None or size < 0 or self._sent >= last:
            if self._sent <= last:
                self._on_sending()
            end = len(self._data)
        else:
            end = min(self._sent + size, last)
        chunk, self._sent = self._data[self._sent : end], end
        return chunk


def send_submit(
    session, url, *, body, headers, timeout, credential, on_sending=None, id_field="name"
) -> dict:
    """POST the paid request once; return the JSON answer or raise a classified error.

    `on_sending` is called once, just before the request's last byte is sent. `id_field`
    names what the answer calls the generation ("name" of an operation, "id" of an
    interaction); an answer without it is an unknown outcome, as it may be running.
    """
    payload = json.dumps(body).encode()
    data = payload if on_sending is None else LastByteHeld(payload, on_sending)
    headers = {**headers, "Content-Type": "application/json"}
    try:
        response = session.post(url, data=data, headers=headers, timeout=timeout)
    except requests.ConnectionError as exc:
        if never_sent(exc):
            raise VeoError(
                "Could not connect to the Veo API; nothing was sent.", retryable=True
            ) from None
        logger.warning("The submit's connection broke: %r", exc)
        raise SubmitOutcomeUnknown("the connection broke before Veo answered") from None
    except requests.Timeout as exc:
        logger.warning("The submit got no answer in time: %r", exc)
        raise SubmitOutcomeUnknown("no answer in time") from None
    # A 408 says the server stopped waiting, not that it ignored what arrived.
    if response.status_code >= 500 or response.status_code == 408:
        raise SubmitOutcomeUnknown(f"the API answered {response.status_code}")
    if response.status_code != 200:
        raise error_from_response(response, credential=credential)
    data = json_body(response, strict=False)
    if not data.get(id_field):
        raise SubmitOutcomeUnknown("the API's answer had no operation name")
    return data


def send_poll(session, method, url, *, headers, timeout, credential, body=None) -> dict:
    """Ask for an operation's state; transport failures and 5xx are retryable."""
    try:
        response = session.request(method, url, json=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        logger.warning("A poll of Veo failed: %r", exc)
        raise VeoError(
            f"Lost contact with Veo while checking progress: {failure_reason(exc, server='Veo')}.",
            retryable=True,
        ) from None
    if response.status_code == 404 and "Publisher Model" not in response.text:
        raise VeoError(
            "Veo no longer knows this generation (it expired or never existed). "
            "Retry the job to generate it again.",
            code=404,
        )
    if response.status_code != 200:
        raise error_from_response(response, credential=credential)
    return json_body(response)


# Canonical status -> what a person should read when it is final.
_FINAL_MESSAGES = {
    "PERMISSION_DENIED": "{credential} is not allowed to use Veo (403). Check its project and permissions.",
    "FAILED_PRECONDITION": "Veo refused the request because billing is not set up for this project.",
    "UNAUTHENTICATED": "Google did not accept {credential}. Check it is current.",
}


def error_from_response(response, *, credential) -> VeoError:
    """Map Google's error envelope (or a non-JSON body) to a VeoError.

    `credential` names what the person should check, e.g. "GEMINI_API_KEY".
    """
    body = json_body(response, strict=False)
    err = body.get("error") if isinstance(body.get("error"), dict) else {}
    # Google's front ends send {"code": 429, "status": "RESOURCE_EXHAUSTED"}; the
    # Interactions schema has a string code (a canonical name or a URI) and no status.
    string_code = err.get("code") if isinstance(err.get("code"), str) else ""
    status = str(err.get("status") or (string_code if string_code.isupper() else ""))
    message = err.get("message") or f"{response.status_code} {response.reason or ''}".strip()
    code = response.status_code
    details = [d for d in err.get("details") or [] if isinstance(d, dict)]
    reasons = {d.get("reason") for d in details}
    quota_ids = {v.get("quotaId", "") for d in details for v in d.get("violations") or []}
    if code == 429:
        if any("PerDay" in q for q in quota_ids):
            return VeoError(
                "The project's daily Veo quota is used up; it resets at midnight Pacific time.",
                code=code,
                status=status,
            )
        return VeoError(
            "Veo's rate limit was reached; nothing was billed.",
            retryable=True,
            retry_after=retry_delay(response, err),
            code=code,
            status=status,
        )
    if code in RETRYABLE_HTTP:
        return VeoError(
            f"Veo is unavailable right now ({code}).",
            retryable=True,
            retry_after=retry_delay(response, err),
            code=code,
            status=status,
        )
    if "API_KEY_INVALID" in reasons or "API key not valid" in message:
        text = f"The API key is not valid. Check {credential}."
    elif code == 402 or "BILLING_DISABLED" in reasons:
        text = (
            "Billing is not enabled, or the prepaid credit is used up, for this Google "
            "project; fix billing to generate videos."
        )
    elif 300 <= code < 400:
        text = (
            f"The Veo API answered with a redirect ({code}), which the studio does not follow "
            "so that the credentials go nowhere else. Check the API's base URL setting."
        )
    elif code == 404 and ("no longer available" in message or "retired" in message):
        text = "This model has been retired by Google; choose another model."
    elif code == 404:
        text = f"Veo does not offer this model to this account: {message}"
    elif status in _FINAL_MESSAGES:
        text = _FINAL_MESSAGES[status].format(credential=credential)
    elif code == 401:
        text = _FINAL_MESSAGES["UNAUTHENTICATED"].format(credential=credential)
    elif code == 400:
        text = f"Veo refused the request: {message}"
    else:
        text = f"Veo answered {code}: {message}"
    return VeoError(text, code=code, status=status)


def retry_delay(response, err) -> float | None:
    """Return the wait Google asked for: RetryInfo.retryDelay, else retry-after-ms or Retry-After."""
    for detail in err.get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            try:
                return float(str(detail.get("retryDelay", "")).rstrip("s"))
            except ValueError:
                pass
    millis = response.headers.get("retry-after-ms", "")
    if millis.replace(".", "", 1).isdigit():
        return float(millis) / 1000
    header = response.headers.get("Retry-After", "")
    return float(header) if header.replace(".", "", 1).isdigit() else None


def backoff(attempt, *, hint=None, base=1.0, cap=60.0) -> float:
    """Return the wait before retry number `attempt`: the hint, else exponential with jitter."""
    if hint is not None:
        return min(hint, cap)
    return min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)  # noqa: S311


def never_sent(exc) -> bool:
    """Return whether a connection error happened before the request left this machine."""
    text = repr(exc)
    return any(
        marker in text
        for marker in (
            "NewConnectionError",
            "ConnectTimeout",
            "Failed to resolve",
            "NameResolution",
        )
    )


def json_body(response, *, strict=True) -> dict:
    try:
        data = response.json()
    except ValueError:
        if strict:
            raise VeoError(
                f"The Veo API answered with something that is not JSON ({response.status_code}).",
                retryable=True,
            ) from None
        return {}
    return data if isinstance(data, dict) else {}
