"""Image decoding, normalising and resizing, with limits checked before decoding.

Only JPEG, PNG, GIF (first frame) and WebP are read. Dimensions come from the
header, and anything over MAX_PIXELS is refused before a single pixel is
decoded. Memory is bounded whatever the header says: a JPEG is decoded at a
reduced scale when that still covers the size wanted, and any image whose
decoded pixels would pass DECODE_BUDGET is refused before decoding; images are
shrunk before they are converted, so the full-size pixels are held once.
Everything stored or served is re-encoded: orientation applied, EXIF/XMP/ICC
metadata dropped (no location leaks), never passed through.

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
# "xlarge" is offered in srcsets only behind the `img-xlarge` flag (issue 13);
# signed URLs for it are issued only then, so it costs nothing until it ramps.
PRESETS: dict[str, int] = {"avatar48": 48, "avatar96": 96, "thumb": 320, "medium": 640,
                           "large": 1280, "xlarge": 1920}
OUTPUT_FORMATS = {"webp": "image/webp", "jpg": "image/jpeg"}

# What one decode may hold, computed from the header before decoding: a small
# compressed file can claim millions of pixels (the web worker and the ingest
# process both decode, so this is per image in flight).
DECODE_BUDGET = 64 * 1024 * 1024
# Pillow holds RGB, RGBA, CMYK, LA and the rest in 32 bits a pixel; only 1, L and P
# take one byte, and a P image is converted to 32 bits before it can be shrunk.
_BYTES_PER_PIXEL = 4

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


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _load(image: Image.Image, wanted: tuple[int, int]) -> Image.Image:
    """The first frame decoded, at a reduced scale still covering `wanted` where the
    format allows (JPEG); refused before decoding if it would pass DECODE_BUDGET."""
    try:
        image.seek(0)  # the first frame of an animation
        if image.format == "JPEG":
            # libjpeg decodes at 1/2, 1/4 or 1/8 scale: most of a resize's cost
            # (time and memory) is decoding pixels it then throws away.
            image.draft(None, wanted)
        width, height = image.size
        if width * height * _BYTES_PER_PIXEL > DECODE_BUDGET:
            limit = DECODE_BUDGET // _BYTES_PER_PIXEL / 1_000_000
            raise ImageRefused(
                f"The image is {width}×{height} pixels, too large to decode safely as "
                f"{image.format or 'this format'}: at most {limit:.0f} megapixels "
                "(a JPEG may be larger).")
        image.load()
        return image
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        if isinstance(e, ImageRefused):
            raise
        raise ImageRefused("The image could not be decoded.") from e


def _oriented(image: Image.Image) -> Image.Image:
    """Orientation applied and in RGB or RGBA (alpha kept only when there is one)."""
    try:
        has_alpha = image.mode in ("RGBA", "LA", "PA") or (
            image.mode == "P" and "transparency" in image.info)
        # In place: without an orientation to apply, no copy is made.
        ImageOps.exif_transpose(image, in_place=True)
        target = "RGBA" if has_alpha else "RGB"
        return image if image.mode == target else image.convert(target)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageRefused("The image could not be decoded.") from e


def _shrink_first(image: Image.Image, box: tuple[int, int]) -> Image.Image:
    """Shrunk into `box` (in place, by whole-factor reduce then LANCZOS) before the
    copies orientation and conversion make; palette images are converted first,
    since resampling a palette is not possible."""
    if image.mode in ("1", "P", "PA"):
        image = _oriented(image)
        image.thumbnail(box, Image.Resampling.LANCZOS, reducing_gap=3.0)
        return image
    try:
        image.thumbnail(box, Image.Resampling.LANCZOS, reducing_gap=3.0)
    except (OSError, ValueError) as e:
        raise ImageRefused("The image could not be decoded.") from e
    return _oriented(image)


def normalise(data: bytes) -> Normalised:
    """An original fit to store: decoded, oriented, bounded, re-encoded, metadata-free."""
    opened = _open(data)
    box = (ORIGINAL_MAX_SIDE, ORIGINAL_MAX_SIDE)
    image = _shrink_first(_load(opened, _fit(opened.size, ORIGINAL_MAX_SIDE)), box)
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
    side = width if preset.startswith("avatar") else None
    image = _oriented(_load(opened, (
        side or width, side or max(1, round(opened.height * width / opened.width)))))
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
