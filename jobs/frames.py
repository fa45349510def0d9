"""Still frames a person uploads for image-to-video: checked by content, not by name."""

from dataclasses import dataclass
from io import BytesIO

from django.core.exceptions import ValidationError
from PIL import Image, UnidentifiedImageError

# Pillow format -> (MIME type Veo accepts, file extension).
FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "WEBP": ("image/webp", "webp"),
}
MIN_SIDE, MAX_SIDE = 64, 4096


@dataclass(frozen=True)
class Frame:
    data: bytes
    mime_type: str
    extension: str
    width: int
    height: int


def read_frame(uploaded, *, max_bytes) -> Frame:
    """Return the upload as a Frame, or raise ValidationError saying what is wrong."""
    if uploaded.size > max_bytes:
        raise ValidationError(
            f"The image is {uploaded.size / 1_048_576:.1f} MB; the limit is "
            f"{max_bytes / 1_048_576:.0f} MB."
        )
    data = uploaded.read()
    try:
        with Image.open(BytesIO(data)) as image:
            image.verify()
        with Image.open(BytesIO(data)) as image:
            kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError("This file is not a PNG, JPEG or WebP image.") from None
    if kind not in FORMATS:
        raise ValidationError(f"{kind} images are not accepted; use PNG, JPEG or WebP.")
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ValidationError(
            f"The image is {width}x{height} pixels; each side must be between "
            f"{MIN_SIDE} and {MAX_SIDE} pixels."
        )
    mime_type, extension = FORMATS[kind]
    return Frame(data=data, mime_type=mime_type, extension=extension, width=width, height=height)
