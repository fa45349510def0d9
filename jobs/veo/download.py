"""Fetch a generated video without trusting the address it comes from.

Redirects are followed by hand so that every hop is checked:

- A URL is parsed once, by urllib3 (the parser requests connects with), and refused when
  `urlsplit` reads it differently, or it holds a backslash, userinfo or a non-ASCII host:
  `https://evil.example\\@api.host/` names api.host to one parser and evil.example to
  the other.
- Credentials go only to the exact (scheme, host, port) of the API's base URL.
- Any other host must be https and resolve only to public addresses (unless the operator
  listed it, as the emulator's own host is listed by being the base URL); the address
  checked is the one connected to, with SNI and the certificate still checked against the
  host name, so DNS that answers differently the second time reaches nothing new.
"""

import functools
import ipaddress
import logging
import os
import socket
import ssl
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from requests import adapters
from requests.adapters import HTTPAdapter
from requests.utils import extract_zipped_paths
from urllib3.exceptions import LocationParseError
from urllib3.util import create_urllib3_context, parse_url

from . import transport
from .base import DownloadRefused, VeoError

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 3
CHUNK_SIZE = 1024 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}
# ipaddress calls these global (some Python versions), yet each reaches an IPv4 address
# chosen by whoever controls the name: NAT64 (well-known and local-use), 6to4 and
# IPv4-translated addresses map to it. IPv4-compatible ::a.b.c.d is refused in is_public.
EMBEDDING_IPV4 = tuple(
    ipaddress.ip_network(network)
    for network in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "::ffff:0:0:0/96")
)


@dataclass(frozen=True)
class Origin:
    """Where a URL connects: scheme, lower-case host (no IPv6 brackets) and port."""

    scheme: str
    host: str
    port: int

    @property
    def netloc(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"


def origin_of(url) -> Origin:
    """Return where url connects, or refuse a URL the two parsers could read differently."""
    malformed = DownloadRefused("The video address is malformed, so it was not fetched.")
    if "\\" in url or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise malformed
    try:
        parsed = parse_url(url)
        split = urlsplit(url)
        split_port = split.port
    except (LocationParseError, ValueError):
        raise malformed from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in DEFAULT_PORTS:
        raise DownloadRefused(f"The video address is not a web address ({scheme or 'none'}).")
    if parsed.auth is not None or "@" in split.netloc:
        raise DownloadRefused("The video address carries a user name, so it was not fetched.")
    if not split.netloc.isascii():
        raise DownloadRefused("The video address has a non-ASCII host, so it was not fetched.")
    host = (parsed.host or "").strip("[]").lower()
    if (
        not host
        or host != (split.hostname or "")
        or scheme != split.scheme.lower()
        or parsed.port != split_port
    ):
        raise malformed
    return Origin(scheme, host, parsed.port or DEFAULT_PORTS[scheme])


def is_public(address) -> bool:
    """Return whether an IP address is plainly public: global, unicast, no IPv4 inside."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return is_public(address.ipv4_mapped)
        if any(address in network for network in EMBEDDING_IPV4) or int(address) >> 32 == 0:
            return False
    return address.is_global and not address.is_multicast


def vetted_address(origin: Origin) -> str:
    """Resolve origin's host once, refuse it unless every address is public; return one."""
    if origin.scheme != "https":
        raise DownloadRefused(f"Refused to download the video over plain http from {origin.host}.")
    try:
        infos = socket.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        logger.warning("Looking up %s failed: %r", origin.host, exc)
        raise VeoError(
            f"Could not look up {origin.host}, the video's host.", retryable=True
        ) from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses or not all(is_public(address) for address in addresses):
        raise DownloadRefused(
            f"Refused to download the video from {origin.host}: it resolves to a "
            "private or local address. List the host in VEO_DOWNLOAD_HOSTS to allow it."
        )
    return str(addresses[0])


class PinnedAdapter(HTTPAdapter):
    """Connect to one vetted address while TLS still checks the URL's own host name.

    Each pinned session is new, so each of its connections is too; left to itself urllib3
    would load the CA bundle into a fresh TLS context for every one (about 20 ms of CPU, most
    of a webhook delivery's: bench/webhooks.py). The verifying context is built once per
    bundle instead; urllib3 still requires a certificate and matches it to `host`.
    """

    def __init__(self, address, host, **kwargs):
        self.address, self.host = address, host
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        host_params["host"] = self.address
        pool_kwargs["server_hostname"] = self.host
        pool_kwargs["assert_hostname"] = self.host
        if verify is not False and not cert:
            # requests' own choice of bundle (cert_verify's): `verify` when it names one, else
            # its default, certifi's.
            default = extract_zipped_paths(adapters.DEFAULT_CA_BUNDLE_PATH)
            bundle = verify if isinstance(verify, str) else default
            is_dir = os.path.isdir(bundle)
            pool_kwargs.pop("ca_certs", None), pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs["ssl_context"] = verifying_context(
                None if is_dir else bundle, bundle if is_dir else None
            )
        return host_params, pool_kwargs

    def cert_verify(self, conn, url, verify, cert):
        super().cert_verify(conn, url, verify, cert)
        if conn.conn_kw.get("ssl_context") is not None:
            conn.ca_certs = conn.ca_cert_dir = None  # loaded in the context already


@functools.cache
def verifying_context(ca_certs, ca_cert_dir):
    """Return a TLS context that requires a certificate from this CA bundle, loaded once."""
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    context.load_verify_locations(cafile=ca_certs, capath=ca_cert_dir)
    return context


def pinned_session(origin: Origin, address, *, like):
    """Return a session that sends every https request to address, verifying like `like`."""
    session = transport.new_session()
    session.verify, session.cert = like.verify, like.cert
    session.mount("https://", PinnedAdapter(address, origin.host))
    return session


def fetch(
    url, dest: Path, *, session, auth_base_url, auth_headers, trusted_hosts, max_bytes, timeout
):
    """Stream url into dest, following at most MAX_REDIRECTS checked hops; return the size.

    `auth_headers` (the API key, a bearer token) go only to the exact origin of
    `auth_base_url`. `trusted_hosts` holds "host" or "host:port" entries fetched whatever
    they resolve to, over http too (the emulator, hosts the operator listed).
    """
    auth = origin_of(auth_base_url)
    listed = {entry.lower() for entry in trusted_hosts}
    for _hop in range(MAX_REDIRECTS + 1):
        origin = origin_of(url)
        headers = {"Accept": "*/*"}
        if origin == auth:
            headers.update(auth_headers)
        if origin == auth or {origin.host, f"{origin.host}:{origin.port}"} & listed:
            hop_session = nullcontext(session)
        else:
            address = vetted_address(origin)
            # The pool connects to the address, so the Host header must name the host.
            headers["Host"] = origin.netloc
            hop_session = pinned_session(origin, address, like=session)
        with hop_session as client:
            try:
                response = client.get(
                    url, headers=headers, stream=True, allow_redirects=False, timeout=timeout
                )
            except requests.RequestException as exc:
                logger.warning("Downloading the video from %s failed: %r", origin.host, exc)
                reason = transport.failure_reason(exc, server="the file server")
                raise VeoError(f"The video download failed: {reason}.", retryable=True) from None
            with response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("Location", ""))
                    continue
                return _read(response, dest, max_bytes=max_bytes)
    raise DownloadRefused(f"The video download redirected more than {MAX_REDIRECTS} times.")


