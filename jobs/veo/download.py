"""Fetch a generated video without trusting the address it comes from.

Redirects are followed by hand so that every hop is checked: only https (or a host the
operator listed), no loopback, private, link-local or metadata addresses (unless
listed), and the API key only ever goes to the API's own host. `requests` would
otherwise re-send a custom key header to whatever host a redirect names.
"""

import ipaddress
import socket
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from .base import DownloadRefused, VeoError

MAX_REDIRECTS = 3
CHUNK_SIZE = 1024 * 1024


def host_key(url):
    """Return "host:port" for a URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"


def _listed(url, allowed_hosts):
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return host in allowed_hosts or host_key(url) in allowed_hosts


def check_address(url, *, trusted_hosts):
    """Refuse a URL whose scheme or resolved addresses the studio does not download from.

    `trusted_hosts` holds "host" or "host:port" entries that are allowed whatever they
    resolve to (the API's own host, the emulator, hosts the operator listed).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadRefused(f"The video address is not a web address ({parts.scheme or 'none'}).")
    if _listed(url, trusted_hosts):
        return
    if parts.scheme != "https":
        raise DownloadRefused(
            f"Refused to download the video over plain http from {parts.hostname}."
        )
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise VeoError(f"Could not look up {parts.hostname}: {exc}", retryable=True) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise DownloadRefused(
                f"Refused to download the video from {parts.hostname}: it resolves to a "
                "private or local address. List the host in VEO_DOWNLOAD_HOSTS to allow it."
            )


def fetch(
    url, dest: Path, *, session, auth_base_url, auth_headers, trusted_hosts, max_bytes, timeout
):
    """Stream url into dest, following at most MAX_REDIRECTS checked hops; return the size.

    `auth_headers` (the API key, a bearer token) go only to the host of `auth_base_url`.
    """
    auth_host = host_key(auth_base_url)
    trusted = {h.lower() for h in trusted_hosts} | {auth_host}
    for _hop in range(MAX_REDIRECTS + 1):
        check_address(url, trusted_hosts=trusted)
        headers = {"Accept": "*/*"}
        if host_key(url) == auth_host:
            headers.update(auth_headers)
        try:
            response = session.get(
                url, headers=headers, stream=True, allow_redirects=False, timeout=timeout
            )
        except requests.RequestException as exc:
            raise VeoError(
                f"The video download failed: {type(exc).__name__}.", retryable=True
            ) from None
        with response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("Location", ""))
                continue
            if response.status_code in (404, 410):
                raise VeoError(
                    "The generated video is no longer on Google's servers (they keep "
                    "videos for 2 days). Retry the job to generate it again."
                )
            if response.status_code >= 500 or response.status_code == 429:
                raise VeoError(
                    f"Google's file server answered {response.status_code}.",
                    retryable=True,
                )
            if response.status_code != 200:
                raise VeoError(
                    f"The video download was refused ({response.status_code}). "
                    "Check the API key's permissions."
                )
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise DownloadRefused(_too_large(max_bytes))
            return _write_stream(response, dest, max_bytes=max_bytes, declared=declared)
    raise DownloadRefused(f"The video download redirected more than {MAX_REDIRECTS} times.")


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
        raise VeoError(
            f"The video download broke off: {type(exc).__name__}.", retryable=True
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
