"""Image decoding, normalising and resizing, with limits checked before decoding.

Only JPEG, PNG, GIF (first frame) and WebP are read. Dimensions come from the
header, and anything over MAX_PIXELS is refused before a single pixel is
decoded. Everything stored or served is re-encoded: orientation applied,
EXIF/XMP/ICC metadata dropped (no location leaks), never passed through.

    >>> normalise(open("photo.jpg", "rb").read())    # doctest: +SKIP
    Normalised(data=b'...', content_type='image/jpeg', width=1280, height=853)
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 50_000_000
FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
# A stored original is at most this wide or tall: larger sizes are never served.
ORIGINAL_MAX_SIDE = 2560

# Named presets: the only sizes /img/ serves (width in px; avatars are square crops).
PRESETS: dict[str, int] = {"avatar48": 48, "avatar96": 96, "thumb": 320, "medium": 640,
                           "large": 1280}
OUTPUT_FORMATS = {"webp": "image/webp", "jpg": "image/jpeg"}

# Pillow's own guard refuses at twice this (and warns above it, before our check).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageRefused(ValueError):
    """Not an image we accept; the message says why, for the editor or the log."""

    permanent = True  # the same bytes are refused again


@dataclass(frozen=True)
class Normalised:
    data: bytes
    content_type: str
    width: int
    height: int


def _open(data: bytes) -> Image.Image:
    if len(data) > MAX_BYTES:
        raise ImageRefused(f"The image is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as e:
        raise ImageRefused(f"The image has more than {MAX_PIXELS // 1_000_000} "
                           "megapixels.") from e
    except (UnidentifiedImageError, OSError) as e:
        raise ImageRefused("The file is not a JPEG, PNG, GIF or WebP image.") from e
    width, height = image.size
    if width * height > MAX_PIXELS or width <= 0 or height <= 0:
        raise ImageRefused(f"The image is {width}×{height} pixels; at most "
                           f"{MAX_PIXELS // 1_000_000} megapixels are accepted.")
    return image


def _decoded(image: Image.Image) -> Image.Image:
    try:
        image.seek(0)  # the first frame of an animation
        image = ImageOps.exif_transpose(image)
        has_alpha = image.mode in ("RGBA", "LA", "PA") or (
            image.mode == "P" and "transparency" in image.info)
        return image.convert("RGBA" if has_alpha else "RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ImageRefused("The image could not be decoded.") from e


def normalise(data: bytes) -> Normalised:
    """An original fit to store: decoded, oriented, bounded, re-encoded, metadata-free."""
    image = _decoded(_open(data))
    image.thumbnail((ORIGINAL_MAX_SIDE, ORIGINAL_MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if image.mode == "RGBA":
        image.save(out, "PNG", optimize=True)
        content_type = "image/png"
    else:
        image.save(out, "JPEG", quality=90, optimize=True, progressive=True)
        content_type = "image/jpeg"
    return Normalised(out.getvalue(), content_type, image.width, image.height)


def derive(original: bytes, preset: str, fmt: str) -> bytes:
    """The original at a preset's size in `fmt` ("webp" or "jpg")."""
    width = PRESETS[preset]
    opened = _open(original)
    if opened.format == "JPEG":
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers the
        # preset: most of a resize's cost is decoding pixels it then throws away.
        side = width if preset.startswith("avatar") else None
        opened.draft("RGB", (side or width, side or round(opened.height * width / opened.width)))
    image = _decoded(opened)
    if preset.startswith("avatar"):
        image = ImageOps.fit(image, (width, width), Image.Resampling.LANCZOS)
    elif image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))),
                             Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if fmt == "webp":
        image.save(out, "WEBP", quality=80, method=4)
    else:
        if image.mode == "RGBA":
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            image = background
        image.save(out, "JPEG", quality=82, optimize=True, progressive=True)
    return out.getvalue()