def _read(response, dest, *, max_bytes):
    if response.status_code in (404, 410):
        raise VeoError(
            "The generated video is no longer on Google's servers (they keep "
            "videos for 2 days). Retry the job to generate it again.",
            code=response.status_code,
        )
    if response.status_code >= 500 or response.status_code == 429:
        raise VeoError(
            f"Google's file server answered {response.status_code}.",
            retryable=True,
            code=response.status_code,
        )
    if response.status_code != 200:
        raise VeoError(
            f"The video download was refused ({response.status_code}). "
            "Check the API key's permissions.",
            code=response.status_code,
        )
    length = response.headers.get("Content-Length") or "0"
    if not (length.isascii() and length.isdigit() and len(length) <= 19):
        logger.warning("The file server sent Content-Length %.40r", length)
        raise VeoError("Google's file server sent a malformed answer.", retryable=True)
    declared = int(length)
    if declared > max_bytes:
        raise DownloadRefused(_too_large(max_bytes))
    return _write_stream(response, dest, max_bytes=max_bytes, declared=declared)


def _write_stream(response, dest, *, max_bytes, declared):
    written = 0
    try:
        with open(dest, "wb") as out:
            for chunk in response.iter_content(CHUNK_SIZE):
                written += len(chunk)
                if written > max_bytes:
                    raise DownloadRefused(_too_large(max_bytes))
                out.write(chunk)
    except requests.RequestException as exc:
        logger.warning("The video download broke off after %d bytes: %r", written, exc)
        raise VeoError(
            "The video download broke off before the end.",
            retryable=True,
        ) from None
    if declared and written != declared:
        raise VeoError(
            f"The video download was cut short ({written} of {declared} bytes).", retryable=True
        )
    return written


def _too_large(max_bytes):
    megabytes = max_bytes // (1024 * 1024)
    return f"The video is larger than the {megabytes} MB limit (VEO_DOWNLOAD_MAX_BYTES)."


def write_inline(data: bytes, dest: Path, *, max_bytes) -> int:
    """Write a video the provider sent inline, under the same size cap as a download."""
    if len(data) > max_bytes:
        raise DownloadRefused(_too_large(max_bytes))
    dest.write_bytes(data)
    return len(data)
