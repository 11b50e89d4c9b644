"""Copy on collection against a fake image host: the SSRF guard and the fetch limits.

The fetcher under test resolves `images.test` to a public address and its
dialer routes *every* checked address to the fake host, the way a real network
would route an internal address to an internal server. So a missing check would
show up as a connection in the host's log.
"""

from __future__ import annotations

import io
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from django.test import Client, override_settings
from PIL import Image

from samembed import outbound
from samembed.media import collect, signing
from samembed.media.images import ImageRefused
from samembed.repositories import media as media_repo
from tests.image_host import ImageHost, jpeg_with_gps
from tests.test_media import png_header_only

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]

PUBLIC = "93.184.216.34"


@pytest.fixture
def host() -> Iterator[ImageHost]:
    with ImageHost({"/photo.jpg": jpeg_with_gps(), "/bomb.png": png_header_only(20000, 20000)}
                   ) as server:
        yield server


class Resolver:
    """DNS for the test network: `loopback.test` is a name that points inside."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return {"loopback.test": ["127.0.0.1"],
                "mixed.test": [PUBLIC, "10.1.2.3"]}.get(host, [PUBLIC])


@pytest.fixture
def resolver() -> Resolver:
    return Resolver()


@pytest.fixture
def client(host: ImageHost, resolver: Resolver) -> Iterator[outbound.Fetcher]:
    fetcher = outbound.Fetcher(resolver=resolver, dialer=lambda address, port: (
        "127.0.0.1", host.port))
    yield fetcher
    fetcher.close()


def test_it_copies_an_image_without_its_location_data(
    host: ImageHost, client: outbound.Fetcher
) -> None:
    copied = collect.copy("http://images.test/photo.jpg", client)

    assert copied.url.startswith("media:") and (copied.width, copied.height) == (1600, 1000)
    stored = media_repo.get(copied.url.removeprefix("media:"))
    assert stored is not None and stored.content_type == "image/jpeg"
    image = Image.open(io.BytesIO(stored.data))
    assert not image.getexif() and b"Spy Camera" not in stored.data
    assert host.paths == ["/photo.jpg"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/photo.jpg",
    "http://127.1/photo.jpg",
    "http://2130706433/photo.jpg",
    "http://0x7f.1/photo.jpg",
    "http://[::ffff:127.0.0.1]/photo.jpg",
    "http://[::1]/photo.jpg",
    "http://10.0.0.7/photo.jpg",
    "http://169.254.169.254/latest/meta-data",
    "http://[fe80::1]/photo.jpg",
    "http://224.0.0.1/photo.jpg",
    "http://loopback.test/photo.jpg",
    "http://mixed.test/photo.jpg",
])
def test_it_refuses_internal_addresses_without_connecting(
    url: str, host: ImageHost, client: outbound.Fetcher
) -> None:
    with pytest.raises(outbound.Refused, match="not a public address"):
        collect.copy(url, client)
    assert host.connections == 0 and host.paths == []


@pytest.mark.parametrize(("url", "message"), [
    ("file:///etc/passwd", "only http and https"),
    ("gopher://images.test/", "only http and https"),
    ("http://images.test:8080/photo.jpg", "port 8080 is not allowed"),
    ("http://user:secret@images.test/photo.jpg", "credentials"),
])
def test_it_refuses_other_schemes_ports_and_credentials(
    url: str, message: str, host: ImageHost, client: outbound.Fetcher
) -> None:
    with pytest.raises(outbound.Refused, match=message):
        collect.copy(url, client)
    assert host.connections == 0


def test_a_redirect_to_a_private_address_is_refused_at_that_hop(
    host: ImageHost, client: outbound.Fetcher
) -> None:
    with pytest.raises(outbound.Refused, match="10.0.0.9 is not a public address"):
        collect.copy("http://images.test/redirect?to=http://10.0.0.9/photo.jpg", client)
    assert host.paths == ["/redirect"]


def test_three_redirects_are_followed_and_a_fourth_is_refused(
    host: ImageHost, client: outbound.Fetcher
) -> None:
    assert collect.copy("http://images.test/hops/3", client).width == 1600
    with pytest.raises(outbound.Refused, match="more than 3 redirects"):
        collect.copy("http://images.test/hops/4", client)


def test_a_50_mb_chunked_body_is_cut_off_at_the_cap(
    host: ImageHost, client: outbound.Fetcher
) -> None:
    tracemalloc.start()
    with pytest.raises(outbound.Refused, match="over 10,485,760 bytes"):
        collect.copy("http://images.test/chunked-50mb", client)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 30 * 1024 * 1024


def test_a_one_byte_a_second_body_is_cut_off_at_the_deadline(
    host: ImageHost, client: outbound.Fetcher
) -> None:
    started = time.monotonic()
    with pytest.raises(outbound.Refused, match="longer than allowed"):
        client.fetch("http://images.test/trickle", deadline=1.5)
    assert time.monotonic() - started < 3.5


@pytest.mark.parametrize("path", ["/svg-as-png", "/html-as-png"])
def test_svg_or_html_labelled_as_png_is_refused(
    path: str, host: ImageHost, client: outbound.Fetcher
) -> None:
    with pytest.raises(ImageRefused, match="not a JPEG, PNG, GIF or WebP"):
        collect.copy(f"http://images.test{path}", client)


def test_a_huge_png_of_a_few_bytes_from_a_host_is_refused_before_decoding(
    host: ImageHost, client: outbound.Fetcher
) -> None:
    tracemalloc.start()
    with pytest.raises(ImageRefused, match="megapixels"):
        collect.copy("http://images.test/bomb.png", client)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * 1024 * 1024


def test_connections_and_names_are_reused_across_fetches(
    host: ImageHost, resolver: Resolver, client: outbound.Fetcher
) -> None:
    for _ in range(3):
        client.fetch("http://images.test/photo.jpg")
    assert (host.connections, resolver.calls, len(host.paths)) == (1, 1, 3)


def test_a_copied_image_is_still_served_after_its_origin_disappears(
    host: ImageHost, client: outbound.Fetcher, tmp_path: object
) -> None:
    copied = collect.copy("http://images.test/photo.jpg", client)
    host.shutdown()
    host.server_close()

    with override_settings(MEDIA_CACHE_DIR=f"{tmp_path}/derived"):
        response = Client().get(signing.media_src(copied.url, "medium", "webp"))
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(body)).size == (640, 400)
