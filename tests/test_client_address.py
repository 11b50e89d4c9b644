"""Who the client is, behind proxies, over the wire: the sign-in throttle and
/metrics see the client's own address, whatever X-Forwarded-For a client forges,
with and without a trusted proxy (real nginx) in front; and the throttle holds
under parallel guesses.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from samembed import mongo
from samembed.embedded_db import EmbeddedDB
from tests.servers import ROOT, Gunicorn, Nginx

pytestmark = pytest.mark.usefixtures("mongo_db")


@pytest.fixture(scope="module")
def accounts(embedded_db: EmbeddedDB, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An accounts database with the development editor, shared by this module's servers."""
    home = tmp_path_factory.mktemp("accounts")
    env = Gunicorn(embedded_db.uri, 1, DATABASE_URL=f"sqlite:///{home}/accounts.sqlite3").env
    for command in (["migrate", "--noinput"], ["create_dev_editor", str(home / "password")]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, check=True, env=env,
                       capture_output=True)
    return {"DATABASE_URL": env["DATABASE_URL"]}


def serve(embedded_db: EmbeddedDB, accounts: dict[str, str], workers: int = 1,
          **env: str) -> Gunicorn:
    server = Gunicorn(embedded_db.uri, workers, **{**accounts, **env})
    server.start()
    return server


@pytest.fixture(scope="module")
def behind_nginx(embedded_db: EmbeddedDB, accounts: dict[str, str]) -> Iterator[Gunicorn]:
    """gunicorn as deploy/ runs it: nginx on the same machine is its only proxy."""
    server = serve(embedded_db, accounts, workers=2)
    yield server
    server.stop()


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
            body: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


class SignIn:
    """Wrong passwords for the development editor, with a valid CSRF token."""

    def __init__(self, port: int) -> None:
        self.port = port
        status, headers, page = request(port, "GET", "/studio/login")
        assert status == 200
        cookie = re.search(r"csrftoken=([^;]+)", headers["set-cookie"])
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert cookie and token
        self.cookie = f"csrftoken={cookie.group(1)}"
        self.token = token.group(1).decode()

    def wrong(self, forwarded_for: str | None = None) -> tuple[int, dict[str, str], bytes]:
        headers = {"Cookie": self.cookie, "Content-Type": "application/x-www-form-urlencoded"}
        if forwarded_for is not None:
            headers["X-Forwarded-For"] = forwarded_for
        body = urlencode({"csrfmiddlewaretoken": self.token, "username": "editor",
                          "password": "not the password"})
        return request(self.port, "POST", "/studio/login", headers, body)


def counter(address: str) -> int | None:
    doc = mongo.database()["signin_attempts"].find_one(
        {"_id": {"account": "editor", "address": address}})
    return None if doc is None else doc["count"]


