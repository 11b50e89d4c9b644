"""Stored media: uploads normalised into GridFS, served signed at standard sizes only."""

from __future__ import annotations

import io
import math
import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from PIL import Image

from samembed.media import signing
from samembed.media.images import DECODE_BUDGET, MAX_PIXELS, PRESETS, ImageRefused, normalise
from samembed.media.views import sweep
from samembed.repositories import media as media_repo
from samembed.repositories import posts as posts_repo
from tests.factories import make_story
from tests.image_host import jpeg_with_gps

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


def png_header_only(width: int, height: int) -> bytes:
    """A few-hundred-byte PNG that claims to be width × height (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))


_client = Client()  # one: each new Client loads the middleware, WhiteNoise's file scan too


def fetch(url: str) -> int:
    """GET `url`; the status, with any file response read and closed."""
    response = _client.get(url)
    if response.streaming:
        b"".join(response.streaming_content)  # type: ignore[attr-defined]
    response.close()
    return response.status_code


@pytest.fixture(autouse=True)
def media_cache(tmp_path: Path) -> Iterator[Path]:
    with override_settings(MEDIA_CACHE_DIR=tmp_path / "derived"):
        yield tmp_path / "derived"


def upload(client: Client, story_id: object, data: bytes, name: str = "photo.jpg",
           content_type: str = "image/jpeg") -> object:
    return client.post(f"/studio/stories/{story_id}/posts/new", {
        "text": "With a picture", "author_name": "Desk", "alt": "A red square",
        "image": SimpleUploadedFile(name, data, content_type=content_type)})


def test_an_uploaded_image_is_stored_without_metadata_and_served_at_presets(
    ada: Client, media_cache: Path
) -> None:
    story = make_story("pictures")
    assert upload(ada, story.id, jpeg_with_gps()).status_code == 302  # type: ignore[attr-defined]
    post = posts_repo.list_published(story.id, 10)[0]
    media = post.media[0]
    assert media.url.startswith("media:") and (media.width, media.height) == (1600, 1000)
    stored = media_repo.get(media.url[len("media:"):])
    assert stored is not None and not Image.open(io.BytesIO(stored.data)).getexif()

    body = Client().get("/e/pictures").content.decode()
    assert "/img/" in body and "srcset=" in body and 'alt="A red square"' in body
    url = signing.signed_url(media.url[len("media:"):], "medium", "webp")
    response = Client().get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'"
    served = Image.open(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]
    response.close()
    assert served.size == (640, 400) and not served.getexif()
    assert len(list(media_cache.rglob("*.webp"))) == 1
    # The original is gone from nowhere: served again from the disk cache.
    assert fetch(url) == 200


def test_a_flipped_signature_byte_is_403_and_unknown_sizes_are_404(ada: Client) -> None:
    key = media_repo.put(normalise(jpeg_with_gps(300, 200)).data, "image/jpeg")
    url = signing.signed_url(key, "thumb", "jpg")
    signature = url.split("/")[2]
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert fetch(url.replace(signature, flipped)) == 403
    # A correctly signed URL of a size that is not a preset is still refused.
    forged = signing._sign(signing._keys()[0], f"w500/{key}.jpg")
    assert fetch(f"/img/{forged}/w500/{key}.jpg") == 404
    assert fetch(url) == 200


def test_a_thousand_widths_leave_only_presets_in_the_cache(media_cache: Path) -> None:
    key = media_repo.put(normalise(jpeg_with_gps(800, 600)).data, "image/jpeg")
    for width in range(1, 1001):
        assert fetch(f"/img/x/w{width}/{key}.webp") == 404
    for preset in PRESETS:
        assert fetch(signing.signed_url(key, preset)) == 200
    cached = {p.parent.parent.name for p in media_cache.rglob("*.webp")}
    assert cached == set(PRESETS)


def test_old_signing_keys_keep_working_after_rotation() -> None:
    key = media_repo.put(normalise(jpeg_with_gps(300, 200)).data, "image/jpeg")
    old_url = signing.signed_url(key, "thumb")
    old_key = signing._keys()[0].decode()
    signing._keys.cache_clear()
    try:
        with override_settings(MEDIA_SIGNING_KEY="a-new-key", MEDIA_SIGNING_OLD_KEYS=[old_key]):
            assert signing.signed_url(key, "thumb") != old_url
            assert fetch(old_url) == 200
    finally:
        signing._keys.cache_clear()


def test_a_huge_png_of_a_few_bytes_is_refused_before_decoding() -> None:
    bomb = png_header_only(20_000, 20_000)
    assert len(bomb) < 2000
    started = time.perf_counter()
    with pytest.raises(ImageRefused, match="megapixels"):
        normalise(bomb)
    assert time.perf_counter() - started < 0.1
    assert 20_000 * 20_000 > MAX_PIXELS


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [(b"<html><script>alert(1)</script></html>", "x.png", "not a JPEG, PNG, GIF or WebP"),
     (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.svg",
      "not a JPEG, PNG, GIF or WebP"),
     (png_header_only(20_000, 20_000), "bomb.png", "megapixels"),
     (b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024), "big.jpg", "larger than 10 MB")],
)
def test_uploads_that_are_not_acceptable_images_are_refused(
    ada: Client, data: bytes, name: str, message: str
) -> None:
    story = make_story("refusals")
    response = upload(ada, story.id, data, name, "image/png")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert message in response.content.decode().replace("&#39;", "'")  # type: ignore[attr-defined]
    assert posts_repo.list_published(story.id, 10) == []


def test_the_disk_cache_drops_the_oldest_files_beyond_its_bound(tmp_path: Path) -> None:
    for n in range(10):
        path = tmp_path / f"{n}.webp"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1000 + n, 1000 + n))
    assert sweep(tmp_path, 5000) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{n}.webp" for n in range(5, 10)]


def test_behind_nginx_the_file_is_handed_over_with_x_accel_redirect(ada: Client) -> None:
    story = make_story("accel")
    upload(ada, story.id, jpeg_with_gps())
    key = posts_repo.list_published(story.id, 1)[0].media[0].url.removeprefix("media:")
    with override_settings(MEDIA_ACCEL_REDIRECT="/_derived/"):
        response = _client.get(signing.signed_url(key, "thumb", "webp"))
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/_derived/thumb/{key[:2]}/{key}.webp"
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"


def test_a_derived_image_on_disk_is_served_by_the_fast_path_like_django_does(
    ada: Client,
) -> None:
    from samembed.asgi import FastPath
    from tests.test_fastpath import Downstream, call

    story = make_story("fast")
    upload(ada, story.id, jpeg_with_gps())
    key = posts_repo.list_published(story.id, 1)[0].media[0].url.removeprefix("media:")
    url = signing.signed_url(key, "medium", "webp")
    django = Downstream()
    app = FastPath(django)
    assert call(app, url)[0] == 299  # not derived yet: Django makes it

    expected = _client.get(url)
    expected_body = b"".join(expected.streaming_content)  # type: ignore[attr-defined]
    status, headers, body = call(app, url)
    assert (status, body) == (200, expected_body)
    for name in ("Content-Type", "Cache-Control", "X-Content-Type-Options",
                 "Content-Security-Policy"):
        assert headers[name.lower().encode()].decode() == expected[name]
    assert call(app, url, method="HEAD")[2] == b""
    assert call(app, url.replace("/medium/", "/thumb/"))[0] == 299  # wrong signature: Django
    assert len(django.paths) == 2


def flat_png(width: int, height: int) -> bytes:
    """A real width × height RGB PNG of one colour, written a row at a time (so making
    it costs no memory): it compresses to a few hundred bytes per megapixel."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    row = b"\x00" + bytes((30, 120, 200)) * width
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


