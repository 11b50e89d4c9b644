"""Settings from the environment: every variable declared once, typed, documented.

`settings.py` reads each setting through `env()`, which looks the name up in
`DECLARED`, parses the raw string with the declared type and refuses bad values
loudly (a typo in production must stop the process, not run on a default).
The README's settings table is checked against `DECLARED` by
`tests/test_settings.py`, so an undocumented setting fails the suite.

    >>> env("EMBED_CACHE_TTL")   # with EMBED_CACHE_TTL unset
    10.0
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any, Callable

from django.core.exceptions import ImproperlyConfigured


def parse_bool(raw: str) -> bool:
    # Like healthchecks' envbool: anything but an explicit word is a mistake.
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError("expected true/false")


def parse_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_positive_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("expected a number >= 0")
    return value


def parse_positive_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("expected an integer >= 0")
    return value


def parse_pins(raw: str) -> dict[tuple[str, int], tuple[str, int]]:
    """OUTBOUND_RESOLVE: "host:port=address:port,…" (IPv6 addresses in brackets)."""
    pins = {}
    for item in parse_list(raw):
        try:
            name, target = item.split("=", 1)
            host, port = name.rsplit(":", 1)
            address, target_port = target.rsplit(":", 1)
            pins[(host.lower(), int(port))] = (address.strip("[]"), int(target_port))
        except ValueError as e:
            raise ValueError(f"{item!r} is not host:port=address:port") from e
    return pins


def parse_poll_interval(raw: str) -> float:
    value = float(raw)
    if not 0.1 <= value <= 60:
        raise ValueError("expected seconds between 0.1 and 60")
    return value


def parse_secrets_key(raw: str) -> str:
    from samembed.vault import parse_key

    return parse_key(raw) if raw.strip() else ""


def parse_secrets_keys(raw: str) -> list[str]:
    return [parse_secrets_key(item) for item in parse_list(raw)]


def parse_origin(raw: str) -> str:
    origin = raw.strip().rstrip("/")
    if origin and (not origin.startswith(("https://", "http://")) or "/" in origin[8:]):
        raise ValueError("expected an origin like https://embed.example.com (no path)")
    return origin


def parse_proxies(raw: str) -> list[str]:
    """FORWARDED_ALLOW_IPS: addresses or networks, as gunicorn validates them; `*` kept
    (gunicorn accepts it, and the system checks warn about it)."""
    items = parse_list(raw)
    for item in items:
        if item != "*":
            ipaddress.ip_network(item)  # ValueError names the bad item
    return items


def parse_networks(raw: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated addresses or networks (`10.0.0.0/8`, `::1`)."""
    networks = []
    for item in parse_list(raw):
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError as e:
            raise ValueError(f"{item!r} is not an address or network ({e})") from e
    return networks


def parse_log_format(raw: str) -> str:
    if raw not in ("json", "plain"):
        raise ValueError("expected json or plain")
    return raw


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    parse: Callable[[str], Any]
    help: str


def _s(name: str, default: str | None, parse: Callable[[str], Any], help: str) -> Setting:
    return Setting(name, default, parse, help)


