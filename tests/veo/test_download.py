"""Downloads and credentials: the key goes only where it belongs, the address checked is the
address connected to.

Google's wire is faked with `responses` (unmatched URLs raise); DNS is faked at
`socket.getaddrinfo`, the network edge; the rebinding drill runs real TLS servers on loopback
that the fake DNS routes "public" addresses to.
"""

import re
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import google.oauth2.credentials
import pytest
import requests
import responses

from bench.harness import write_certificates
from jobs.veo import download
from jobs.veo.base import DownloadRefused, Sample, VeoError
from jobs.veo.gemini import GeminiProvider
from jobs.veo.vertex import VertexProvider

KEY = "AIza-key-that-must-stay-home"
TOKEN = "ya29.token-that-must-stay-home"
GEMINI = "https://generativelanguage.googleapis.com"
FILE = f"{GEMINI}/v1beta/files/abc:download?alt=media"
STORAGE = "https://storage.googleapis.com"
EVIL = re.compile(r"https?://evil\.example(:\d+)?/.*")
MAX = 10 * 1024 * 1024


def gemini_provider(**kwargs):
    return GeminiProvider(api_key=KEY, **kwargs)


def vertex_provider(**kwargs):
    credentials = google.oauth2.credentials.Credentials(token=TOKEN)
    return VertexProvider(project="studio-proj", credentials=credentials, **kwargs)


def calls_to(pattern):
    return [c for c in responses.calls if re.fullmatch(pattern, c.request.url)]


def leaked(calls):
    return [
        c
        for c in calls
        if c.request.headers.get("x-goog-api-key") == KEY
        or TOKEN in c.request.headers.get("Authorization", "")
    ]


# --- 1. One parser decides, and a URL the parsers read differently is refused ---------------


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example\\@generativelanguage.googleapis.com/v1beta/files/abc:download",
        "https://evil.example\\.generativelanguage.googleapis.com/v1beta/files/abc",
        "https://generativelanguage.googleapis.com@evil.example/v1beta/files/abc",
        "https://user:pw@generativelanguage.googleapis.com/v1beta/files/abc",
        "https://generativelanguage.googleapis.com\u3002evil.example/x",
        "https://générative.example/x",
        "https://generativelanguage.googleapis.com/v1beta/files\\abc",
        "ftp://generativelanguage.googleapis.com/x",
        "https:///x",
    ],
)
@responses.activate
def test_a_url_with_a_backslash_userinfo_or_odd_host_is_refused_and_never_fetched(url, tmp_path):
    responses.get(EVIL, body=b"stolen")
    responses.get(re.compile(r"https?://generativelanguage\.googleapis\.com.*"), body=b"x")
    with pytest.raises(DownloadRefused):
        gemini_provider().download(Sample(uri=url), tmp_path / "out.mp4", max_bytes=MAX)
    assert len(responses.calls) == 0
    assert not (tmp_path / "out.mp4").exists()


@responses.activate
def test_a_redirect_to_a_backslash_url_never_takes_the_gemini_key_elsewhere(tmp_path):
    trick = "https://evil.example\\@generativelanguage.googleapis.com/v1beta/files/abc"
    responses.get(FILE, status=302, headers={"Location": trick})
    responses.get(EVIL, body=b"stolen")
    with pytest.raises(DownloadRefused):
        gemini_provider().download(Sample(uri=FILE), tmp_path / "out.mp4", max_bytes=MAX)
    assert calls_to(EVIL.pattern) == []
    assert len(calls_to(re.escape(FILE))) == 1


@responses.activate
def test_a_redirect_to_a_backslash_url_never_takes_the_vertex_token_elsewhere(tmp_path):
    first = f"{STORAGE}/storage/v1/b/bucket/o/clip.mp4?alt=media"
    trick = "https://evil.example\\@storage.googleapis.com/storage/v1/b/bucket/o/clip.mp4"
    responses.get(first, status=302, headers={"Location": trick})
    responses.get(EVIL, body=b"stolen")
    with pytest.raises(DownloadRefused):
        vertex_provider().download(
            Sample(uri="gs://bucket/clip.mp4"), tmp_path / "out.mp4", max_bytes=MAX
        )
    assert calls_to(EVIL.pattern) == []
    (call,) = calls_to(re.escape(first))
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


# --- 2. Credentials on an exact (scheme, host, port) match only -----------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://generativelanguage.googleapis.com:443/v1beta/files/abc",
        "http://generativelanguage.googleapis.com/v1beta/files/abc",
    ],
)
@responses.activate
def test_the_key_never_goes_over_plain_http_to_the_api_host(url, tmp_path):
    responses.get(re.compile(r"http://generativelanguage\.googleapis\.com.*"), body=b"video")
    with pytest.raises(DownloadRefused, match="plain http"):
        gemini_provider().download(Sample(uri=url), tmp_path / "out.mp4", max_bytes=MAX)
    assert len(responses.calls) == 0


