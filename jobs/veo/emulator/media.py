"""Render small but real MP4s that show a prompt, and grow them for download benchmarks.

Every video carries a narration, a sentence made from its prompt, which the emulator
gives back when asked to transcribe the audio (transcribe.py). The audio itself is a
tone, so the narration is kept beside it: a registry keyed by a fingerprint of the
encoded audio packets. A studio that copies the audio track out of the video without
re-encoding it (PyAV's stream copy drops stream metadata, so a tag would not survive)
sends the same packets back, whatever container it puts them in. The registry lives
in the emulator's process: audio rendered before a restart is unknown to it.
"""

import hashlib
import io
import math
import os
import re
import shutil
import struct
import tempfile
import threading
from array import array
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont, ImageOps

SAMPLE_RATE = 48_000
# A slow arpeggio (A4, C#5, E5, A5), one note per half second, quiet enough not to startle.
NOTES_HZ = (440.0, 554.37, 659.25, 880.0)
VOLUME = 0.08
NARRATION_MAX_CHARS = 120
REGISTRY_SIZE = 10_000
# Fault markers ([fault=...]) and role tags (<FIRST_FRAME>) are instructions, not speech.
NOT_SPOKEN = re.compile(r"\[[^\]]*\]|<[^>]*>")
SENTENCE_END = re.compile(r"(?<=[.!?])\s")

_narrations: OrderedDict[str, str] = OrderedDict()
_narrations_lock = threading.Lock()


def narration_for(prompt: str) -> str:
    """Return the sentence the narrator speaks over a video of prompt."""
    text = " ".join(NOT_SPOKEN.sub(" ", prompt).split())
    sentence = SENTENCE_END.split(text, maxsplit=1)[0] if text else ""
    if len(sentence) > NARRATION_MAX_CHARS:
        sentence = sentence[:NARRATION_MAX_CHARS].rsplit(" ", 1)[0] + " …"
    return f"Narrator: {sentence or 'a video without words.'}"


def audio_fingerprint(packets) -> str:
    """Return the fingerprint of encoded audio: a SHA-256 over its packets' bytes, in order."""
    digest = hashlib.sha256()
    for packet in packets:
        digest.update(bytes(packet))
    return digest.hexdigest()


def narration_of(fingerprint: str) -> str | None:
    """Return the narration of the audio with this fingerprint, if this process made it."""
    with _narrations_lock:
        return _narrations.get(fingerprint)


def _remember(fingerprint: str, narration: str) -> None:
    with _narrations_lock:
        _narrations[fingerprint] = narration
        _narrations.move_to_end(fingerprint)
        while len(_narrations) > REGISTRY_SIZE:
            _narrations.popitem(last=False)


def render_mp4(
    dest,
    *,
    prompt: str,
    width: int,
    height: int,
    seconds: float,
    fps: int = 24,
    background: bytes | None = None,
) -> None:
    """Write an H.264 + AAC MP4 of `seconds` showing `prompt` and a moving progress bar.

    `background` is an encoded image (PNG, JPEG, WebP...) drawn scaled to fit behind the text
    of every frame; bytes that Pillow cannot read raise OSError before anything is written.
    """
    # Decode the image first so that a bad one fails before a file is created.
    canvas = _text_background(prompt, width, height, background)
    narration = narration_for(prompt)
    if isinstance(dest, str | os.PathLike):
        _encode(dest, canvas, seconds, fps, narration)
        return
    # faststart rewrites the finished file by name, so a file object gets a copy of a real file.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "video.mp4")
        _encode(path, canvas, seconds, fps, narration)
        with open(path, "rb") as source:
            shutil.copyfileobj(source, dest)


