"""Assemble a storyboard's picked takes, in order, into one MP4 (the cut), with PyAV.

When every take is H.264 (+ AAC) made alike and every trim falls where packets can be
cut cleanly, the packets are copied: no quality is lost and it takes a moment. Otherwise
everything is re-encoded once to the storyboard's profile, so a cut is always one
uniform file. Either way each segment starts where the one before ended, on the video's
clock, and the audio is placed on the same clock, so the two stay in sync across shots.

The emulator's takes (x264 "ultrafast") have no B-frames and one keyframe every 250
frames (10.4 s at 24 fps): a take used from its start copies with any trim_out, while a
trim_in of 1.0 s falls between keyframes and makes the cut a re-encode.

Nothing here knows Django's models: it takes paths and numbers, and returns dataclasses.
FFmpeg's own words (which name files on the server) go to the log only.
"""

import contextlib
import errno
import logging
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from io import BytesIO
from pathlib import Path

import av
from av.audio.fifo import AudioFifo
from av.video.frame import PictureType

from jobs.media import SHORT_BY_SECONDS, VideoInfo
from jobs.storage import TEMP_PREFIX

logger = logging.getLogger(__name__)

# What packets may be copied as they are into the cut's MP4 (the studio's own format).
COPYABLE_VIDEO, COPYABLE_AUDIO = "h264", "aac"
# The re-encode: quick on a small machine and visually clean; a browser plays it all.
X264_OPTIONS = {"preset": "veryfast", "crf": "20"}
AUDIO_BIT_RATE = 128_000
# moov before the data: a browser starts playing the cut before it has all of it.
MP4_OPTIONS = {"movflags": "faststart"}
# Packets read to learn whether a take's frames are stored out of display order.
REORDER_PROBE_PACKETS = 48
# Seconds within which two timestamps are the same moment (well under a frame or sample).
EPSILON = 1e-4
# How much sooner than its picture a take's sound may end and still be copied: about
# two AAC packets, a gap no one hears.
AUDIO_SHORT_BY_SECONDS = 0.05
# What a failed write of the cut means, which its caller tells a person in its own words.
DISK_TROUBLE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})
# The parts of progress worth a call: at most a hundred calls a cut.
PROGRESS_STEP = 0.01
# 1.0 says the cut is in place; until the rename, progress stops short of it.
LAST_STEP = 0.99


@dataclass(frozen=True)
class Segment:
    """One shot of the cut: a take's file and the part of it to use."""

    path: Path
    trim_in: float = 0.0  # seconds from the start of the take
    trim_out: float | None = None  # seconds from the start; None is the take's end


@dataclass(frozen=True)
class Profile:
    """The storyboard's size and rates for a re-encode."""

    width: int
    height: int
    fps: int = 24
    sample_rate: int = 48_000
    audio_layout: str = "stereo"


@dataclass(frozen=True)
class Assembled:
    """What was written: read back from the file, and where each shot lies in it."""

    duration: float  # seconds of the written file's video stream
    stream_copy: bool  # the packets were copied without re-encoding
    width: int
    height: int
    has_audio: bool
    segments: list[tuple[float, float]]  # each segment's (start, end) within the cut


@dataclass(frozen=True)
class Take:
    """What assembling needs to know of one take's file."""

    duration: float  # seconds of the video stream
    video_codec: str
    width: int
    height: int
    fps: Fraction | None
    video_time_base: Fraction
    # B-frames: packets are stored out of display order, so they cannot be cut anywhere.
    reorders: bool
    # The decoder's set-up (H.264's SPS and PPS): a copied packet needs its own take's.
    video_setup: bytes
    audio_codec: str | None = None
    sample_rate: int = 0
    channels: int = 0
    audio_layout: str = ""  # "mono", "stereo"...
    audio_duration: float = 0.0
    audio_time_base: Fraction | None = None
    audio_setup: bytes = b""

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    @property
    def frame_seconds(self) -> float:
        return 1 / self.fps if self.fps else 0.0

    def copy_key(self) -> tuple:
        """Return what two takes must share for their packets to follow each other."""
        return (
            self.video_codec,
            self.width,
            self.height,
            self.fps,
            self.video_time_base,
            self.reorders,
            self.video_setup,
            self.audio_codec,
            self.sample_rate,
            self.channels,
            self.audio_time_base,
            self.audio_setup,
        )


