"""The Interactions answer to a transcription request: the narration of the audio sent.

A create for a transcription model carries the audio inline
(``{"type": "audio", "data": <base64>, "mime_type": "audio/mp4"}``) and an instruction
in a text part. The answer is a completed interaction (transcription runs in the
foreground) whose ``model_output`` step holds one text part: WebVTT timed over the
audio's duration when the instruction asks for WebVTT, else the plain words. The words
are the narration media.py put into the video the audio came from, found by the audio
packets' fingerprint; audio this process did not make is music to it.
"""

import base64
import binascii
import io
import secrets
from datetime import UTC, datetime

import av

from .errors import invalid
from .media import audio_fingerprint, narration_of

UNKNOWN_AUDIO = "[music]"
# What Google is reported to count per second of input audio (§8 of the reference).
AUDIO_TOKENS_PER_SECOND = 32


def answer(body: dict) -> dict:
    """Return the completed interaction answering a transcription create; raise ApiError."""
    audio, instruction = _parts(body)
    fingerprint, duration = _read_audio(audio)
    words = narration_of(fingerprint) or UNKNOWN_AUDIO
    wants_vtt = "vtt" in instruction.lower()
    text = webvtt([(0.0, duration, words)]) if wants_vtt else words
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": f"v1_{secrets.token_urlsafe(24)}",
        "object": "interaction",
        "status": "completed",
        "model": body.get("model", ""),
        "created": now,
        "updated": now,
        "steps": [{"type": "model_output", "content": [{"type": "text", "text": text}]}],
        "usage": {
            "total_input_tokens": round(duration * AUDIO_TOKENS_PER_SECOND),
            "input_tokens_by_modality": [
                {"modality": "audio", "tokens": round(duration * AUDIO_TOKENS_PER_SECOND)}
            ],
            "total_output_tokens": len(text.split()),
        },
    }


def webvtt(cues) -> str:
    """Return a WebVTT document of (start seconds, end seconds, text) cues."""
    blocks = [f"{timestamp(start)} --> {timestamp(end)}\n{text}" for start, end, text in cues]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + "\n"


def timestamp(seconds: float) -> str:
    """Return seconds as a WebVTT timestamp, HH:MM:SS.mmm."""
    millis = round(max(0.0, seconds) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def _parts(body: dict):
    """Return the request's one audio part and its instruction text."""
    steps = body.get("input")
    if isinstance(steps, dict):
        steps = [steps]
    if not isinstance(steps, list) or not steps:
        raise invalid("input must hold the audio to transcribe.")
    contents = []
    for step in steps:
        if isinstance(step, dict) and step.get("type") == "user_input":
            content = step.get("content")
            contents.extend(content if isinstance(content, list) else [content])
        else:
            contents.append(step)
    audio = [c for c in contents if isinstance(c, dict) and c.get("type") == "audio"]
    if len(audio) != 1:
        raise invalid("input must hold exactly one audio part to transcribe.")
    texts = [c.get("text", "") for c in contents if isinstance(c, dict) and c.get("type") == "text"]
    return audio[0], " ".join(t for t in texts if isinstance(t, str))


def _read_audio(part: dict):
    """Return the fingerprint and duration of the inline audio, or raise a 400."""
    data = part.get("data")
    if not isinstance(data, str) or not data:
        raise invalid("The audio part must carry its bytes as base64 data.")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("The audio part's data is not valid base64.") from None
    try:
        with av.open(io.BytesIO(raw)) as container:
            if not container.streams.audio:
                raise invalid("The audio part holds no audio stream.")
            stream = container.streams.audio[0]
            packets = [p for p in container.demux(stream) if p.dts is not None]
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = (container.duration or 0) / av.time_base
    except av.FFmpegError:
        raise invalid("The audio part could not be decoded.") from None
    if not packets or duration <= 0:
        raise invalid("The audio part holds no sound.")
    return audio_fingerprint(packets), duration