def _encode(path, background: Image.Image, seconds: float, fps: int, narration: str) -> None:
    """Encode the video to path, drawing only the moving part per frame over background.

    The audio packets' fingerprint is remembered with the narration.
    """
    width, height = background.size
    bar_top, bar_height = height - height // 12, max(4, height // 60)
    font = ImageFont.load_default(size=max(12, height // 30))
    frame_count = max(1, round(seconds * fps))

    with av.open(path, mode="w", format="mp4", options={"movflags": "faststart"}) as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")

        for index in range(frame_count):
            image = background.copy()
            draw = ImageDraw.Draw(image)
            progress = (index + 1) / frame_count
            margin = width // 20
            draw.rectangle((margin, bar_top, width - margin, bar_top + bar_height), outline="#555")
            filled = margin + round((width - 2 * margin) * progress)
            draw.rectangle((margin, bar_top, filled, bar_top + bar_height), fill="#4af")
            label = f"frame {index + 1}/{frame_count}  {index / fps:05.2f}s"
            draw.text((margin, bar_top - font.size * 1.5), label, font=font, fill="#aaa")
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode())

        packets = []
        for frame in _tone_frames(round(seconds * SAMPLE_RATE), audio.frame_size or 1024):
            packets.extend(audio.encode(frame))
        packets.extend(audio.encode())
        fingerprint = audio_fingerprint(packets)
        container.mux(packets)
    _remember(fingerprint, narration)


def _text_background(
    prompt: str, width: int, height: int, picture: bytes | None = None
) -> Image.Image:
    """Return the static part of every frame: the prompt wrapped onto a picture or dark canvas."""
    image = Image.new("RGB", (width, height), "#102030")
    if picture is not None:
        with Image.open(io.BytesIO(picture)) as source:
            # JPEG decoders can shrink while decoding, which keeps a 20 MB photo quick.
            source.draft("RGB", (width, height))
            fitted = ImageOps.contain(
                ImageOps.exif_transpose(source).convert("RGB"), (width, height)
            )
        image.paste(fitted, ((width - fitted.width) // 2, (height - fitted.height) // 2))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(14, height // 20))
    margin = width // 20
    line_height = font.size * 1.3
    max_lines = max(1, int((height * 0.7 - margin) // line_height))
    lines = _wrap(prompt.strip() or "(no prompt)", font, width - 2 * margin)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1] + " …"]
    # An outline keeps the text readable on any picture.
    outline = {"stroke_width": max(1, font.size // 12), "stroke_fill": "#000"} if picture else {}
    for number, line in enumerate(lines):
        draw.text((margin, margin + number * line_height), line, font=font, fill="#eee", **outline)
    return image


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    """Split text into lines no wider than max_width, breaking words only when they must."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= max_width:
                line = candidate
                continue
            if line:
                lines.append(line)
            # A single word wider than the frame is cut into pieces that fit.
            while font.getlength(word) > max_width and len(word) > 1:
                fits = (
                    i for i in range(len(word) - 1, 0, -1) if font.getlength(word[:i]) <= max_width
                )
                cut = next(fits, 1)
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _tone_frames(total_samples: int, frame_size: int):
    """Yield mono float audio frames playing NOTES_HZ in turn for total_samples samples."""
    note_samples = SAMPLE_RATE // 2
    for start in range(0, total_samples, frame_size):
        count = min(frame_size, total_samples - start)
        samples = array("f")
        for n in range(start, start + count):
            hz = NOTES_HZ[(n // note_samples) % len(NOTES_HZ)]
            samples.append(VOLUME * math.sin(2 * math.pi * hz * n / SAMPLE_RATE))
        frame = av.AudioFrame(format="fltp", layout="mono", samples=count)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        frame.time_base = Fraction(1, SAMPLE_RATE)
        yield frame


def pad_with_free_box(path: Path, size: int) -> None:
    """Append a top-level ISO-BMFF ``free`` box of size bytes, header included, to an MP4.

    The box takes the 64-bit largesize form from 4 GiB on; its zeros are left as a hole.
    """
    if size >= 2**32:
        header = struct.pack(">I4sQ", 1, b"free", size)
    else:
        header = struct.pack(">I4s", size, b"free")
    with path.open("r+b") as video:
        end = video.seek(0, os.SEEK_END)
        video.write(header)
        video.truncate(end + size)
