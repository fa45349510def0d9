"""The provider interface: plain data in, plain data out, no Django.

A provider submits a generation (one paid call), polls the long-running operation it
got back, and downloads a finished sample. Errors are classified once, here, into what
a pipeline needs to decide: retry later, give up with a message a person understands,
or stop because a paid submit may have gone through.
"""

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class Task(StrEnum):
    """What a generation does, in the names both of Google's APIs use on the wire."""

    TEXT = "text_to_video"
    IMAGE = "image_to_video"
    REFERENCES = "reference_to_video"
    EXTEND = "extend"
    EDIT = "edit"
    UPSCALE = "upscale"


# The tasks that start from a previous job's video.
FROM_VIDEO = frozenset({Task.EXTEND, Task.EDIT, Task.UPSCALE})


@dataclass(frozen=True)
class InputImage:
    """A frame sent with the request (first or last), as bytes and their MIME type."""

    data: bytes
    mime_type: str


@dataclass(frozen=True)
class GenerationOptions:
    """What a generation may set besides its prompt and model, with the studio's defaults.

    The one place these defaults are written: jobs.options reads the names, types and
    defaults from here for the forms, the API, drafts and batches.
    """

    aspect_ratio: str = "16:9"
    resolution: str = "720p"
    duration_seconds: int = 8
    negative_prompt: str = ""
    sample_count: int = 1
    person_generation: str = ""
    # None leaves the choice to the model (the catalog says which models take each).
    seed: int | None = None
    generate_audio: bool | None = None
    enhance_prompt: bool | None = None


@dataclass(frozen=True)
class SourceVideo:
    """A previous job's video that an extend, edit or upscale starts from.

    `reference` is the provider's own name for the generation that made it (an
    interaction id, or a Veo operation name), `api` the API that made it ("interactions"
    or "predict"), `uri` where the provider still keeps the video when known (a Files
    API uri, a gs:// object), and `path` a local copy to upload when it does not.
    """

    job_id: str
    reference: str = ""
    api: str = ""
    uri: str = ""
    path: Path | None = None
    mime_type: str = "video/mp4"
    duration_seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class GenerationRequest(GenerationOptions):
    prompt: str
    model: str
    task: Task = Task.TEXT
    image: InputImage | None = None
    last_frame: InputImage | None = None
    reference_images: tuple[InputImage, ...] = ()
    source: SourceVideo | None = None


@dataclass(frozen=True)
class Sample:
    """One generated video: a URI to download, or bytes the provider sent inline."""

    uri: str | None = None
    data: bytes | None = None
    mime_type: str = "video/mp4"


@dataclass(frozen=True)
class Operation:
    """The state of a long-running generation as the provider reports it."""

    name: str
    done: bool = False
    samples: tuple[Sample, ...] = ()
    filtered_reasons: tuple[str, ...] = ()
    error: "VeoError | None" = None
    # The video output tokens Google counted (Interactions' usage), None when not reported.
    video_tokens: int | None = None
    # When the provider says the generation ended (an interaction's `updated`), None when
    # its answer does not say (predictLongRunning's operations carry no time).
    done_at: datetime | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)


class VeoError(Exception):
    """A failure talking to the provider, with a message fit for a person.

    `retryable` says whether the same call may be made again later (a 429, a 5xx on a
    poll, a dropped connection); `retry_after` is the wait the provider asked for.
    """

    def __init__(
        self, message, *, retryable=False, retry_after=None, code=None, status="", billed=None
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.code = code
        self.status = status
        # False when Google reported the generation failed or filtered: it does not bill those.
        self.billed = billed


class SubmitOutcomeUnknown(VeoError):
    """The submit may have reached the provider, so it may be billed: never resend it."""

    def __init__(self, detail):
        super().__init__(
            "The request to Veo may have gone through before the connection failed "
            f"({detail}). It was not sent again, because every accepted request is billed. "
            "Check the Veo console, then retry this job if you want another attempt.",
            retryable=False,
        )


class DownloadRefused(VeoError):
    """The video's address or content is not one the studio accepts."""


class Provider(Protocol):
    name: str

    def submit(self, request: GenerationRequest, *, on_sending=None) -> str:
        """Start a generation and return the provider's operation name.

        `on_sending()` runs once, just before the last byte of the paid request leaves;
        if it raises, the request is abandoned unfinished and the provider never acts on it.
        """

    def poll(self, operation_name: str) -> Operation:
        """Return the operation's current state."""

    def cancel(self, operation_name: str) -> None:
        """Ask the provider to stop the generation; best effort, it may still bill."""

    def download(self, sample: Sample, dest: Path, *, max_bytes: int) -> int:
        """Write the sample's bytes to dest and return how many were written."""

    def reachable_models(self, names: list[str]) -> dict[str, str]:
        """Return, for each model name, "" when this account can use it, else why not."""


def redact_inline_video(data):
    """Return the provider's answer with inline video bytes replaced by their size.

    Vertex may return whole videos base64-encoded in the operation; they belong in
    files, not in the job's metadata.
    """
    if isinstance(data, dict):
        return {
            key: (
                f"<{len(value)} base64 characters omitted>"
                if key in ("bytesBase64Encoded", "encodedVideo") and isinstance(value, str)
                else redact_inline_video(value)
            )
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redact_inline_video(item) for item in data]
    return data


@dataclass(frozen=True)
class VideoFields:
    """The names a dialect gives a video's address, inline bytes and MIME type."""

    uri: str
    data: str
    mime_type: str


def parse_operation(
    data: dict,
    *,
    fallback_name: str,
    result_of: Callable[[dict], dict],
    videos_of: Callable[[dict], list],
    names: VideoFields,
) -> Operation:
    """Turn an operation JSON into an Operation; a missing "done" means pending.

    `result_of(response)` returns the part of a done operation's response that holds the
    videos and Google's filter counts, `videos_of(result)` its video objects, and `names`
    says what each dialect calls a video's fields.
    """
    name = data.get("name") or fallback_name
    if not data.get("done"):
        return Operation(name=name, raw=data)
    if data.get("error"):
        return Operation(name=name, done=True, error=operation_error(data["error"]), raw=data)
    result = result_of(data.get("response") or {})
    samples = []
    for video in videos_of(result):
        inline = video.get(names.data)
        if video.get(names.uri) or inline:
            samples.append(
                Sample(
                    uri=video.get(names.uri),
                    data=base64.b64decode(inline) if inline else None,
                    mime_type=video.get(names.mime_type) or "video/mp4",
                )
            )
    return finished(name, samples, result, data)


def operation_error(error: dict) -> VeoError:
    """Return the error of an operation Google ended with one; it bills none of those."""
    message = error.get("message") or "no reason given"
    return VeoError(
        f"Veo could not generate the video: {message}", code=error.get("code"), billed=False
    )


def finished(name, samples, result, data) -> Operation:
    """Return a done Operation: samples, or Google's filter reasons, or an error."""
    reasons = tuple(result.get("raiMediaFilteredReasons") or ())
    if not samples and not reasons and not result.get("raiMediaFilteredCount"):
        return Operation(
            name=name,
            done=True,
            error=VeoError("Veo finished without returning a video or a reason.", billed=False),
            raw=data,
        )
    return Operation(
        name=name, done=True, samples=tuple(samples), filtered_reasons=reasons, raw=data
    )
