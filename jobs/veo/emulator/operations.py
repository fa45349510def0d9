"""The emulator's operations: accepted submits, their renders, counters and state.json.

Given a data_dir, the operations, counters and issued tokens are kept in ``state.json``
there, so a restarted emulator still answers for operations submitted before it stopped; a
render that died with the old process is redone at start-up.
"""

import contextlib
import json
import logging
import os
import secrets
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path

from . import faults
from .errors import NOT_FOUND_MESSAGE, ApiError
from .media import pad_with_free_box, render_mp4
from .storage import object_names
from .validation import Request

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"


@dataclass
class Operation:
    """One accepted generation and what has happened to it."""

    name: str
    model: str
    prompt: str
    fault: str | None
    latency: float
    file_id: str
    # Wall-clock time, so that it still means something to the next process.
    submitted_at: float = field(default_factory=time.time)
    dialect: str = "gemini"
    width: int = 1280
    height: int = 720
    seconds: int = 8
    sample_count: int = 1
    storage_uri: str | None = None
    image: bool = False
    last_frame: bool = False
    references: int = 0
    parameters: dict = field(default_factory=dict)
    # The Interactions dialect's own: what the create asked for and what happened to it since.
    task: str = ""
    resolution: str = "720p"
    delivery: str = "inline"
    api_version: str = "v1"
    generated_seconds: int = 0
    cancelled: bool = False
    deleted: bool = False
    notified: bool = False
    render_failed: bool = False
    poll_fault_spent: bool = False
    download_fault_spent: bool = False
    polls: int = 0
    downloads: int = 0
    rendered_at: float | None = None
    rendered: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def state(self) -> dict:
        """Return the fields that state.json keeps."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rendered"}

    @classmethod
    def from_state(cls, state: dict) -> "Operation":
        """Rebuild an operation from state.json, ignoring keys it does not know."""
        known = {f.name for f in fields(cls)} - {"rendered"}
        return cls(**{key: value for key, value in state.items() if key in known})

    def objects(self) -> list[tuple[str, str]]:
        """Return the (bucket, object) of each sample written to Cloud Storage."""
        return object_names(self.storage_uri, self.name, self.sample_count)


def new_id() -> str:
    """Return a random 12-character id of lowercase letters and digits."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))