@responses.activate
def test_the_key_stays_off_another_port_of_the_api_host(tmp_path, monkeypatch):
    fake_dns(monkeypatch, {"generativelanguage.googleapis.com": ["142.250.74.10"]})
    other_port = "https://generativelanguage.googleapis.com:8443/v1beta/files/abc"
    responses.get(other_port, body=b"video")
    gemini_provider().download(Sample(uri=other_port), tmp_path / "out.mp4", max_bytes=MAX)
    (call,) = responses.calls
    assert "x-goog-api-key" not in call.request.headers


@responses.activate
def test_the_emulator_keeps_its_key_on_its_own_http_origin_only(tmp_path):
    base = "http://127.0.0.1:8765"
    responses.get(f"{base}/v1beta/files/abc", status=302, headers={"Location": "/v1beta/x"})
    responses.get(f"{base}/v1beta/x", body=b"video")
    provider = gemini_provider(base_url=base)
    provider.download(Sample(uri=f"{base}/v1beta/files/abc"), tmp_path / "out.mp4", max_bytes=MAX)
    assert [c.request.headers["x-goog-api-key"] for c in responses.calls] == [KEY, KEY]
    assert (tmp_path / "out.mp4").read_bytes() == b"video"


# --- 3. Every resolved address is checked, and the checked one is the one connected to ------


def fake_dns(monkeypatch, answers, *, routes=None):
    """Answer getaddrinfo from `answers` (host -> list of IPs, or a list of such lists, one
    per lookup) and route IP literals listed in `routes` to (address, port) on loopback."""
    real = socket.getaddrinfo
    lookups = []

    def getaddrinfo(host, port, *args, **kwargs):
        lookups.append(host)
        if routes and host in routes:
            return real(*routes[host], *args, **kwargs)
        if host not in answers:
            return real(host, port, *args, **kwargs)
        answer = answers[host]
        if answer and isinstance(answer[0], list):
            answer = answer[min(lookups.count(host), len(answer)) - 1]
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port or 443, 0, 0) if ":" in ip else (ip, port or 443),
            )
            for ip in answer
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "224.0.0.1",
        "ff02::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::808:808",
        "64:ff9b:1::7f00:1",
        "::ffff:0:7f00:1",
        "2002:7f00:1::",
        "2002:808:808::1",
        "::7f00:1",
        "::808:808",
    ],
)
@responses.activate
def test_an_address_that_is_not_plainly_public_is_refused(address, tmp_path, monkeypatch):
    fake_dns(monkeypatch, {"videos.example": ["93.184.215.14", address]})
    responses.get("https://videos.example/clip.mp4", body=b"video")
    with pytest.raises(DownloadRefused, match="private or local address"):
        gemini_provider().download(
            Sample(uri="https://videos.example/clip.mp4"), tmp_path / "out.mp4", max_bytes=MAX
        )
    assert len(responses.calls) == 0


@responses.activate
def test_a_public_address_is_fetched_without_the_key(tmp_path, monkeypatch):
    fake_dns(monkeypatch, {"videos.example": ["93.184.215.14", "2606:2800:21f:cb07::1"]})
    responses.get("https://videos.example/clip.mp4", body=b"video")
    gemini_provider().download(
        Sample(uri="https://videos.example/clip.mp4"), tmp_path / "out.mp4", max_bytes=MAX
    )
    (call,) = responses.calls
    assert "x-goog-api-key" not in call.request.headers
    assert (tmp_path / "out.mp4").read_bytes() == b"video"


def test_the_providers_sessions_ignore_proxy_and_netrc_settings_from_the_environment():
    assert gemini_provider().session.trust_env is False
    assert vertex_provider().session.trust_env is False


# The rebinding drill: "videos.example" resolves to a public address the first time and to a
# private one after that. The public address is routed to a TLS server on loopback holding a
# certificate for videos.example; the private one to a listener that counts who knocks.


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return write_certificates(
        tmp_path_factory.mktemp("tls"),
        {
            "videos.example": ["videos.example", "videos6.example"],
            "other.example": ["other.example"],
        },
        ca_name="Test CA",
    )


class VideoServer:
    """An HTTPS server on loopback that records the SNI name and Host header it is sent."""

    def __init__(self, certfile):
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(
                    {
                        "host": self.headers["Host"],
                        "sni": getattr(self.connection, "sni", None),
                        "key": self.headers.get("x-goog-api-key"),
                    }
                )
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", "5")
                self.end_headers()
                self.wfile.write(b"video")

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile)

        def remember_sni(sock, name, _context):
            sock.sni = name

        context.sni_callback = remember_sni
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Knocks:
    """A listener that only counts the connections made to it (the "internal" service)."""

    def __init__(self):
        self.count = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            conn.close()

    def stop(self):
        self.sock.close()


