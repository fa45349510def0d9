"""Who is calling the API: a script's bearer token, or the browser's session with CSRF.

A token (jobs.api.tokens) may be revoked, expired or read-only; a read-only one is refused
every method but GET with a 403. A session must send the CSRF token on unsafe methods;
a token needs none, as a browser never adds the Authorization header by itself. Other
schemes are left alone: a proxy's Basic auth in front of the studio sends one with every
browser request, and the session decides.

Every operation of the API instance uses `StudioAuth` (videostudio.api sets it as the
instance's default), so no operation can forget a rule.
"""

from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.debug import sensitive_variables
from ninja.security import HttpBearer

from videostudio.envelope import ApiError

from . import tokens

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, returning the reason for a rejection instead of a page."""

    def _reject(self, request, reason):
        return reason


class StudioAuth(HttpBearer):
    """The bearer scheme in the OpenAPI document; a logged-in session works as well."""

    openapi_description = (
        "A personal API token from /settings/tokens/, sent as `Authorization: Bearer vs_...`. "
        "A token may expire, and a read-only one may only GET (anything else is a 403). "
        "A browser session works too, with the X-CSRFToken header on unsafe methods."
    )

    def __call__(self, request):
        authenticate(request)
        return request.user

    def authenticate(self, request, token):  # pragma: no cover - __call__ does it all
        return None


@sensitive_variables("raw")
def authenticate(request):
    """Set request.user from the bearer token, or keep the session's; raise 401 or 403."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        token = tokens.token_lookup(raw.strip())
        if token is None:
            raise ApiError(
                401,
                "The API token is missing, malformed, unknown or revoked, or has expired. "
                "Send `Authorization: Bearer <token>` with a token from /settings/tokens/.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if token.is_read_only and request.method not in SAFE_METHODS:
            raise ApiError(
                403,
                f"This API token is read-only: it may read, but not {request.method}. "
                "Make a read-and-write token at /settings/tokens/ for changes.",
                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
            )
        request.user = token.user
        return
    if not request.user.is_authenticated:
        raise ApiError(
            401,
            "Log in, or send `Authorization: Bearer <token>` with a token from /settings/tokens/.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    check = _CsrfCheck(lambda request: None)
    check.process_request(request)
    reason = check.process_view(request, None, (), {})
    if reason:
        raise ApiError(
            403,
            f"CSRF check failed ({reason}). A browser session must send the X-CSRFToken "
            "header; a script should use an API token instead.",
        )