class Operations:
    """Keep the accepted operations, render their videos and save the state to disk."""

    def __init__(self, data_dir: Path, *, latency: float, persistent: bool):
        self.data_dir = data_dir
        self.latency = latency
        # Without a data_dir of its own nothing outlives the emulator, so nothing is saved.
        self._state_path = data_dir / STATE_FILE if persistent else None
        self.submits = 0
        self.redirect_key_leaks = 0
        self.token_grants = 0
        # Every create that reached a video dialect, refused or not: what a retrying client costs.
        self.create_requests: list[str] = []
        self.cut_off: list[tuple[str, int]] = []
        self._operations: dict[str, Operation] = {}
        self._files: dict[str, Operation] = {}
        self._objects: dict[tuple[str, str], Operation] = {}
        self._tokens: dict[str, float] = {}
        self._stopped = False
        self._lock = threading.Lock()
        # A small pool keeps a burst of submits from rendering dozens of videos at once.
        self._renderer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="veo-render")

    def stop(self) -> None:
        """Drop renders that have not started; a running one saves nothing from now on."""
        with self._lock:
            # A render still running must not overwrite what a successor has saved since.
            self._stopped = True
        self._renderer.shutdown(wait=False, cancel_futures=True)

    @property
    def stopped(self) -> bool:
        """Whether the emulator has stopped, so that nothing waiting on it should wait on."""
        return self._stopped

    def submits_for(self, prompt_substring: str) -> int:
        """Return how many accepted submits had a prompt containing prompt_substring."""
        with self._lock:
            return sum(prompt_substring in op.prompt for op in self._operations.values())

    def requests_for(self, prompt_substring: str) -> int:
        """Return how many create requests, accepted or refused, had prompt_substring."""
        with self._lock:
            return sum(prompt_substring in prompt for prompt in self.create_requests)

    def note_cut_off(self, body: bytes, *, missing: int) -> None:
        """Keep a request body whose client hung up `missing` bytes before its end."""
        with self._lock:
            self.cut_off.append((body.decode(errors="replace"), missing))

    def cut_off_for(self, prompt_substring: str) -> list[int]:
        """Return the bytes missing from each cut-off request that mentions prompt_substring."""
        with self._lock:
            return [missing for body, missing in self.cut_off if prompt_substring in body]

    def note_request(self, prompt: str) -> None:
        """Count a create request before it is refused or accepted."""
        with self._lock:
            self.create_requests.append(prompt)

    def stats(self) -> dict:
        """Return the counters that tests and the chaos harness check."""
        with self._lock:
            operations = {
                op.name: {
                    "prompt": op.prompt,
                    "model": op.model,
                    "dialect": op.dialect,
                    "fault": op.fault,
                    "submits": 1,
                    "polls": op.polls,
                    "downloads": op.downloads,
                    # When a poll would first have answered done (wall clock), for benchmarks.
                    "done_at": max(op.submitted_at + op.latency, op.rendered_at)
                    if op.rendered_at is not None
                    else None,
                    "image": op.image,
                    "last_frame": op.last_frame,
                    "references": op.references,
                    "parameters": dict(op.parameters),
                    "sample_count": op.sample_count,
                    "storage_uri": op.storage_uri,
                    "task": op.task,
                    "cancelled": op.cancelled,
                }
                for op in self._operations.values()
            }
            return {
                "submits": self.submits,
                "token_grants": self.token_grants,
                "redirect_key_leaks": self.redirect_key_leaks,
                "create_requests": len(self.create_requests),
                "operations": operations,
            }

    def video(self, file_id: str, *, counting: bool = True) -> tuple[Operation, Path]:
        """Return a rendered video's operation and path, counting the download."""
        with self._lock:
            op = self._files.get(file_id)
            if op is None or not self.video_path(op).exists():
                raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
            if counting:
                op.downloads += 1
        return op, self.video_path(op)

    def storage_object(self, bucket: str, name: str, *, media: bool) -> tuple[Operation, Path]:
        """Return the operation and path behind a Cloud Storage object, counting media reads."""
        with self._lock:
            op = self._objects.get((bucket, name))
            written = (
                op is not None
                and self.ready(op)
                and op.fault not in faults.VIDEOLESS_FAULTS
                and not op.render_failed
                and self.video_path(op).exists()
            )
            if not written:
                raise ApiError(404, "NOT_FOUND", f"No such object: {bucket}/{name}")
            if media:
                op.downloads += 1
        return op, self.video_path(op)

    def add_token(self, token: str, expiry: float) -> None:
        """Keep a token the token endpoint granted, valid until expiry."""
        with self._lock:
            self._tokens[token] = expiry
            self.token_grants += 1
            self._save()

    def token_expiry(self, token: str) -> float | None:
        """Return when a token this emulator issued expires, or None for any other token."""
        with self._lock:
            return self._tokens.get(token)

    def spend_download_fault(self, op: Operation) -> bool:
        """Return True the first time a download-404-once download is asked for, then False."""
        with self._lock:
            if op.download_fault_spent:
                return False
            op.download_fault_spent = True
            self._save()
        return True

    def note_redirected_key(self) -> None:
        """Count a credential that followed a redirect off the API host."""
        with self._lock:
            self.redirect_key_leaks += 1
            self._save()

    def accept(
        self, name: str, model: str, dialect: str, request: Request, fault, **extra
    ) -> Operation:
        """Store an accepted operation, start its render, and answer as its fault asks.

        ``extra`` sets the Interactions dialect's own fields of the Operation.
        """
        faults.padding(request.prompt)  # Refuse an oversized pad before anything is stored.
        op = Operation(
            **extra,
            name=name,
            model=model,
            prompt=request.prompt,
            fault=fault,
            latency=faults.latency(request.prompt, fault, self.latency),
            file_id=new_id(),
            dialect=dialect,
            width=request.width,
            height=request.height,
            seconds=request.seconds,
            sample_count=request.sample_count,
            storage_uri=request.storage_uri,
            image=request.image,
            last_frame=request.last_frame,
            references=request.references,
            parameters=request.parameters,
        )
        renders = fault not in faults.VIDEOLESS_FAULTS
        if renders and request.background is not None and self._state_path is not None:
            # Keep the picture until the video exists, in case a restart loses the render.
            self._image_path(op).write_bytes(request.background)
        with self._lock:
            self._add(op)
            self.submits += 1
            self._save()
        if renders:
            self._renderer.submit(self._render, op, request.background)
        else:
            op.rendered.set()
        if delay := faults.submit_delay(request.prompt):
            time.sleep(delay)
        if fault == "submit-500-accepted":
            raise ApiError(500, "INTERNAL", "An internal error has occurred. Please retry.")
        return op

    def advance(self, name: str, dialect: str) -> tuple[Operation, bool]:
        """Count a poll and return the operation and whether it is done, or raise ApiError."""
        with self._lock:
            op = self._operations.get(name)
            if op is None or op.dialect != dialect or op.deleted:
                raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
            op.polls += 1
            ready = self.ready(op)
            if ready and op.fault == "poll-503-once" and not op.poll_fault_spent:
                op.poll_fault_spent = True
                self._save()
                raise ApiError(503, "UNAVAILABLE", "The service is currently unavailable.")
        return op, ready

    def find(self, name: str, dialect: str) -> Operation:
        """Return a stored operation of the dialect without counting a poll, or raise 404."""
        with self._lock:
            op = self._operations.get(name)
        if op is None or op.dialect != dialect or op.deleted:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        return op

    def cancel(self, name: str, dialect: str) -> Operation:
        """Mark a running operation cancelled; raise 400 when it has already ended."""
        op = self.find(name, dialect)
        with self._lock:
            if op.cancelled or self.ready(op):
                raise ApiError(
                    400,
                    "FAILED_PRECONDITION",
                    "Interaction is not in a cancellable state: only a running background "
                    "interaction can be cancelled.",
                )
            op.cancelled = True
            self._save()
        return op

    def remove(self, name: str, dialect: str) -> None:
        """Forget a stored operation (still counted; its video stays downloadable), or raise 404."""
        op = self.find(name, dialect)
        with self._lock:
            op.deleted = True
            self._save()

    def mark_notified(self, op: Operation) -> bool:
        """Record that op's terminal event went out; return False when it already had."""
        with self._lock:
            if op.notified:
                return False
            op.notified = True
            self._save()
        return True

    def wait_ready(self, op: Operation, *, step: float = 0.05) -> None:
        """Block until op is done, cancelled, or the emulator stops."""
        while not self.ready(op) and not op.cancelled and not self._stopped:
            time.sleep(step)

    @staticmethod
    def ready(op: Operation) -> bool:
        """Return whether an operation's latency has passed and its render has ended."""
        return time.time() - op.submitted_at >= op.latency and op.rendered.is_set()

    def video_path(self, op: Operation) -> Path:
        """Return where an operation's video is (or will be) rendered."""
        return self.data_dir / f"{op.file_id}.mp4"

    def _image_path(self, op: Operation) -> Path:
        return self.data_dir / f"{op.file_id}.image"

    def _add(self, op: Operation) -> None:
        """Index an operation by name, file id and Cloud Storage objects; hold the lock."""
        self._operations[op.name] = op
        self._files[op.file_id] = op
        for key in op.objects():
            self._objects[key] = op

    def _save(self) -> None:
        """Write state.json atomically, when there is a data_dir; hold the lock."""
        if self._state_path is None or self._stopped:
            return
        now = time.time()
        state = {
            "submits": self.submits,
            "token_grants": self.token_grants,
            "redirect_key_leaks": self.redirect_key_leaks,
            "tokens": {token: expiry for token, expiry in self._tokens.items() if expiry > now},
            "operations": [op.state() for op in self._operations.values()],
        }
        partial = self._state_path.with_name(f".{STATE_FILE}.{secrets.token_hex(4)}.tmp")
        try:
            partial.write_text(json.dumps(state))
            os.replace(partial, self._state_path)
        except OSError:
            logger.exception("Saving %s failed", self._state_path)
            partial.unlink(missing_ok=True)

    def load(self) -> None:
        """Restore the state an earlier run saved, and redo the renders it lost."""
        if self._state_path is None or not self._state_path.exists():
            return
        try:
            state = json.loads(self._state_path.read_text())
            operations = [Operation.from_state(item) for item in state["operations"]]
        except (OSError, ValueError, KeyError, TypeError):
            logger.exception("Ignoring the unreadable %s", self._state_path)
            return
        now = time.time()
        with self._lock:
            self.submits = state.get("submits", len(operations))
            self.token_grants = state.get("token_grants", 0)
            self.redirect_key_leaks = state.get("redirect_key_leaks", 0)
            tokens = state.get("tokens", {})
            self._tokens = {token: expiry for token, expiry in tokens.items() if expiry > now}
            for op in operations:
                self._add(op)
        for op in operations:
            if op.fault in faults.VIDEOLESS_FAULTS or op.render_failed:
                op.rendered.set()
                continue
            # Read the picture before looking for the video: a render that outlived the old
            # process deletes its picture only once the video is in place.
            try:
                background = self._image_path(op).read_bytes()
            except FileNotFoundError:
                background = None
            if self.video_path(op).exists():
                op.rendered.set()
            else:
                self._renderer.submit(self._render, op, background)
        # A killed process leaves its partial renders behind; a live render touches its file
        # every frame, so only old ones are litter.
        for partial in self.data_dir.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if now - partial.stat().st_mtime > 60:
                    partial.unlink()
        logger.info("Restored %d operations from %s", len(operations), self._state_path)

    def _render(self, op: Operation, background: bytes | None) -> None:
        path = self.video_path(op)
        # Render beside the final name so a download never sees a half-written file; the random
        # part keeps a render that outlived a stopped emulator from writing into this one's.
        partial = path.with_name(f"{op.file_id}.{secrets.token_hex(4)}.part")
        frame = {
            "prompt": op.prompt,
            "width": op.width,
            "height": op.height,
            "seconds": op.seconds,
            # Vertex's generateAudio and seed (the Gemini dialect refuses the first).
            "audio": op.parameters.get("generateAudio") is not False,
            "seed": op.parameters.get("seed"),
        }
        try:
            try:
                render_mp4(partial, background=background, **frame)
            except OSError:
                if background is None:
                    raise
                # Validation checks only the signature, so Pillow may still fail to read it.
                logger.warning("%s: cannot read the input image; rendering without it", op.name)
                render_mp4(partial, **frame)
            if padding := faults.padding(op.prompt):
                pad_with_free_box(partial, padding)
            partial.replace(path)
        except Exception:
            logger.exception("Rendering %s failed", op.name)
            partial.unlink(missing_ok=True)
            with self._lock:
                op.render_failed = True
                self._save()
        finally:
            self._image_path(op).unlink(missing_ok=True)
            op.rendered_at = time.time()
            op.rendered.set()