class AssemblyError(ValueError):
    """A cut cannot be made from these takes: the message is a sentence for a person."""


def inspect(segments: Sequence[Segment]) -> list[Take]:
    """Return what each segment's take holds, or raise AssemblyError naming the shot."""
    return [_inspect_take(Path(segment.path), shot=n) for n, segment in enumerate(segments, 1)]


def assemble(
    segments: Sequence[Segment],
    dest: Path,
    *,
    profile: Profile,
    progress: Callable[[float], None] = lambda fraction: None,
) -> Assembled:
    """Write the segments' trimmed takes, one after another, as one MP4 at dest.

    The file is made under a temporary name beside dest and renamed into place, so dest
    is either the whole cut or untouched.
    """
    if not segments:
        raise AssemblyError("A cut needs at least one picked take.")
    for n, segment in enumerate(segments, 1):
        _check_numbers(segment, shot=n)
    takes = inspect(segments)
    spans = [
        _span(segment, take, shot=n)
        for n, (segment, take) in enumerate(zip(segments, takes, strict=True), 1)
    ]
    minimum = 1 / profile.fps
    for n, (start, end) in enumerate(spans, 1):
        if end - start < minimum - EPSILON:
            raise AssemblyError(f"Shot {n}'s trim is shorter than one frame.")

    dest = Path(dest)
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".mp4", dir=dest.parent)
    os.close(fd)
    temp = Path(name)
    report = _Progress(progress)
    try:
        starts = _copy_starts(segments, takes, spans)
        if starts is not None:
            bounds = _copy(segments, takes, spans, starts, temp, report)
        else:
            bounds = _reencode(segments, takes, spans, temp, profile, report)
        written = _written(temp)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    report.done()
    return Assembled(
        duration=written.duration,
        stream_copy=starts is not None,
        width=written.width,
        height=written.height,
        has_audio=written.has_audio,
        segments=bounds,
    )


def last_frame(video: Path) -> bytes:
    """Return the video's last decoded frame as PNG bytes."""
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                raise AssemblyError("The take has no video track.")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            duration = _duration(container, stream)
            # Decode from the last keyframe before the final second; from the start if
            # the seek finds nothing (a file without an index).
            frame = None
            if duration > 1 and stream.time_base:
                origin = stream.start_time or 0
                target = origin + int((duration - 1) / stream.time_base)
                container.seek(target, stream=stream, backward=True)
                frame = _last_decoded(container, stream)
            if frame is None:
                container.seek(0)
                frame = _last_decoded(container, stream)
            if frame is None:
                raise AssemblyError("The take has no frames.")
            png = BytesIO()
            frame.to_image().save(png, format="PNG")
            return png.getvalue()
    except av.FFmpegError:
        logger.info("PyAV could not read %s", video, exc_info=True)
        raise AssemblyError("The take is not a video.") from None


def _last_decoded(container, stream):
    frame = None
    for frame in container.decode(stream):  # noqa: B007 - the loop keeps the last one
        pass
    return frame


# --- Reading the takes -------------------------------------------------------------------


def _check_numbers(segment: Segment, *, shot: int) -> None:
    numbers = [segment.trim_in] + ([] if segment.trim_out is None else [segment.trim_out])
    if not all(isinstance(x, int | float) and math.isfinite(x) for x in numbers):
        raise AssemblyError(f"Shot {shot}'s trim is not a number of seconds.")
    if segment.trim_in < 0:
        raise AssemblyError(f"Shot {shot}'s trim starts before its take begins.")
    if segment.trim_out is not None and segment.trim_out <= segment.trim_in:
        raise AssemblyError(f"Shot {shot}'s trim must end after it starts.")


