"""Serve the emulator over HTTP: route each request to its dialect and write the answer.

``Emulator`` is the running server: ``start()`` returns once it listens, ``wait()`` blocks
until it stops (or a timeout passes), ``stop()`` ends it. ``main()`` is ``python -m
jobs.veo.emulator``.
"""

import argparse
import json
import logging
import re
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from . import gemini, oauth, storage, vertex
from .errors import NOT_FOUND_MESSAGE, ApiError
from .files import Files, iso_time
from .interactions import GEMINI, VERTEX, Interactions
from .operations import Operation, Operations

logger = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
SUBMIT_PATH = re.compile(r"/v1beta/models/(?P<model>[^/:]+):predictLongRunning")
OPERATION_PATH = re.compile(r"/v1beta/(?P<name>models/[^/:]+/operations/[^/:]+)")
DOWNLOAD_PATH = re.compile(r"/v1beta/files/(?P<file_id>[a-z0-9]+):download")
REDIRECTED_PATH = re.compile(r"/emulator/redirected/(?P<file_id>[a-z0-9]+)")
VERTEX_PATH = re.compile(
    r"/v1(?:beta1)?/projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)"
    r"/publishers/google/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)"
)
INTERACTION_PATH = re.compile(
    r"/(?P<version>v1|v1beta)/interactions(?:/(?P<id>[A-Za-z0-9_-]+)(?P<cancel>/cancel)?)?"
)
VERTEX_INTERACTION_PATH = re.compile(
    r"/v1beta1/projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)"
    r"/interactions(?:/(?P<id>[A-Za-z0-9_-]+)(?P<cancel>/cancel)?)?"
)
FILE_PATH = re.compile(
    r"/(?P<version>v1|v1beta)/files/(?P<file_id>[a-z0-9]+)(?P<download>:download)?"
)
UPLOAD_PATH = re.compile(r"/upload/(?P<version>v1|v1beta)/files")
STORAGE_PATH = re.compile(r"(?:/download)?/storage/v1/b/(?P<bucket>[^/]+)/o/(?P<object>.+)")
KEY_IN_TEXT = re.compile(r"(key=)[^&\s\"]+")


class Emulator:
    """Run the fake Veo server over the operations it keeps."""

    def __init__(self, *, host="127.0.0.1", port=0, latency=4.0, data_dir=None, api_key=None):
        self.host, self.port, self.api_key = host, port, api_key
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="veo-emulator-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.operations = Operations(self.data_dir, latency=latency, persistent=bool(data_dir))
        self.files = Files(self.data_dir)
        self.interactions = Interactions(self.operations, self.files)
        self.base_url = ""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def latency(self) -> float:
        """Seconds from submit to done, for operations whose prompt names no latency."""
        return self.operations.latency

    @property
    def submits(self) -> int:
        """Accepted submits, counted even when the answer was an error."""
        return self.operations.submits

    @property
    def token_grants(self) -> int:
        return self.operations.token_grants

    @property
    def redirect_key_leaks(self) -> int:
        return self.operations.redirect_key_leaks

    def start(self) -> "Emulator":
        """Restore saved state, serve in a daemon thread and return self once it listens."""
        self.operations.load()
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.emulator = self
        self.base_url = f"http://{self.host}:{self._server.server_port}"
        # A short poll interval makes stop() quick, which adds up over a test suite.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops or timeout seconds pass; return whether it stopped."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.serving

    @property
    def serving(self) -> bool:
        """Whether the server is listening and answering."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop serving and drop renders that have not started."""
        # Take the server first, so that a second stop() from another thread finds none.
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        self.operations.stop()

    def submits_for(self, prompt_substring: str) -> int:
        """Return how many accepted submits had a prompt containing prompt_substring."""
        return self.operations.submits_for(prompt_substring)

    def requests_for(self, prompt_substring: str) -> int:
        """Return how many create requests, refused ones too, had prompt_substring."""
        return self.operations.requests_for(prompt_substring)

    def cut_off_for(self, prompt_substring: str) -> list[int]:
        """Return how many bytes each request with prompt_substring lacked when its client hung up."""
        return self.operations.cut_off_for(prompt_substring)

    def stats(self) -> dict:
        """Return the counters that tests and the chaos harness check."""
        return self.operations.stats()