@pytest.fixture
def network(tls_files, monkeypatch):
    servers = {name: VideoServer(tls_files / f"{name}.example.pem") for name in ("videos", "other")}
    internal = Knocks()
    lookups = fake_dns(
        monkeypatch,
        {
            "videos.example": [["93.184.215.14"], ["10.0.0.7"]],
            "videos6.example": [["2606:2800:21f:cb07::6"], ["fd00::7"]],
            "wrong-cert.example": [["93.184.215.15"], ["10.0.0.7"]],
        },
        routes={
            "93.184.215.14": ("127.0.0.1", servers["videos"].port),
            "2606:2800:21f:cb07::6": ("127.0.0.1", servers["videos"].port),
            "fd00::7": ("127.0.0.1", internal.port),
            "93.184.215.15": ("127.0.0.1", servers["other"].port),
            "10.0.0.7": ("127.0.0.1", internal.port),
        },
    )
    session = requests.Session()
    session.verify = str(tls_files / "ca.pem")
    yield {"lookups": lookups, "session": session, "internal": internal, **servers}
    for server in servers.values():
        server.stop()
    internal.stop()


def fetch(url, dest, session):
    return download.fetch(
        url,
        dest,
        session=session,
        auth_base_url=GEMINI,
        auth_headers={"x-goog-api-key": KEY},
        trusted_hosts=(),
        max_bytes=MAX,
        timeout=5,
    )


@pytest.mark.parametrize("host", ["videos.example", "videos6.example"])
def test_a_rebound_name_is_fetched_from_the_address_that_was_checked(host, network, tmp_path):
    size = fetch(f"https://{host}/clip.mp4", tmp_path / "out.mp4", network["session"])
    assert size == 5
    assert (tmp_path / "out.mp4").read_bytes() == b"video"
    assert network["internal"].count == 0
    assert network["lookups"].count(host) == 1
    assert network["videos"].seen == [{"host": host, "sni": host, "key": None}]


def test_a_proxy_named_in_the_environment_is_not_used(network, tmp_path, monkeypatch):
    proxy = f"http://127.0.0.1:{network['internal'].port}"
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("https_proxy", proxy)
    session = GeminiProvider(api_key=KEY).session
    session.verify = network["session"].verify
    fetch("https://videos.example/clip.mp4", tmp_path / "out.mp4", session)
    assert network["internal"].count == 0
    assert len(network["videos"].seen) == 1


def test_a_pinned_address_still_checks_the_certificate_against_the_host_name(network, tmp_path):
    with pytest.raises(VeoError, match="certificate") as caught:
        fetch("https://wrong-cert.example/clip.mp4", tmp_path / "out.mp4", network["session"])
    assert "SSLError" not in caught.value.message
    assert network["other"].seen == []
    assert network["internal"].count == 0
    assert not (tmp_path / "out.mp4").exists()


def test_a_certificate_from_no_trusted_authority_is_refused(network, tmp_path):
    untrusting = requests.Session()  # certifi's bundle, which never signed the test CA
    with pytest.raises(VeoError, match="certificate"):
        fetch("https://videos.example/clip.mp4", tmp_path / "out.mp4", untrusting)
    assert network["videos"].seen == []


def test_pinned_connections_load_the_ca_bundle_once_not_once_each(network, tmp_path, monkeypatch):
    loads = []
    real = ssl.SSLContext.load_verify_locations

    def counted(context, *args, **kwargs):
        loads.append(args or kwargs)
        return real(context, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    download.verifying_context.cache_clear()
    route = {"93.184.215.14": ("127.0.0.1", network["videos"].port)}
    fake_dns(monkeypatch, {"videos.example": ["93.184.215.14"]}, routes=route)  # no rebinding
    for n in range(3):  # each a new pinned session, so a new connection
        fetch("https://videos.example/clip.mp4", tmp_path / f"{n}.mp4", network["session"])
    assert len(network["videos"].seen) == 3
    assert len(loads) == 1


# --- Messages a person reads: no class names, no socket text --------------------------------


@responses.activate
def test_a_broken_connection_is_told_in_a_sentence_and_logged_in_detail(tmp_path, caplog):
    responses.get(FILE, body=requests.ConnectionError("[Errno 111] Connection refused"))
    with pytest.raises(VeoError) as caught:
        gemini_provider().download(Sample(uri=FILE), tmp_path / "out.mp4", max_bytes=MAX)
    message = caught.value.message
    assert caught.value.retryable
    assert message == "The video download failed: could not connect to the file server."
    assert "Connection refused" in caplog.text


def test_a_failed_lookup_is_told_in_a_sentence_and_logged_in_detail(tmp_path, caplog, monkeypatch):
    def refuse(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(VeoError) as caught:
        gemini_provider().download(
            Sample(uri="https://videos.example/clip.mp4"), tmp_path / "out.mp4", max_bytes=MAX
        )
    assert caught.value.retryable
    assert caught.value.message == "Could not look up videos.example, the video's host."
    assert "Name or service not known" in caplog.text


@pytest.mark.parametrize("length", ["abc", "1" * 5000, "-5"])
@responses.activate
def test_a_nonsense_content_length_is_a_sentence_not_a_crash(length, tmp_path):
    responses.get(FILE, body=b"video", headers={"Content-Length": length})
    with pytest.raises(VeoError) as caught:
        gemini_provider().download(Sample(uri=FILE), tmp_path / "out.mp4", max_bytes=MAX)
    assert caught.value.message == "Google's file server sent a malformed answer."
    assert caught.value.retryable
