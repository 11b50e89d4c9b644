"""Outbound HTTP: the one way samembed reaches other hosts (sources, media copies).

Everything that leaves the process goes through `fetch()`, which uses one
pooled client per process (keep-alive of 90 s, so a source polled every minute
neither reconnects nor resolves its name each time) and enforces:

- http/https only, ports 80/443 only, no credentials in the URL;
- every connection, redirects included, goes to an address that was resolved
  and checked here (loopback, private, link-local, reserved, multicast,
  shared, IPv4-mapped and other non-global addresses refused), and the socket
  connects to that checked address, so DNS cannot answer twice differently;
- at most `max_redirects` redirects, each hop checked again;
- a body cap counted on the decoded stream (a lying or absent Content-Length
  and gzip bombs included) and one deadline for the whole fetch, so a
  one-byte-a-second trickle is cut off too.

Names can be pinned to addresses with OUTBOUND_RESOLVE (like curl's
`--resolve`): pinned names skip the address check, which is how the tests and
`make run` reach fake upstreams on loopback. Tests of the guard itself build a
`Fetcher` with their own resolver and dialer instead.
"""

from __future__ import annotations

import ipaddress
import socket
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from django.conf import settings

from samembed.exceptions import FetchFailed, Refused

__all__ = ["FetchFailed", "Fetcher", "Refused", "Response", "check_address", "fetcher",
           "parse_url", "reset"]

USER_AGENT = "samembed/1.0 (social story embeds; +https://github.com/samembed)"
REDIRECTS = (301, 302, 303, 307, 308)
ALLOWED_PORTS = (80, 443)
KEEPALIVE_SECONDS = 90.0
URL_MAX = 2048  # a URL from outside (stored with a post)
FETCH_URL_MAX = 8192  # one we build ourselves (an API call listing 25 posts)

Resolver = Callable[[str, int], list[str]]
Dialer = Callable[[str, int], tuple[str, int]]


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes = field(repr=False)


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise FetchFailed(f"cannot resolve {host}: {e}") from e
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_url(url: object, schemes: tuple[str, ...] = ("http", "https"),
              max_length: int = URL_MAX) -> str:
    """`url` if it is one we could fetch, else Refused saying why in plain words.

    Every URL from outside (pushed, imported, collected, redirected to) is read
    here, by the same parser the client fetches with, so one that cannot be
    parsed (`http://999.1.1.1/`, `http://[1.2.3.4]/`, `http://xn--/`, a NUL or
    a circled digit in the host) is refused up front as that item's error
    instead of escaping later as an exception nobody expects.

        >>> parse_url("http://999.1.1.1/a.jpg")
        Traceback (most recent call last):
        samembed.exceptions.Refused: 'http://999.1.1.1/a.jpg' is not a valid URL: ...
    """
    if not isinstance(url, str) or not url.strip():
        raise Refused("the URL is empty")
    if len(url) > max_length:
        raise Refused(f"the URL is {len(url):,} characters long; "
                      f"at most {max_length:,} are accepted")
    shown = repr(url[:200])
    if any(c.isspace() or not c.isprintable() for c in url):
        raise Refused(f"{shown} contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        parsed = httpx.URL(url)
        # .host decodes the IDNA form: a malformed A-label (xn--) only fails there.
        if parsed.host:
            parsed.host.encode("idna")
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError, UnicodeError) as e:  # IDNAError is a UnicodeError
        raise Refused(f"{shown} is not a valid URL: {e}") from e
    if parts.scheme.lower() not in schemes:
        raise Refused(f"only {' and '.join(schemes)} URLs are fetched, "
                      f"not {parts.scheme or '(none)'}")
    if not host:
        raise Refused(f"{shown} has no host")
    labels = host.rstrip(".").split(".")
    if ":" not in host and (len(host) > 253 or not all(0 < len(lb) <= 63 for lb in labels)):
        raise Refused(f"{shown} has no valid host name")
    if parts.username is not None or parts.password is not None:
        raise Refused("URLs with credentials are not fetched")
    if port == 0:
        raise Refused(f"bad port in {shown}")
    return url