# Run in a fresh interpreter, so its peak resident size is this one image's cost.
# VmHWM, not ru_maxrss: ru_maxrss survives exec, so it would report pytest's own size.
_MEASURE = """
import sys
from samembed.media.images import ImageRefused, normalise
data = open(sys.argv[1], "rb").read()
try:
    result = normalise(data)
    outcome = f"{result.width}x{result.height}"
except ImageRefused as e:
    outcome = f"refused: {e}"
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(int(status.split()[0]) // 1024)
print(outcome)
"""
PEAK_BOUND_MIB = 120
WORST_CASE_BOUND_MIB = 160


def normalise_in_a_subprocess(path: Path) -> tuple[int, str]:
    """(peak resident MiB, outcome) of normalising the file at `path`."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True,
                          text=True, timeout=120, check=True, cwd=Path(__file__).parent.parent)
    peak, outcome = done.stdout.strip().split("\n", 1)
    return int(peak), outcome


def test_a_small_file_claiming_7000_by_7000_pixels_costs_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(flat_png(7000, 7000))
    assert path.stat().st_size < 200_000

    peak, outcome = normalise_in_a_subprocess(path)

    assert outcome.startswith("refused: The image is 7000×7000 pixels, too large to decode")
    assert peak < PEAK_BOUND_MIB, f"{peak} MiB to refuse a 7000×7000 PNG"


def test_a_7000_by_7000_jpeg_is_decoded_at_a_reduced_scale(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    maker = ("import sys; from PIL import Image; "
             "Image.new('L', (7000, 7000), 90).save(sys.argv[1], 'JPEG', quality=70)")
    subprocess.run([sys.executable, "-c", maker, str(path)], check=True, timeout=120)

    peak, outcome = normalise_in_a_subprocess(path)

    assert outcome == "2560x2560"
    assert peak < PEAK_BOUND_MIB, f"{peak} MiB to normalise a 7000×7000 JPEG"


def test_the_largest_png_within_the_budget_is_still_normalised(tmp_path: Path) -> None:
    side = math.isqrt(DECODE_BUDGET // 4)  # 32 bits a pixel, as Pillow holds RGB
    path = tmp_path / "large.png"
    path.write_bytes(flat_png(side, side))

    peak, outcome = normalise_in_a_subprocess(path)

    assert outcome == "2560x2560"
    # The decoded image, the resize's intermediate and its result, once each.
    assert peak < WORST_CASE_BOUND_MIB, f"{peak} MiB to normalise a {side}×{side} PNG"