class Handler(BaseHTTPRequestHandler):
    """Answer one connection's requests as Google's endpoints would."""

    protocol_version = "HTTP/1.1"
    server_version = "VeoEmulator/1.0"
    # Idle keep-alive connections give their thread back after a while.
    timeout = 60

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def log_message(self, format, *args):
        logger.info("%s %s", self.address_string(), KEY_IN_TEXT.sub(r"\1<redacted>", format % args))

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator

    @property
    def operations(self) -> Operations:
        return self.server.emulator.operations

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        # Read the whole body even when unused so the keep-alive connection stays in step.
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if len(body) < length:
            # The client hung up before its last byte: like Google, act on nothing.
            self.operations.note_cut_off(body, missing=length - len(body))
            self.close_connection = True
            return
        try:
            self._route(method, path, query, body)
        except ApiError as error:
            self._send_json(error.code, error.body(), error.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, method, path, query, body) -> None:
        if method == "GET" and path == "/emulator/stats":
            self._send_json(200, self.emulator.stats())
        elif method == "GET" and (match := REDIRECTED_PATH.fullmatch(path)):
            credentials = ("x-goog-api-key", "Authorization")
            if any(self.headers.get(name) for name in credentials) or "key" in query:
                self.operations.note_redirected_key()
            self._send_video(self.operations.video(match["file_id"])[1])
        elif method == "POST" and path == "/token":
            content_type = self.headers.get("Content-Type") or ""
            token = oauth.grant_token(self.operations, body, content_type)
            self._send_json(200, token, {"Cache-Control": "no-store"})
        elif match := VERTEX_INTERACTION_PATH.fullmatch(path):
            self._check_token("aiplatform.googleapis.com")
            self._interaction(method, match, query, body, VERTEX)
        elif match := UPLOAD_PATH.fullmatch(path):
            self._upload(method, match["version"], query, body)
        elif match := INTERACTION_PATH.fullmatch(path):
            self._check_key(query)
            self._interaction(method, match, query, body, GEMINI)
        elif (match := FILE_PATH.fullmatch(path)) and not (
            match["version"] == "v1beta" and match["download"] and method == "GET"
        ):
            self._check_key(query)
            self._file(method, match, query)
        elif path.startswith(("/v1/", "/v1beta1/")):
            self._check_token("aiplatform.googleapis.com")
            self._route_vertex(method, path, body)
        elif match := STORAGE_PATH.fullmatch(path):
            self._check_token("storage.googleapis.com")
            self._storage(method, match["bucket"], match["object"], query)
        elif not path.startswith("/v1beta/"):
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        else:
            key = self.headers.get("x-goog-api-key") or query.get("key", [""])[0]
            gemini.check_key(key, self.emulator.api_key)
            self._route_gemini(method, path, body)

    def _route_gemini(self, method, path, body) -> None:
        if method == "GET" and path == "/v1beta/models":
            self._send_json(200, gemini.list_models())
        elif method == "POST" and (match := SUBMIT_PATH.fullmatch(path)):
            op = gemini.submit(self.operations, match["model"], body)
            self._send_json(200, {"name": op.name})
        elif method == "GET" and (match := OPERATION_PATH.fullmatch(path)):
            self._send_json(200, gemini.poll(self.operations, match["name"], self._base_url()))
        elif method == "GET" and (match := DOWNLOAD_PATH.fullmatch(path)):
            op, video = self.operations.video(match["file_id"])
            self._download(op, video, ApiError(404, "NOT_FOUND", "File not found or expired"))
        else:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)

    def _check_key(self, query) -> None:
        """Refuse a request to the Interactions or Files API without the accepted key."""
        key = self.headers.get("x-goog-api-key") or query.get("key", [""])[0]
        if key and self.emulator.api_key and key != self.emulator.api_key:
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "API key not valid. Please pass a valid API key.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            )
        gemini.check_key(key, self.emulator.api_key)

    def _interaction(self, method, match, query, body, dialect) -> None:
        interactions = self.emulator.interactions
        if query.get("stream", ["false"])[0].lower() == "true":
            raise ApiError(
                400, "INVALID_ARGUMENT", "stream is not supported by this emulator; poll instead."
            )
        where = {"dialect": dialect}
        if dialect == VERTEX:
            version = "v1beta1"
            place = {"project": match["project"], "location": match["location"]}
        else:
            version, place = match["version"], {}
        interaction_id = match["id"]
        if interaction_id is None and method == "POST":
            answer = interactions.create(
                body, api_version=version, base_url=self._base_url(), **where, **place
            )
        elif interaction_id is not None and match["cancel"] and method == "POST":
            answer = interactions.cancel(interaction_id, base_url=self._base_url(), **where)
        elif interaction_id is not None and not match["cancel"] and method == "GET":
            answer = interactions.get(interaction_id, base_url=self._base_url(), **where)
        elif interaction_id is not None and not match["cancel"] and method == "DELETE":
            answer = interactions.delete(interaction_id, **where)
        else:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        self._send_json(200, answer)

    def _upload(self, method, version, query, body) -> None:
        """Open a resumable upload (with the key) or take its bytes (the URL is the session)."""
        if method != "POST":
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        upload_id = query.get("upload_id", [""])[0]
        if not upload_id:
            self._check_key(query)
            upload_id = self.emulator.files.start(body, self.headers, version)
            url = f"{self._base_url()}/upload/{version}/files?upload_id={upload_id}"
            headers = {"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active"}
            self._send_json(200, {}, headers)
            return
        stored = self.emulator.files.upload(upload_id, body, self.headers)
        if stored is None:
            self._send_json(200, {}, {"X-Goog-Upload-Status": "active"})
        else:
            resource = stored.resource(self._base_url())
            self._send_json(200, {"file": resource}, {"X-Goog-Upload-Status": "final"})

    def _file(self, method, match, query) -> None:
        """Answer the Files API for an uploaded file or a generated video."""
        files, file_id = self.emulator.files, match["file_id"]
        media = bool(match["download"]) or query.get("alt", [""])[0] == "media"
        if method == "DELETE" and not match["download"]:
            if not files.delete(file_id):
                raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
            self._send_json(200, {})
            return
        if method != "GET":
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        if (stored := files.get(file_id)) is not None:
            if media:
                self._send_video(files.path(stored), content_type=stored.mime_type)
            else:
                self._send_json(200, files.read(stored, self._base_url()))
            return
        op, video = self.operations.video(file_id, counting=media)
        if media:
            self._download(op, video, ApiError(404, "NOT_FOUND", "File not found or expired"))
            return
        base = f"{self._base_url()}/{match['version']}/files/{file_id}"
        self._send_json(
            200,
            {
                "name": f"files/{file_id}",
                "mimeType": "video/mp4",
                "sizeBytes": str(video.stat().st_size),
                "createTime": iso_time(op.submitted_at),
                "updateTime": iso_time(op.rendered_at or op.submitted_at),
                "uri": base,
                "downloadUri": f"{base}:download?alt=media",
                "state": "ACTIVE",
                "source": "GENERATED",
            },
        )

    def _route_vertex(self, method, path, body) -> None:
        match = VERTEX_PATH.fullmatch(path)
        if method != "POST" or match is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        model = match["project"], match["location"], match["model"]
        if match["method"] == "predictLongRunning":
            op = vertex.submit(self.operations, *model, body)
            self._send_json(200, {"name": op.name})
        elif match["method"] == "fetchPredictOperation":
            self._send_json(200, vertex.fetch_predict_operation(self.operations, *model, body))
        else:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)

    def _storage(self, method, bucket, name, query) -> None:
        if method != "GET":
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        media = query.get("alt", [""])[0] == "media"
        op, video = self.operations.storage_object(bucket, name, media=media)
        if media:
            self._download(
                op, video, ApiError(404, "NOT_FOUND", f"No such object: {bucket}/{name}")
            )
            return
        size = video.stat().st_size
        self._send_json(200, storage.object_resource(bucket, name, size, self._base_url()))

    def _check_token(self, service: str) -> None:
        oauth.check_token(self.operations, self.headers.get("Authorization"), service)

    def _base_url(self) -> str:
        return (
            f"http://{self.headers.get('Host') or self.emulator.base_url.removeprefix('http://')}"
        )

    def _download(self, op: Operation, path: Path, gone: ApiError) -> None:
        """Send a video, or break the download as the operation's fault asks."""
        match op.fault:
            case "redirect":
                hostname = urlsplit(self._base_url()).hostname
                other = "localhost" if hostname == "127.0.0.1" else "127.0.0.1"
                port = self.server.server_port
                location = f"http://{other}:{port}/emulator/redirected/{op.file_id}"
                self._send_bytes(302, b"", "text/plain", {"Location": location})
            case "html":
                self._send_bytes(200, b"<html>error</html>", "text/html; charset=utf-8")
            case "expired":
                raise gone
            case "download-404-once" if self.operations.spend_download_fault(op):
                # The file is not there yet right after completion; the retry finds it.
                raise ApiError(404, "NOT_FOUND", "File not found or not yet ACTIVE.")
            case "truncated":
                self._send_video(path, truncate=True)
            case _:
                self._send_video(path)

    def _send_video(
        self, path: Path, *, truncate: bool = False, content_type: str = "video/mp4"
    ) -> None:
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with path.open("rb") as video:
            if truncate:
                self.wfile.write(video.read(size // 2))
                self.close_connection = True
            else:
                shutil.copyfileobj(video, self.wfile, CHUNK_SIZE)

    def _send_json(self, status: int, payload: dict, headers=None) -> None:
        body = json.dumps(payload, indent=2).encode()
        self._send_bytes(status, body, "application/json; charset=UTF-8", headers)

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def main(argv=None) -> None:
    """Run the emulator from the command line until interrupted."""
    parser = argparse.ArgumentParser(description="Serve a local stand-in for Google's Veo API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=4.0, help="seconds until done")
    parser.add_argument(
        "--data-dir",
        help="where videos and state.json go (default: a new temporary directory, not kept)",
    )
    parser.add_argument("--api-key", help="the only key to accept (default: any non-empty key)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    emulator = Emulator(
        host=args.host,
        port=args.port,
        latency=args.latency,
        data_dir=args.data_dir,
        api_key=args.api_key,
    )
    emulator.start()
    print(f"Veo emulator on {emulator.base_url}, videos in {emulator.data_dir}", flush=True)
    try:
        emulator.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