def _ip_literal(host: str) -> str | None:
    """The address a host written as an IP means, in any form libc accepts (127.1, 2130706433)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def check_address(ip: str) -> None:
    """Refuse anything but a global unicast address (IPv4-mapped unwrapped first)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError as e:
        raise Refused(f"{ip} is not an IP address") from e
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in ipaddress.IPv6Network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)  # NAT64
        if embedded is not None:
            address = embedded
    if not address.is_global or address.is_multicast or address.is_reserved:
        raise Refused(f"{ip} is not a public address (loopback, private, link-local, "
                      "reserved or multicast addresses are refused)")


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves and checks every connection, then connects to the checked address."""

    def __init__(self, resolver: Resolver, dialer: Dialer,
                 pins: dict[tuple[str, int], tuple[str, int]]) -> None:
        self._resolver = resolver
        self._dialer = dialer
        self._pins = pins
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        pinned = self._pins.get((host.lower(), port))
        if pinned is not None:
            target = pinned
        else:
            literal = _ip_literal(host)
            addresses = [literal] if literal else self._resolver(host, port)
            if not addresses:
                raise FetchFailed(f"{host} has no address")
            # Every answer must be public: a name that also resolves inside would
            # let the next connection (or a retry) go there.
            for address in addresses:
                check_address(address)
            target = self._dialer(addresses[0], port)
        return self._inner.connect_tcp(target[0], target[1], timeout=timeout,
                                       local_address=local_address,
                                       socket_options=socket_options)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _GuardedTransport(httpx.BaseTransport):
    """httpx's public transport interface over an httpcore pool that dials through
    `_GuardedBackend` (httpx's own transport offers no way to choose the backend)."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._connections = httpcore.ConnectionPool(
            max_connections=50, max_keepalive_connections=20,
            keepalive_expiry=KEEPALIVE_SECONDS, retries=0, network_backend=backend)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        sent = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                             target=url.raw_path),
            headers=request.headers.raw, content=request.stream,
            extensions=request.extensions)
        with _translated(request):
            answer = self._connections.handle_request(sent)
        return httpx.Response(status_code=answer.status, headers=answer.headers,
                              stream=_Body(answer, request), extensions=answer.extensions)

    def close(self) -> None:
        self._connections.close()


class _Body(httpx.SyncByteStream):
    def __init__(self, answer: httpcore.Response, request: httpx.Request) -> None:
        self._answer = answer
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        with _translated(self._request):
            yield from self._answer.iter_stream()

    def close(self) -> None:
        self._answer.close()


@contextmanager
def _translated(request: httpx.Request) -> Iterator[None]:
    """httpcore's errors as the httpx errors of the same name (httpx does the same)."""
    try:
        yield
    except httpcore.TimeoutException as e:
        kind = getattr(httpx, type(e).__name__, httpx.TimeoutException)
        raise kind(str(e), request=request) from e
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
            httpcore.ProxyError) as e:
        kind = getattr(httpx, type(e).__name__, httpx.TransportError)
        raise kind(str(e), request=request) from e


