"""Look inside video files with PyAV: is it a real video, and its poster frame; its digest."""

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import av

logger = logging.getLogger(__name__)

# How far a stream's last packet may end before the duration its header declares:
# more than a few frames, less than any cut a person would notice.
SHORT_BY_SECONDS = 0.25


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    width: int
    height: int
    has_audio: bool


class NotAVideo(ValueError):
    """The file is not a playable video (an HTML error page, a truncated body...)."""


def probe(path: Path) -> VideoInfo:
    """Return the video's duration and size, or raise NotAVideo with a reason for a person.

    FFmpeg's own words (which name the file's path on the server) go to the log only.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NotAVideo("The downloaded file has no video stream.")
            stream = container.streams.video[0]
            duration = _duration(container, stream)
            if duration <= 0:
                raise NotAVideo("The downloaded video has no duration.")
            # Decode one frame: a truncated file often has a valid header but no data.
            if next(container.decode(stream), None) is None:
                raise NotAVideo("The downloaded video has no frames.")
            container.seek(0)
            _check_complete(container)
            return VideoInfo(
                duration=duration,
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                has_audio=bool(container.streams.audio),
            )
    except av.FFmpegError:
        logger.info("PyAV could not read %s", path, exc_info=True)
        raise NotAVideo("The downloaded file is not a video.") from None


def _check_complete(container) -> None:
    """Raise NotAVideo unless every stream's packets reach the duration its header declares.

    A faststart MP4 carries its whole index before the data, so a file cut short opens,
    decodes its first frame, and declares its full length; only the packets show the cut.
    Demuxing reads them without decoding.
    """
    ends, declared = {}, {}
    for stream in container.streams:
        if stream.type in ("video", "audio") and stream.duration and stream.time_base:
            declared[stream.index] = float(stream.duration * stream.time_base)
    for packet in container.demux(*container.streams.video, *container.streams.audio):
        if packet.dts is None:  # the demuxer's flush packet
            continue
        if packet.is_corrupt:  # the file ends inside this packet
            raise NotAVideo(_SHORT)
        if packet.pts is not None and packet.stream.time_base:
            end = float((packet.pts + (packet.duration or 0)) * packet.stream.time_base)
            ends[packet.stream.index] = max(ends.get(packet.stream.index, 0.0), end)
    for index, length in declared.items():
        if ends.get(index, 0.0) < length - SHORT_BY_SECONDS:
            raise NotAVideo(_SHORT)


_SHORT = "The downloaded video is shorter than it declares: the file was cut off."


def write_poster(video: Path, dest: Path, *, at_fraction=0.3) -> None:
    """Save a JPEG of the frame at_fraction of the way through the video."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        target = _duration(container, stream) * at_fraction
        if stream.time_base:
            container.seek(int(target / stream.time_base), stream=stream)
        frame = next(container.decode(stream))
        frame.to_image().save(dest, format="JPEG", quality=85)


def extract_audio(video: Path, dest: Path) -> None:
    """Copy the video's first audio track, without re-encoding, into an .m4a file."""
    with av.open(str(video)) as source, av.open(str(dest), "w", format="mp4") as target:
        track = source.streams.audio[0]
        out = target.add_stream_from_template(track)
        for packet in source.demux(track):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            packet.stream = out
            target.mux(packet)


def _duration(container, stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def sha256(path: Path) -> str:
    """Return the file's SHA-256 as hex, read a mebibyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