def _span(segment: Segment, take: Take, *, shot: int) -> tuple[float, float]:
    """Return the (start, end) seconds of the take the segment uses, or raise AssemblyError."""
    frame = take.frame_seconds or EPSILON
    length = f"{take.duration:.1f} s"
    if segment.trim_in >= take.duration - EPSILON:
        raise AssemblyError(f"Shot {shot}'s trim starts after its take ends ({length}).")
    if segment.trim_out is None:
        return segment.trim_in, take.duration
    if segment.trim_out > take.duration + frame + EPSILON:
        raise AssemblyError(f"Shot {shot}'s trim ends after its take ({length}).")
    return segment.trim_in, min(segment.trim_out, take.duration)


def _inspect_take(path: Path, *, shot: int) -> Take:
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise AssemblyError(f"Shot {shot}'s take has no video track.")
            video = container.streams.video[0]
            duration = _duration(container, video)
            if duration <= 0 or not video.time_base:
                raise AssemblyError(f"Shot {shot}'s take has no duration.")
            # A truncated file can have a whole header and no data.
            if next(container.decode(video), None) is None:
                raise AssemblyError(f"Shot {shot}'s take has no frames.")
            container.seek(0)
            reorders = bool(video.codec_context.has_b_frames) or _reorders(container, video)
            fps = video.average_rate or video.guessed_rate
            fields = {
                "duration": duration,
                "video_codec": video.codec_context.name,
                "width": video.codec_context.width,
                "height": video.codec_context.height,
                "fps": Fraction(fps) if fps else None,
                "video_time_base": video.time_base,
                "reorders": reorders,
                "video_setup": bytes(video.codec_context.extradata or b""),
            }
            if container.streams.audio:
                audio = container.streams.audio[0]
                fields.update(
                    audio_codec=audio.codec_context.name,
                    sample_rate=audio.codec_context.sample_rate,
                    channels=audio.codec_context.channels,
                    audio_layout=audio.codec_context.layout.name,
                    audio_time_base=audio.time_base,
                    audio_duration=_duration(container, audio),
                    audio_setup=bytes(audio.codec_context.extradata or b""),
                )
            return Take(**fields)
    except av.FFmpegError:
        logger.info("PyAV could not read %s", path, exc_info=True)
        raise AssemblyError(f"Shot {shot}'s take is not a video.") from None


def _reorders(container, video) -> bool:
    """Return whether any of the first packets shows at another time than it decodes."""
    for count, packet in enumerate(container.demux(video)):
        if count >= REORDER_PROBE_PACKETS:
            break
        if packet.dts is not None and packet.pts is not None and packet.pts != packet.dts:
            return True
    return False