class _Decoder:
    """Content-Encoding decoding that never yields more than the caller allows."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._zlib = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
        else:
            raise Refused(f"unsupported Content-Encoding {encoding!r}")

    def feed(self, chunk: bytes, room: int) -> bytes:
        if self._zlib is None:
            return chunk
        try:
            # Ask for one byte more than fits: getting it means the body is too big.
            return self._zlib.decompress(self._zlib.unconsumed_tail + chunk, room + 1)
        except zlib.error as e:
            raise FetchFailed(f"corrupt compressed body: {e}") from e


class Fetcher:
    """A pooled, guarded HTTP client. One per process: use `fetcher()`."""

    def __init__(self, resolver: Resolver = system_resolver,
                 dialer: Dialer = lambda address, port: (address, port),
                 pins: dict[tuple[str, int], tuple[str, int]] | None = None,
                 ports: tuple[int, ...] = ALLOWED_PORTS) -> None:
        self.ports = ports
        transport = _GuardedTransport(_GuardedBackend(resolver, dialer, pins or {}))
        self._client = httpx.Client(
            transport=transport, follow_redirects=False, trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"})

    def close(self) -> None:
        self._client.close()

    def _check_url(self, url: str) -> None:
        parse_url(url, max_length=FETCH_URL_MAX)
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        if port not in self.ports:
            raise Refused(f"port {port} is not allowed (only {', '.join(map(str, self.ports))})")

    def fetch(self, url: str, *, max_bytes: int = 10 * 1024 * 1024, deadline: float = 5.0,
              max_redirects: int = 3, headers: dict[str, str] | None = None,
              accept_status: Iterable[int] = (200,)) -> Response:
        """GET `url` within the limits; FetchFailed for upstream errors, Refused for ours."""
        accepted = set(accept_status)
        started = time.monotonic()
        for _ in range(max_redirects + 1):
            self._check_url(url)
            response = self._send("GET", url, headers or {}, None, max_bytes, started + deadline)
            if response.status in REDIRECTS and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status not in accepted:
                raise FetchFailed(f"{url} answered {response.status}", response.status)
            return response
        raise Refused(f"more than {max_redirects} redirects")

    def post_json(self, url: str, payload: dict[str, Any], *, max_bytes: int = 1024 * 1024,
                  deadline: float = 5.0, accept_status: Iterable[int] = (200,)) -> Response:
        """POST a JSON body (sign-ins); never follows redirects, which would drop the body."""
        self._check_url(url)
        response = self._send("POST", url, {"Accept": "application/json"}, payload, max_bytes,
                              time.monotonic() + deadline)
        if response.status not in set(accept_status):
            raise FetchFailed(f"{url} answered {response.status}", response.status)
        return response

    def _send(self, method: str, url: str, headers: dict[str, str],
              payload: dict[str, Any] | None, max_bytes: int, ends: float) -> Response:
        remaining = ends - time.monotonic()
        try:
            with self._client.stream(method, url, headers=headers, json=payload,
                                     timeout=httpx.Timeout(max(remaining, 0.01))) as r:
                declared = r.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise Refused(f"the response is {int(declared):,} bytes; "
                                  f"at most {max_bytes:,} are accepted")
                body = b"".join(self._body(r.iter_raw(),
                                           _Decoder(r.headers.get("content-encoding", "")),
                                           max_bytes, ends))
                return Response(str(r.url), r.status_code, r.headers, body)
        except httpx.TimeoutException as e:
            raise Refused("the fetch took longer than allowed") from e
        except httpx.InvalidURL as e:
            raise Refused(f"{url[:200]!r} is not a valid URL: {e}") from e
        except httpx.HTTPError as e:
            raise FetchFailed(f"{url}: {e.__class__.__name__}: {e}") from e

    @staticmethod
    def _body(raw: Iterator[bytes], decoder: _Decoder, max_bytes: int,
              ends: float) -> Iterator[bytes]:
        size = 0
        for chunk in raw:
            if time.monotonic() > ends:
                raise Refused("the fetch took longer than allowed")
            data = decoder.feed(chunk, max_bytes - size)
            size += len(data)
            if size > max_bytes:
                raise Refused(f"the response is over {max_bytes:,} bytes")
            yield data


@cache
def fetcher() -> Fetcher:
    """This process's client, made on first use (after a fork, never before)."""
    return Fetcher(pins=settings.OUTBOUND_RESOLVE)


def reset() -> None:
    """Close this process's client; the next `fetcher()` makes a new one (settings changed)."""
    if fetcher.cache_info().currsize:
        fetcher().close()
    fetcher.cache_clear()