def test_thirty_parallel_wrong_sign_ins_check_the_password_at_most_five_times(
    behind_nginx: Gunicorn,
) -> None:
    sign_in = SignIn(behind_nginx.port)
    results: list[tuple[int, dict[str, str], bytes]] = []
    start = threading.Barrier(30)

    def attempt() -> None:
        start.wait(timeout=30)
        results.append(sign_in.wrong())

    threads = [threading.Thread(target=attempt) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    statuses = sorted(status for status, _, _ in results)
    # A 401 is a password checked and found wrong; every other attempt waits.
    assert len(statuses) == 30 and set(statuses) <= {401, 429}, behind_nginx.output()[-3000:]
    assert statuses.count(401) <= 5 and statuses.count(429) >= 25, statuses
    for status, headers, body in results:
        if status == 429:
            assert int(headers["retry-after"]) > 800 and b"Too many failed sign-ins" in body
    assert counter("127.0.0.1") == 30


def test_a_client_cannot_choose_its_address_without_a_trusted_proxy(
    embedded_db: EmbeddedDB, accounts: dict[str, str],
) -> None:
    # The proxy this instance trusts is elsewhere; the client speaks to it directly.
    server = serve(embedded_db, accounts, FORWARDED_ALLOW_IPS="192.0.2.10")
    try:
        sign_in = SignIn(server.port)
        statuses = [sign_in.wrong(f"198.51.100.{n}")[0] for n in range(6)]
        assert statuses == [401] * 5 + [429]
        assert counter("127.0.0.1") == 6 and counter("198.51.100.0") is None
        # /metrics, by the connection's own address (loopback is allowed).
        assert request(server.port, "GET", "/metrics", {"X-Forwarded-For": "203.0.113.7"})[0] == 200
    finally:
        server.stop()


def test_behind_a_trusted_proxy_the_last_untrusted_address_is_the_client(
    behind_nginx: Gunicorn,
) -> None:
    # The test client plays nginx on the same machine (127.0.0.1, trusted): what
    # a client forged sits left of the address the proxy appended.
    sign_in = SignIn(behind_nginx.port)
    statuses = [sign_in.wrong(f"10.0.0.{n}, 203.0.113.7")[0] for n in range(6)]
    assert statuses == [401] * 5 + [429]
    assert sign_in.wrong("203.0.113.8")[0] == 401  # another reader is not locked out
    assert counter("203.0.113.7") == 6 and counter("203.0.113.8") == 1
    assert counter("127.0.0.1") is None and counter("10.0.0.0") is None


@pytest.mark.parametrize(
    ("forwarded_for", "status"),
    [(None, 200), ("10.1.2.3", 200), ("203.0.113.7", 403), ("10.1.2.3, 203.0.113.7", 403),
     ("::ffff:203.0.113.7", 403), ("::ffff:10.1.2.3", 200), ("not-an-address", 403)],
)
def test_metrics_answer_the_monitoring_network_only(
    behind_nginx: Gunicorn, forwarded_for: str | None, status: int,
) -> None:
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    got, response_headers, body = request(behind_nginx.port, "GET", "/metrics", headers)
    assert got == status, body
    assert response_headers["cache-control"] == "no-store"
    if status == 403:
        assert body == b"/metrics is served to the monitoring network only.\n"
    else:
        assert b"# TYPE samembed_" in body


# ---- real nginx in front -------------------------------------------------------------


@pytest.fixture
def nginx_factory(behind_nginx: Gunicorn) -> Iterator[list[Nginx]]:
    started: list[Nginx] = []
    yield started
    for nginx in started:
        nginx.stop()


def start_nginx(started: list[Nginx], upstream: Gunicorn,
                balancers: tuple[str, ...] | None = None) -> Nginx:
    nginx = Nginx(upstream.port, worker_processes="1", balancers=balancers)
    started.append(nginx)
    nginx.start()
    return nginx


def test_nginx_ignores_x_forwarded_for_from_a_client_that_is_no_balancer(
    behind_nginx: Gunicorn, nginx_factory: list[Nginx],
) -> None:
    # As shipped: the balancers are private ranges; the client (loopback) is none.
    nginx = start_nginx(nginx_factory, behind_nginx)
    sign_in = SignIn(nginx.port)
    statuses = [sign_in.wrong(f"203.0.113.{n}")[0] for n in range(6)]
    assert statuses == [401] * 5 + [429]
    assert counter("127.0.0.1") == 6 and counter("203.0.113.0") is None


def test_behind_a_balancer_nginx_passes_on_the_client_and_refuses_it_metrics(
    behind_nginx: Gunicorn, nginx_factory: list[Nginx],
) -> None:
    # The test client plays the load balancer (127.0.0.1 listed as one).
    nginx = start_nginx(nginx_factory, behind_nginx, balancers=("127.0.0.1",))
    sign_in = SignIn(nginx.port)
    # Whatever the client wrote before the balancer's entry is never the address.
    statuses = [sign_in.wrong(f"10.0.0.{n}, 203.0.113.7")[0] for n in range(6)]
    assert statuses == [401] * 5 + [429]
    # Five wrong passwords from one reader do not lock out the others behind the balancer.
    assert sign_in.wrong("203.0.113.8")[0] == 401
    assert counter("203.0.113.7") == 6 and counter("203.0.113.8") == 1
    assert counter("127.0.0.1") is None
    # /metrics: refused to a public client, and to one forging a private address.
    for forwarded_for in ("203.0.113.7", "10.0.0.9, 203.0.113.7"):
        status, _, body = request(nginx.port, "GET", "/metrics",
                                  {"X-Forwarded-For": forwarded_for})
        assert status == 403 and b"403 Forbidden" in body
    # A scraper inside the network, through the balancer, still reads it.
    status, _, body = request(nginx.port, "GET", "/metrics", {"X-Forwarded-For": "10.1.2.3"})
    assert status == 200 and b"samembed_" in body



# What nginx sends the application as X-Forwarded-Proto, answered by nginx itself.
ECHO_PROTO = '    location = /__proto { default_type text/plain; return 200 "$samembed_proto"; }\n'


@pytest.mark.parametrize(("balancers", "claimed", "seen"), [
    (None, "https", "http"),  # as shipped: loopback is no balancer
    (None, "", "http"),
    (("127.0.0.1",), "https", "https"),
    (("127.0.0.1",), "http", "http"),
    (("127.0.0.1",), "", "http"),
    (("127.0.0.1",), "gopher", "http"),
    (("127.0.0.1",), "https, http", "http"),
])
def test_only_a_balancer_may_say_the_reader_used_https(
    behind_nginx: Gunicorn, nginx_factory: list[Nginx], balancers: tuple[str, ...] | None,
    claimed: str, seen: str,
) -> None:
    nginx = Nginx(behind_nginx.port, worker_processes="1", balancers=balancers,
                  extra_server=ECHO_PROTO)
    nginx_factory.append(nginx)
    nginx.start()
    status, _, body = request(nginx.port, "GET", "/__proto",
                              {"X-Forwarded-Proto": claimed} if claimed else {})
    assert (status, body.decode()) == (200, seen)