def _duration(container, stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _written(path: Path) -> VideoInfo:
    """Return the length, size and sound of the cut just written, read from its header."""
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            return VideoInfo(
                duration=_duration(container, video),
                width=video.codec_context.width,
                height=video.codec_context.height,
                has_audio=bool(container.streams.audio),
            )
    except (av.FFmpegError, IndexError):
        logger.warning("The cut written to %s cannot be read back", path, exc_info=True)
        raise AssemblyError("The cut could not be written.") from None


# --- Copying packets ---------------------------------------------------------------------


def _copy_starts(segments, takes, spans) -> list[int] | None:
    """Return each segment's first packet (a keyframe's pts) if the cut can be copied.

    None when any take differs from the first in what its packets need, or a trim falls
    where copied packets would not decode: a trim_in more than half a frame from a
    keyframe, or, in a take with B-frames, any trim at all.
    """
    first = takes[0]
    if first.video_codec != COPYABLE_VIDEO or not first.fps:
        return None
    if first.has_audio and first.audio_codec != COPYABLE_AUDIO:
        return None
    if any(take.copy_key() != first.copy_key() for take in takes):
        return None
    half = first.frame_seconds / 2
    starts = []
    for segment, take, (start, end) in zip(segments, takes, spans, strict=True):
        if take.reorders and (start > half or end < take.duration - half):
            return None
        # Copied sound that stops early leaves a hole; the re-encode fills it with silence.
        if take.has_audio and take.audio_duration < end - AUDIO_SHORT_BY_SECONDS:
            return None
        keyframe = _keyframe_near(Path(segment.path), start, half)
        if keyframe is None:
            return None
        starts.append(keyframe)
    return starts


def _keyframe_near(path: Path, at: float, tolerance: float) -> int | None:
    """Return the pts of a keyframe within tolerance seconds of `at`, if there is one."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        origin = video.start_time or 0
        latest = origin + int((at + tolerance) / video.time_base)
        # The seek lands on the last keyframe at or before at + tolerance: the one candidate.
        if at > tolerance:
            container.seek(latest, stream=video, backward=True)
        for packet in container.demux(video):
            if packet.dts is None or packet.pts is None:
                continue
            seconds = float((packet.pts - origin) * video.time_base)
            if packet.is_keyframe and abs(seconds - at) <= tolerance + EPSILON:
                return packet.pts
            return None
    return None


def _copy(segments, takes, spans, starts, temp, report) -> list[tuple[float, float]]:
    """Copy each segment's packets after the last, and return the segments' bounds."""
    first = takes[0]
    total = sum(end - start for start, end in spans)
    report.total = total
    bounds = []
    with av.open(str(temp), "w", format="mp4", options=MP4_OPTIONS) as out:
        with av.open(str(segments[0].path)) as template:
            video = out.add_stream_from_template(template.streams.video[0])
            audio = (
                out.add_stream_from_template(template.streams.audio[0]) if first.has_audio else None
            )
        position = Fraction(0)  # seconds of the cut written so far
        target = 0.0  # seconds the cut should have reached, by the trims asked for
        last_dts = {"video": None, "audio": None}
        for n, (segment, (start, end), first_pts) in enumerate(
            zip(segments, spans, starts, strict=True), 1
        ):
            target += end - start
            wanted_to = None if segment.trim_out is None else target - float(position)
            try:
                length, planned = _copy_segment(
                    out,
                    video,
                    audio,
                    Path(segment.path),
                    first_pts=first_pts,
                    position=position,
                    wanted_to=wanted_to,
                    last_dts=last_dts,
                    report=report,
                )
            except _CutOff:
                raise AssemblyError(_cut_off(n)) from None
            except av.FFmpegError as exc:
                _reraise_disk_trouble(exc)
                logger.info("PyAV could not copy %s", segment.path, exc_info=True)
                raise AssemblyError(f"Shot {n}'s take could not be read to its end.") from None
            if length <= 0:
                raise AssemblyError(f"Shot {n}'s trim holds no frames.")
            if length < planned - SHORT_BY_SECONDS:
                raise AssemblyError(_cut_off(n))
            bounds.append((float(position), float(position + length)))
            position += length
    return bounds


def _copy_segment(
    out, video, audio, path, *, first_pts, position, wanted_to, last_dts, report
) -> tuple[Fraction, float]:
    """Copy one take's packets from first_pts, placed at position.

    Return the seconds copied, and the seconds there should have been.

    wanted_to is how long the segment should last (None: to the take's end); it keeps
    the frames whose middle falls before it, so the cut's length stays within half a
    frame of what its trims ask for, however many shots it has.
    """
    with av.open(str(path)) as source:
        src_video = source.streams.video[0]
        src_audio = source.streams.audio[0] if audio is not None else None
        tb_v = src_video.time_base
        if first_pts > (src_video.start_time or 0):
            source.seek(first_pts, stream=src_video, backward=True)
        shift_v = round(position / tb_v) - first_pts
        end_v = None if wanted_to is None else first_pts + round(Fraction(wanted_to) / tb_v)
        # The take's end, or where the trim asks: audio is cut there too, by its packets.
        planned_end = (
            end_v
            if end_v is not None
            else (src_video.start_time or 0) + (src_video.duration or 0) or None
        )
        if src_audio is not None:
            tb_a = src_audio.time_base
            first_a = round(first_pts * tb_v / tb_a)
            end_a = None if planned_end is None else round(planned_end * tb_v / tb_a)
            shift_a = round(position / tb_a) - first_a
        video_end = first_pts
        video_done, audio_done = False, src_audio is None
        streams = [src_video] if src_audio is None else [src_video, src_audio]
        base, scale, total = float(position), float(tb_v), report.total
        for packet in source.demux(*streams):
            if packet.dts is None or packet.pts is None:  # the demuxer's flush packets
                continue
            if packet.is_corrupt:  # the file ends inside this packet
                raise _CutOff
            duration = packet.duration or 0
            if packet.stream_index == src_video.index:
                if video_done or packet.pts < first_pts:
                    continue
                if end_v is not None and 2 * packet.pts + duration >= 2 * end_v:
                    video_done = True  # no B-frames here: every later packet shows later
                    continue
                video_end = max(video_end, packet.pts + duration)
                _place(packet, shift_v, last_dts, "video")
                packet.stream = video
                out.mux(packet)
                if total:
                    report((base + (packet.pts - shift_v - first_pts) * scale) / total)
            else:
                if audio_done:
                    continue
                middle2 = 2 * packet.pts + duration
                if middle2 < 2 * first_a:
                    continue
                if end_a is not None and middle2 >= 2 * end_a:
                    audio_done = True
                    continue
                _place(packet, shift_a, last_dts, "audio")
                packet.stream = audio
                out.mux(packet)
            if video_done and audio_done:
                break
        planned = float((planned_end - first_pts) * tb_v) if planned_end else 0.0
        return (video_end - first_pts) * tb_v, planned


def _place(packet, shift, last_dts, kind) -> None:
    """Move a packet by shift ticks, keeping its stream's decode times increasing."""
    dts, pts = packet.dts + shift, packet.pts + shift
    if last_dts[kind] is not None and dts <= last_dts[kind]:
        # A take whose audio runs a little past its picture: its last packet and the next
        # take's first would share a time, which MP4 refuses.
        pts += last_dts[kind] + 1 - dts
        dts = last_dts[kind] + 1
    packet.dts, packet.pts = dts, pts
    last_dts[kind] = dts


# --- Re-encoding -------------------------------------------------------------------------


def _reencode(segments, takes, spans, temp, profile, report) -> list[tuple[float, float]]:
    """Decode every segment and encode them all to the profile; return the segments' bounds.

    Segment k ends at the frame nearest the sum of the first k trims' lengths, and its
    audio at the sample of that frame: the cut's length is within half a frame of the
    trims', and no shot's sound drifts from its picture.
    """
    fps = profile.fps
    ends, target = [], 0.0
    for start, end in spans:
        target += end - start
        ends.append(max(round(target * fps), (ends[-1] if ends else 0) + 1))
    report.total = ends[-1]
    with_audio = any(take.has_audio for take in takes)
    bounds = []
    with av.open(str(temp), "w", format="mp4", options=MP4_OPTIONS) as out:
        encoder = _Encoder(out, profile, with_audio=with_audio)
        begin = 0
        for n, (segment, take, (start, _end), end_frame) in enumerate(
            zip(segments, takes, spans, ends, strict=True), 1
        ):
            try:
                _reencode_segment(
                    encoder,
                    Path(segment.path),
                    take,
                    shot=n,
                    start=start,
                    end_frame=end_frame,
                    report=report,
                )
            except av.FFmpegError as exc:
                _reraise_disk_trouble(exc)
                logger.info("PyAV could not re-encode %s", segment.path, exc_info=True)
                raise AssemblyError(f"Shot {n}'s take could not be read to its end.") from None
            bounds.append((begin / fps, end_frame / fps))
            begin = end_frame
        try:
            encoder.finish()
        except av.FFmpegError as exc:
            _reraise_disk_trouble(exc)
            logger.warning("PyAV could not finish the cut %s", temp, exc_info=True)
            raise AssemblyError("The cut could not be written.") from None
    return bounds


class _Encoder:
    """The cut's encoders: frames and samples numbered as they arrive."""

    def __init__(self, out, profile, *, with_audio):
        self.out, self.profile = out, profile
        self.video = out.add_stream("libx264", rate=profile.fps)
        self.video.width, self.video.height = profile.width, profile.height
        self.video.pix_fmt = "yuv420p"
        self.video.options = dict(X264_OPTIONS)
        self.video_time_base = Fraction(1, profile.fps)
        self.audio = None
        if with_audio:
            self.audio = out.add_stream(
                "aac", rate=profile.sample_rate, layout=profile.audio_layout
            )
            self.audio.bit_rate = AUDIO_BIT_RATE
        self.fifo = AudioFifo()
        self.frames = 0  # frames encoded
        self.samples = 0  # samples given, encoded or waiting in the FIFO
        self.encoded_samples = 0

    def samples_at(self, frame: int) -> int:
        """Return the sample that plays with the frame numbered `frame`."""
        return round(frame * self.profile.sample_rate / self.profile.fps)

    def frame(self, frame, *, key: bool) -> None:
        frame.pts = self.frames
        frame.time_base = self.video_time_base
        # A keyframe at each shot's start; elsewhere x264 chooses (a decoded I-frame
        # would otherwise force one).
        frame.pict_type = PictureType.I if key else PictureType.NONE
        self.out.mux(self.video.encode(frame))
        self.frames += 1

    def sound(self, frame) -> None:
        frame.pts = None
        self.fifo.write(frame)
        self.samples += frame.samples
        self._drain()

    def silence(self, samples: int) -> None:
        """Add samples of silence, a second at a time."""
        while samples > 0:
            count = min(samples, self.profile.sample_rate)
            frame = av.AudioFrame(format="fltp", layout=self.profile.audio_layout, samples=count)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate = self.profile.sample_rate
            frame.time_base = Fraction(1, self.profile.sample_rate)
            self.sound(frame)
            samples -= count

    def _drain(self, *, final=False) -> None:
        size = self.audio.codec_context.frame_size or 1024
        while self.fifo.samples >= size or (final and self.fifo.samples):
            frame = self.fifo.read(min(size, self.fifo.samples))
            frame.pts = self.encoded_samples
            frame.time_base = Fraction(1, self.profile.sample_rate)
            self.encoded_samples += frame.samples
            self.out.mux(self.audio.encode(frame))

    def finish(self) -> None:
        self.out.mux(self.video.encode())
        if self.audio is not None:
            self._drain(final=True)
            self.out.mux(self.audio.encode())


def _reencode_segment(encoder, path, take, *, shot, start, end_frame, report) -> None:
    """Decode the take from `start` s and encode frames up to end_frame of the cut.

    Output frame n shows what the take shows at start + n / fps: a take at another rate
    gets frames repeated or dropped, and a take that ends early holds its last frame.
    """
    profile = encoder.profile
    fps, rate = profile.fps, profile.sample_rate
    first_frame = encoder.frames
    count = end_frame - first_frame
    first_sample = encoder.samples_at(first_frame)
    need = encoder.samples_at(end_frame) - first_sample
    fit = _Fit(profile.width, profile.height)
    with av.open(str(path)) as source:
        video = source.streams.video[0]
        video.thread_type = "AUTO"
        audio = source.streams.audio[0] if take.has_audio and encoder.audio else None
        origin = float((video.start_time or 0) * video.time_base)
        if start > 1:
            source.seek(int((origin + start) / video.time_base), stream=video, backward=True)
        resampler = (
            av.AudioResampler(format="fltp", layout=profile.audio_layout, rate=rate)
            if audio is not None
            else None
        )
        state = {"shown": 0, "previous": None, "seen": 0.0, "emitted": 0, "cursor": None}
        begin = round(start * rate)
        scratch = AudioFifo()

        def show(frame):
            encoder.frame(fit(frame), key=state["shown"] == 0)
            state["shown"] += 1
            if encoder.audio is not None and audio is None:
                # No sound in this take: silence keeps pace with its frames.
                encoder.silence(encoder.samples_at(encoder.frames) - encoder.samples)
            report(encoder.frames / report.total)

        def on_video(frame):
            seconds = float(frame.time) - origin if frame.time is not None else start
            state["seen"] = seconds
            while state["shown"] < count and start + state["shown"] / fps < seconds - EPSILON:
                show(state["previous"] if state["previous"] is not None else frame)
            state["previous"] = frame

        def on_audio(frame):
            seconds = float(frame.time) - origin if frame.time is not None else None
            for piece in resampler.resample(frame):
                if state["cursor"] is None:
                    state["cursor"] = round(seconds * rate) if seconds is not None else begin
                place(piece)

        def place(piece):
            """Give the encoder the part of piece that falls inside the segment."""
            cursor, emitted, samples = state["cursor"], state["emitted"], piece.samples
            state["cursor"] = cursor + samples
            at = cursor - begin  # where the piece starts, in the segment's samples
            if at > emitted:  # the take's sound starts late, or skips: fill with silence
                gap = min(at, need) - emitted
                encoder.silence(gap)
                emitted += gap
            skip = emitted - at
            keep = min(samples - skip, need - emitted)
            if keep > 0:
                piece.pts = None
                scratch.write(piece)
                if skip > 0:
                    scratch.read(skip)
                encoder.sound(scratch.read(keep))
                emitted += keep
                scratch.read()  # drop what lies past the segment
            state["emitted"] = emitted

        streams = [video] if audio is None else [video, audio]
        for packet in source.demux(*streams):
            if packet.is_corrupt:  # the file ends inside this packet
                raise AssemblyError(_cut_off(shot))
            if packet.stream_index == video.index:
                if state["shown"] < count:
                    for frame in packet.decode():
                        on_video(frame)
            elif state["emitted"] < need:
                for frame in packet.decode():
                    on_audio(frame)
            if state["shown"] >= count and (audio is None or state["emitted"] >= need):
                break
        if state["previous"] is None:
            raise AssemblyError(f"Shot {shot}'s trim holds no frames.")
        planned_end = start + count / fps
        if state["seen"] + take.frame_seconds < planned_end - SHORT_BY_SECONDS:
            raise AssemblyError(_cut_off(shot))
        while state["shown"] < count:  # the take ended a little early: hold its last
            show(state["previous"])
        if encoder.audio is not None:
            encoder.silence(first_sample + need - encoder.samples)


class _Fit:
    """Scale a frame into width x height keeping its shape, bars on the sides that differ."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.shape = None
        self.graph = None
        self.source = None  # the last frame fitted, and its fitted copy
        self.fitted = None

    def __call__(self, frame):
        if frame is self.source:
            return self.fitted
        shape = (frame.width, frame.height, frame.format.name)
        if shape == (self.width, self.height, "yuv420p"):
            fitted = frame
        else:
            if shape != self.shape:
                self.graph, self.shape = self._graph(frame), shape
            self.graph.push(frame)
            fitted = self.graph.pull()
        self.source, self.fitted = frame, fitted
        return fitted

    def _graph(self, frame):
        graph = av.filter.Graph()
        w, h = self.width, self.height
        graph.link_nodes(
            graph.add_buffer(
                width=frame.width,
                height=frame.height,
                format=frame.format,
                time_base=frame.time_base or Fraction(1, 1000),
            ),
            graph.add(
                "scale", f"{w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2"
            ),
            graph.add("pad", f"{w}:{h}:(ow-iw)/2:(oh-ih)/2:black"),
            graph.add("setsar", "1"),
            graph.add("format", "yuv420p"),
            graph.add("buffersink"),
        ).configure()
        return graph


class _CutOff(Exception):
    """A take's file ends inside a packet: the copy names the shot."""


def _cut_off(shot: int) -> str:
    return f"Shot {shot}'s take is shorter than it declares: the file was cut off."


def _reraise_disk_trouble(exc) -> None:
    """Let a failed write (a full disk...) through as the OSError it is, errno and all."""
    if isinstance(exc, OSError) and exc.errno in DISK_TROUBLE:
        raise exc


class _Progress:
    """Call progress with fractions that only grow, at most every PROGRESS_STEP."""

    def __init__(self, callback):
        self.callback = callback
        self.told = 0.0
        self.total = 0

    def __call__(self, fraction: float) -> None:
        fraction = min(fraction, LAST_STEP)
        if fraction >= self.told + PROGRESS_STEP:
            self.told = fraction
            self.callback(fraction)

    def done(self) -> None:
        self.told = 1.0
        self.callback(1.0)
