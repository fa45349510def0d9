"""The OAuth 2.0 token endpoint and the service-account key that google-auth signs with.

``POST /token`` grants ``ya29.emulator-...`` tokens for google-auth's service-account (JWT
bearer) and authorized-user (refresh token) flows; the Vertex and Cloud Storage routes take
them as ``Authorization: Bearer``. ``service_account_info(base_url + "/token")`` returns a key
file whose tokens come from the emulator.
"""

import base64
import functools
import hashlib
import json
import secrets
import time
from urllib.parse import parse_qs, quote

from .errors import ApiError

CREDENTIALS_HINT = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME = 3600
PROJECT_ID = "emulator-project"
CLIENT_EMAIL = f"studio@{PROJECT_ID}.iam.gserviceaccount.com"


class TokenError(ApiError):
    """A token endpoint error, which OAuth 2.0 wraps in its own envelope (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str):
        super().__init__(400, error, description, headers={"Cache-Control": "no-store"})

    def body(self) -> dict:
        """Return the OAuth 2.0 error body."""
        return {"error": self.status, "error_description": self.message}


def unauthenticated(message: str, reason: str, service: str) -> ApiError:
    """Return a 401 UNAUTHENTICATED with the ErrorInfo reason Google gives."""
    return ApiError(
        401,
        "UNAUTHENTICATED",
        f"{message} {CREDENTIALS_HINT}",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": service},
            }
        ],
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


def token_form(raw: bytes, content_type: str) -> dict:
    """Return a token request's fields, sent as a form (the usual way) or as JSON."""
    if content_type.startswith("application/json"):
        try:
            form = json.loads(raw or b"{}")
        except ValueError:
            form = None
        if not isinstance(form, dict):
            raise TokenError("invalid_request", "The request body is not a JSON object.")
        return form
    return {key: values[0] for key, values in parse_qs(raw.decode("utf-8", "replace")).items()}


def check_assertion(assertion) -> None:
    """Check that a JWT names its issuer and audience; the signature is not verified."""
    parts = assertion.split(".") if isinstance(assertion, str) else []
    if len(parts) != 3:
        raise TokenError("invalid_grant", "Invalid JWT: the assertion is not a signed JWT.")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        claims = None
    if not isinstance(claims, dict):
        raise TokenError("invalid_grant", "Invalid JWT: the payload is not base64url JSON.")
    if not claims.get("iss") or not (claims.get("aud") or claims.get("scope")):
        raise TokenError("invalid_grant", "Invalid JWT: iss and aud or scope are required.")
    expiry = claims.get("exp")
    if isinstance(expiry, int | float) and expiry < time.time():
        raise TokenError(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim.",
        )


@functools.cache
def signing_key() -> tuple[str, str]:
    """Return a new RSA private key in PEM and its key id, made once per process."""
    # cryptography comes with google-auth, which only the Vertex helpers need.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, hashlib.sha256(public).hexdigest()[:40]


def service_account_info(token_uri: str) -> dict:
    """Return a service-account key file's content whose tokens come from token_uri."""
    private_key, key_id = signing_key()
    return {
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": key_id,
        "private_key": private_key,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": (
            f"https://www.googleapis.com/robot/v1/metadata/x509/{quote(CLIENT_EMAIL)}"
        ),
        "universe_domain": "googleapis.com",
    }


def grant_token(operations, raw_body: bytes, content_type: str = "") -> dict:
    """Answer an OAuth 2.0 token request with a new bearer token, or raise TokenError."""
    form = token_form(raw_body, content_type)
    grant_type = form.get("grant_type")
    if grant_type == JWT_GRANT_TYPE:
        check_assertion(form.get("assertion"))
    elif grant_type == "refresh_token":
        if not form.get("refresh_token"):
            raise TokenError("invalid_grant", "Bad Request: refresh_token is missing.")
    else:
        raise TokenError("unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}")
    token = f"ya29.emulator-{secrets.token_urlsafe(24)}"
    operations.add_token(token, time.time() + TOKEN_LIFETIME)
    return {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}


def check_token(operations, header: str | None, service: str) -> None:
    """Refuse a request whose Authorization header holds no live token the emulator issued."""
    if not header:
        raise unauthenticated(
            "Request is missing required authentication credential.",
            "CREDENTIALS_MISSING",
            service,
        )
    scheme, _, token = header.partition(" ")
    expiry = operations.token_expiry(token.strip()) if scheme.lower() == "bearer" else None
    if expiry is None or expiry <= time.time():
        reason = "ACCESS_TOKEN_TYPE_UNSUPPORTED" if expiry is None else "ACCESS_TOKEN_EXPIRED"
        raise unauthenticated("Request had invalid authentication credentials.", reason, service)
