"""A worker that stops (a deploy's SIGTERM, or recycled after `max_requests`) still
answers the requests already on their way to it, instead of resetting them.

gunicorn runs one uvicorn worker; a client holds a connection the worker has
accepted, the worker is told to stop, and only then does the request arrive.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from samembed.embedded_db import EmbeddedDB
from tests.factories import make_story
from tests.faults import wait_for
from tests.servers import Gunicorn

pytestmark = pytest.mark.usefixtures("mongo_db")


@pytest.fixture
def server(embedded_db: EmbeddedDB, static_files: None) -> Iterator[Gunicorn]:
    make_story("harbour", posts=2)
    gunicorn = Gunicorn(embedded_db.uri, workers=1)
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


def worker_pid(server: Gunicorn) -> int:
    assert server.process is not None
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    (pid,) = [int(p) for p in children.read_text().split()]
    return pid


def read_answer(conn: socket.socket) -> bytes:
    conn.settimeout(10)
    answer = b""
    while True:
        try:
            chunk = conn.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        answer += chunk
    return answer


def read_one_answer(conn: socket.socket) -> http.client.HTTPResponse:
    """One answer of a kept-alive connection, its body read whole: uvicorn may send
    head and body in separate packets, and what is left unread would prefix the
    next answer."""
    conn.settimeout(10)
    answer = http.client.HTTPResponse(conn)
    answer.begin()
    answer.read()
    return answer


def ask(conn: socket.socket, path: str, *, keep_alive: bool = True) -> None:
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"{'' if keep_alive else 'Connection: close'}\r\n\r\n".encode())


@pytest.mark.parametrize("used_before", [False, True], ids=["just-accepted", "keep-alive"])
def test_a_request_arriving_as_the_worker_stops_is_answered(
    server: Gunicorn, used_before: bool,
) -> None:
    conn = socket.create_connection(("127.0.0.1", server.port))
    try:
        if used_before:  # the worker is between two requests of this connection
            ask(conn, "/healthz")
            assert read_one_answer(conn).status == 200
        else:  # the worker has accepted it: a request served on another proves it
            other = socket.create_connection(("127.0.0.1", server.port))
            ask(other, "/healthz", keep_alive=False)
            assert read_answer(other).startswith(b"HTTP/1.1 200")
            other.close()
        os.kill(worker_pid(server), signal.SIGTERM)
        time.sleep(0.3)  # the worker has begun to stop: it accepts nothing new
        ask(conn, "/e/harbour")
        answer = read_answer(conn)
    finally:
        conn.close()
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 200"), answer[:200]
    assert b"connection: close" in head
    assert b"harbour" in answer or b"content-encoding" in head


def test_a_cached_answer_as_the_worker_stops_is_whole_and_says_it_closes(
    server: Gunicorn,
) -> None:
    conn = socket.create_connection(("127.0.0.1", server.port))
    try:
        # The miss that fills the cache, then hits; until the version watch has seen
        # the new story it may expire the copy once more.
        def a_hit() -> bool:
            ask(conn, "/e/harbour")
            previous = read_one_answer(conn)
            assert previous.status == 200
            return previous.getheader("server-timing") == "cache;desc=hit"

        assert wait_for(a_hit, 10, step=0.1), "never a hit"
        os.kill(worker_pid(server), signal.SIGTERM)
        time.sleep(0.3)  # the worker has begun to stop: it accepts nothing new
        ask(conn, "/e/harbour")
        answer = read_answer(conn)  # to the end: the worker closes the connection
    finally:
        conn.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    assert lines[0] == b"http/1.1 200 ok", answer[:200]
    assert b"connection: close" in lines and b"server-timing: cache;desc=hit" in lines
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:"))
    assert len(body) == length and b"harbour" in body