DECLARED: dict[str, Setting] = {
    s.name: s
    for s in [
        _s("DEBUG", "false", parse_bool,
           "Django debug mode. Never true in production; `make run` leaves it off."),
        _s("SECRET_KEY", None, str,
           "Django secret key. Required unless DEBUG is true; `make run` generates one "
           "under `var/` for development."),
        _s("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]", parse_list,
           "Comma-separated host names this instance answers to."),
        _s("MONGODB_URI", "mongodb://127.0.0.1:27018/samembed", str,
           "MongoDB connection string; the database name comes from its path. "
           "When set for `make run`, no embedded database is started."),
        _s("MONGODB_READ_TIMEOUT_MS", "1500", parse_positive_int,
           "Socket and server-selection timeout for reads on the embed path, in ms. "
           "Short, so a failing database turns into a stale copy quickly."),
        _s("MONGODB_TIMEOUT_MS", "3000", parse_positive_int,
           "Deadline of every other database operation (writes, studio reads), in ms, "
           "waiting for a pooled connection included: a hung database becomes a 503 "
           "with Retry-After, not a request that waits for the socket."),
        _s("DATABASE_URL", "sqlite:///var/accounts.sqlite3", str,
           "SQL database for accounts and sessions (`sqlite:///path` or "
           "`postgres://user:pass@host:port/name`)."),
        _s("EMBED_CACHE_TTL", "10", parse_positive_float,
           "Seconds a rendered embed is served from memory before it is rendered again. "
           "0 disables the cache (every request renders)."),
        _s("EMBED_CACHE_MAX_BYTES", "67108864", parse_positive_int,
           "Upper bound of the per-process response cache, in bytes (least recently "
           "used entries are dropped first)."),
        _s("EMBED_STALE_IF_ERROR", "86400", parse_positive_float,
           "Seconds the last good copy of an embed is served while the database fails."),
        _s("EMBED_REVALIDATE_WAIT", "0.1", parse_positive_float,
           "Seconds a request whose cached copy expired waits for its revalidation "
           "before it is given the copy (never, once that key's last render failed)."),
        _s("EMBED_SNAPSHOT_DIR", "var/embed-snapshots", str,
           "Local directory where workers keep the last good copy of every published "
           "story's first page, so that a worker started during a database outage can "
           "serve it. Shared by the workers of an instance (or by instances mounting one "
           "directory); empty disables it."),
        _s("EMBED_SNAPSHOT_MAX_BYTES", "268435456", parse_positive_int,
           "Upper bound of EMBED_SNAPSHOT_DIR, in bytes: the copies rendered longest ago "
           "are removed first."),
        _s("LIVE_POLL_INTERVAL", "1", parse_poll_interval,
           "Seconds between an open live embed's or screen's look at its story's version "
           "(`/live/<slug>`, answered from memory); with the version watch's 0.5 s it "
           "bounds how fast changes appear."),
        _s("PUBLIC_ORIGIN", "", parse_origin,
           "The origin the big screen's QR code and the story page's canonical, Open Graph "
           "and JSON-LD URLs point to (https://embed.example.com). Empty: the origin of "
           "the request that rendered the page."),
        _s("MEDIA_SIGNING_KEY", None, str,
           "Key of the HMAC that signs /img/ URLs. When unset, a key derived from "
           "SECRET_KEY is used."),
        _s("MEDIA_SIGNING_OLD_KEYS", "", parse_list,
           "Comma-separated former signing keys whose URLs are still accepted (rotation)."),
        _s("SOURCE_SECRETS_KEY", "", parse_secrets_key,
           "Fernet key that encrypts sources' access tokens and app passwords in the "
           "database. When unset, a key derived from SECRET_KEY is used, with a warning."),
        _s("SOURCE_SECRETS_OLD_KEYS", "", parse_secrets_keys,
           "Comma-separated former SOURCE_SECRETS_KEYs that still decrypt (rotation: then "
           "run `manage.py reseal_source_secrets`)."),
        _s("MEDIA_CACHE_DIR", "var/media-cache", str,
           "Local directory of derived images (resized, re-encoded)."),
        _s("MEDIA_CACHE_MAX_BYTES", "1073741824", parse_positive_int,
           "Bound of the derived-image directory; the oldest files are removed first."),
        _s("MEDIA_ACCEL_REDIRECT", "", str,
           "When nginx is in front: the internal location prefix (e.g. `/_derived/`) under "
           "which nginx serves MEDIA_CACHE_DIR; /img/ then answers with X-Accel-Redirect."),
        _s("OUTBOUND_RESOLVE", "", parse_pins,
           "Pins host names to addresses for outbound fetches, like curl's --resolve: "
           "`host:port=address:port`, comma-separated. Pinned names skip the public-address "
           "check; for split-horizon DNS and for tests reaching fake upstreams."),
        _s("STATIC_ROOT", "var/static", str,
           "Where `collectstatic` puts hashed, compressed static files."),
        _s("JINJA_BYTECODE_DIR", "var/jinja-cache", str,
           "Directory of Jinja2's on-disk bytecode cache (compiled templates)."),
        _s("LOG_LEVEL", "INFO", str, "Log level of the samembed loggers."),
        _s("PORT", "8000", parse_positive_int,
           "Port `make run` serves on (always on 127.0.0.1)."),
        _s("WEB_CONCURRENCY", "2", parse_positive_int,
           "Number of gunicorn worker processes (`deploy/gunicorn.conf.py`)."),
        _s("HTTPS", "false", parse_bool,
           "Served over TLS (at a proxy or load balancer): HSTS, secure cookies and a "
           "redirect to https (health checks and /metrics excepted). True in production."),
        _s("FORWARDED_ALLOW_IPS", "127.0.0.1,::1", parse_proxies,
           "Addresses or networks of the proxies in front (nginx, the ingress controller) "
           "whose X-Forwarded-For and X-Forwarded-Proto are believed; the client address "
           "is the last one in X-Forwarded-For that is not among them. Never `*`: any "
           "client could then choose its address and scheme (`deploy/gunicorn.conf.py`)."),
        _s("METRICS_ALLOW_FROM",
           "127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
           parse_networks,
           "Client addresses or networks /metrics answers to (the scraper's); others get "
           "403. The address is the client's own, as FORWARDED_ALLOW_IPS resolves it."),
        _s("METRICS_DIR", "", str,
           "Directory where each worker writes its metrics for /metrics to sum; empty: a "
           "fresh temporary directory per gunicorn master (`deploy/gunicorn.conf.py`)."),
        _s("LOG_FORMAT", "json", parse_log_format,
           "`json` (one object per line, with the request id) or `plain`."),
        _s("ANALYTICS_FLUSH_INTERVAL", "5", parse_positive_float,
           "Seconds between a worker's writes of the events it counted (one bulk write "
           "of hourly rollups); a worker killed without warning loses at most this much."),
        _s("ANALYTICS_RATE", "2", parse_positive_float,
           "Beacons a second one address may send to the event endpoint, sustained."),
        _s("ANALYTICS_BURST", "30", parse_positive_int,
           "Beacons one address may send at once before ANALYTICS_RATE applies."),
        _s("ANALYTICS_RETENTION_DAYS", "396", parse_positive_int,
           "Days hourly analytics rollups are kept (13 months), by a TTL index."),
        _s("FLAGS_FLUSH_INTERVAL", "5", parse_positive_float,
           "Seconds between a worker's writes of its flags' guardrail counts (exposures, "
           "errors, render time) into `flag_counts`, where `manage.py flags guard` sums "
           "every instance's; with the guard's --interval it bounds how fast a broken "
           "variant is ramped back."),
    ]
}


def env(name: str) -> Any:
    """The parsed value of a declared setting, or its parsed default."""
    setting = DECLARED[name]
    raw = os.environ.get(name)
    if raw is None:
        if setting.default is None:
            return None
        raw = setting.default
    try:
        return setting.parse(raw)
    except ValueError as e:
        raise ImproperlyConfigured(
            f"Environment variable {name}={raw!r} is invalid ({e}). {setting.help}"
        ) from e
