"""The server protects itself (http/server.py, http/connections.py), through a real server on
loopback: a header timeout for silent and slow clients, a cap on a request's head, a cap on
connections; and ordinary clients, with the hot path on or off, see none of it."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imgfleet.core.errors import Overloaded
from imgfleet.http import server
from tests.app.conftest import make_settings, signed
from tests.app.test_hot_path import read_answers, request
from tests.serving import Served
from tests.waiting import until_blocking

CAP = 32 * 1024  # the default max_header_bytes


def served(images: Path, hot_path: bool = True, **config: Any) -> Served:
    return Served(make_settings(images, server={"hot_path": hot_path}), **config)


def closed_after(sock: socket.socket, bound: float, trickle: bytes = b"") -> tuple[float, int]:
    """Seconds until the server closes `sock`, failing past `bound`, and bytes of `trickle`
    sent meanwhile: one every 50 ms, as a slowloris does, while waiting for the close."""
    started, sent = time.monotonic(), 0
    while time.monotonic() - started < bound:
        readable, _, _ = select.select([sock], [], [], 0.05)
        if readable:
            try:
                if sock.recv(65536) == b"":
                    return time.monotonic() - started, sent
            except ConnectionResetError:
                return time.monotonic() - started, sent
        elif sent < len(trickle):
            try:
                sent += sock.send(trickle[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started, sent
    raise AssertionError(f"the server did not close the connection within {bound} s")


def exposed(s: Served, name: str) -> float:
    for line in s.app.metrics.exposition().decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} is not exported")


def head_of(size: int, target: str = "/health") -> bytes:
    """A GET of `target` whose request line and headers are `size` bytes."""
    start = f"GET {target} HTTP/1.1\r\nhost: imgfleet.test\r\nx-pad: ".encode()
    pad = size - len(start) - 4
    assert pad >= 0
    return start + b"p" * pad + b"\r\n\r\n"


def answer_431(sock: socket.socket) -> tuple[bytes, dict[bytes, bytes], dict[str, Any]]:
    """The status line, headers and JSON body of the 431 the server answers on `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = dict(line.split(b": ", 1) for line in lines)
    while len(body) < int(headers[b"content-length"]):
        body += sock.recv(65536)
    return status, headers, json.loads(body)


@pytest.fixture
def quick(images: Path) -> Iterator[Served]:
    """A server with a half-second header timeout."""
    with served(images, header_timeout=0.5) as s:
        yield s


def test_silent_connections_are_closed_after_the_header_timeout(quick: Served) -> None:
    socks = [quick.connect() for _ in range(20)]
    try:
        for sock in socks:
            elapsed, _ = closed_after(sock, bound=10)
            assert elapsed < 10
        # Counted from the connection's opening: none may close before it has run out.
        assert closed_after(quick.connect(), bound=10)[0] >= 0.45
    finally:
        for sock in socks:
            sock.close()
    until_blocking(
        lambda: exposed(quick, "imgfleet_http_connections_closed_total") >= 21,
        "the timeouts counted",
    )
    text = quick.app.metrics.exposition().decode()
    assert 'imgfleet_http_connections_closed_total{reason="header_timeout"} 21.0' in text


@pytest.mark.parametrize("first", [True, False], ids=["first request", "later request"])
def test_a_slowloris_is_closed_when_its_header_time_runs_out(quick: Served, first: bool) -> None:
    """Each byte would restart a timer that counted from the last byte; this one counts from
    the head's first byte, so the trickle runs out however steadily it comes."""
    trickle = b"GET /health HTTP/1.1\r\n" + b"x-slow: 1\r\n" * 200
    with quick.connect() as sock:
        if not first:
            sock.sendall(request("/health"))
            assert read_answers(sock, 1)[0][0] == 200
        elapsed, sent = closed_after(sock, bound=10, trickle=trickle)
    assert 0.45 <= elapsed < 10
    assert 5 <= sent < len(trickle)  # it was still sending when closed


@pytest.mark.parametrize("hot_path", [True, False], ids=["hot", "asgi"])
def test_an_idle_keep_alive_connection_is_closed_by_the_keep_alive_timeout(
    images: Path, hot_path: bool
) -> None:
    """Between requests the keep-alive timeout runs, not the (shorter) header timeout."""
    path = signed("w:40", "local:///photo.jpg", "jpg")
    with (
        served(images, hot_path, header_timeout=0.5, keep_alive_seconds=2) as s,
        s.connect() as sock,
    ):
        for _ in range(3):  # a miss, a hit, and (hot path on) a hot answer
            sock.sendall(request(path))
            assert read_answers(sock, 1)[0][0] == 200
        elapsed, _ = closed_after(sock, bound=10)
    assert 1.8 <= elapsed < 10


def test_a_head_behind_a_slow_answer_is_timed_once_that_answer_is_done(images: Path) -> None:
    """Bytes of the next request that come while a render runs longer than the header timeout
    do not start its clock: the client is waiting for the answer, not stalling."""
    with served(images, hot_path=False, header_timeout=0.5) as s:
        deliver = s.app.delivery.deliver
        rendering = False

        async def slow(*args: object, **kwargs: object) -> object:
            nonlocal rendering
            rendering = True
            await asyncio.sleep(1.2)  # longer than the header timeout
            return await deliver(*args, **kwargs)  # type: ignore[arg-type]

        s.app.delivery.deliver = slow  # type: ignore[method-assign, assignment]
        second = request("/health")
        with s.connect() as sock:
            sock.sendall(request(signed("w:41", "local:///photo.jpg", "jpg")))
            until_blocking(lambda: rendering, "the render started")
            sock.sendall(second[:10])  # read by the server while it renders
            assert read_answers(sock, 1)[0][0] == 200
            sock.sendall(second[10:])
            assert read_answers(sock, 1)[0][2] == b"ok\n"


@pytest.mark.parametrize("hot_path", [True, False], ids=["hot", "asgi"])
def test_a_head_of_the_limit_is_answered_one_byte_more_is_431(images: Path, hot_path: bool) -> None:
    with served(images, hot_path) as s:
        with s.connect() as sock:
            sock.sendall(head_of(CAP) + head_of(CAP))  # pipelined: two whole heads in a read
            assert [a[2] for a in read_answers(sock, 2)] == [b"ok\n", b"ok\n"]
        with s.connect() as sock:
            sock.sendall(head_of(CAP + 1))
            status, headers, body = answer_431(sock)
            assert closed_after(sock, bound=10)[0] < 10
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert (headers[b"connection"], headers[b"cache-control"]) == (b"close", b"no-store")
    assert body == {
        "status": 431,
        "error": "header_too_large",
        "message": f"request line and headers: more than {CAP} bytes",
    }
    text = s.app.metrics.exposition().decode()
    assert 'imgfleet_http_connections_closed_total{reason="header_too_large"} 1.0' in text


@pytest.mark.parametrize(
    "head",
    [
        b"GET /health HTTP/1.1\r\nx-big: " + b"b" * (CAP + 10) + b"\r\n\r\n",
        b"GET /health HTTP/1.1\r\n" + b"".join(b"x-many-%05d: v\r\n" % i for i in range(3000)),
        b"GET /" + b"u" * (CAP + 10) + b" HTTP/1.1\r\n\r\n",
    ],
    ids=["one huge header", "many headers", "a huge request line"],
)
def test_an_oversized_head_is_answered_431_and_closed(quick: Served, head: bytes) -> None:
    with quick.connect() as sock:
        for start in range(0, len(head), 4096):  # in pieces, as a client writes
            sock.sendall(head[start : start + 4096])
        status, _, body = answer_431(sock)
        assert status.startswith(b"HTTP/1.1 431 ") and body["status"] == 431
        assert closed_after(sock, bound=10)[0] < 10


def test_connections_over_the_cap_are_closed_counted_and_logged_once_a_second(
    images: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, "imgfleet.server"),
        served(images, max_connections=5, header_timeout=30) as s,
    ):
        held = [s.connect() for _ in range(5)]
        try:
            until_blocking(
                lambda: exposed(s, "imgfleet_http_connections_open") == 5, "5 connections open"
            )
            for _ in range(10):
                with s.connect() as extra:
                    assert closed_after(extra, bound=10)[0] < 10
            held[0].sendall(request("/health"))  # those held are served as ever
            assert read_answers(held[0], 1)[0][2] == b"ok\n"

            def lines() -> list[logging.LogRecord]:
                return [r for r in caplog.records if r.getMessage().startswith("connections ref")]

            until_blocking(
                lambda: sum(getattr(r, "refused", 0) for r in lines()) == 10,
                "the 10 refused connections logged",
            )
            assert exposed(s, "imgfleet_http_connections_refused_total") == 10
            first, *rest = lines()
            assert first.refused == 1 and first.max_connections == 5  # type: ignore[attr-defined]
            times = [r.created for r in (first, *rest)]
            assert all(b - a >= 0.9 for a, b in itertools.pairwise(times))
            assert len(rest) <= 2  # the refusals came within about a second
            held.pop().close()  # one closed: room for one more
            until_blocking(
                lambda: exposed(s, "imgfleet_http_connections_open") == 4, "the close seen"
            )
            with s.connect() as sock:
                sock.sendall(request("/health"))
                assert read_answers(sock, 1)[0][2] == b"ok\n"
        finally:
            for sock in held:
                sock.close()


@pytest.mark.parametrize("hot_path", [True, False], ids=["hot", "asgi"])
def test_ordinary_requests_are_served_as_before(images: Path, hot_path: bool) -> None:
    path = signed("w:42", "local:///photo.jpg", "webp")
    with served(images, hot_path, header_timeout=0.5) as s, s.connect() as sock:
        sock.sendall(request(path))
        ((_, _, body),) = read_answers(sock, 1)
        for _ in range(3):
            sock.sendall(request(path) + request("/health"))  # pipelined
            image, health = read_answers(sock, 2)
            assert (image[0], image[2], health[2]) == (200, body, b"ok\n")
        assert exposed(s, "imgfleet_http_connections_open") == 1
    until_blocking(lambda: exposed(s, "imgfleet_http_connections_open") == 0, "closed counted")


def test_a_refused_clients_next_request_waits_out_its_hold(
    images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that resends at once after a 503 is read again only after a hold, which
    grows with the connections held (here one, at one refusal a second: between half its
    Retry-After and all of it); other connections are served meanwhile."""
    monkeypatch.setattr(server, "REFUSALS_PER_SECOND", 1)
    with served(images) as s:

        async def refuse(*args: object, **kwargs: object) -> object:
            raise Overloaded("server is busy rendering; retry shortly", retry_after=1)

        s.app.delivery.deliver = refuse  # type: ignore[method-assign, assignment]
        with s.connect() as flooding, s.connect() as other:
            flooding.sendall(request(signed("w:42", "local:///photo.jpg", "jpg")))
            ((status, headers, _),) = read_answers(flooding, 1)
            assert (status, headers[b"retry-after"]) == (503, b"1")
            started = time.monotonic()
            flooding.sendall(request("/health"))  # at once, as a flood does
            until_blocking(lambda: exposed(s, "imgfleet_http_connections_held") == 1, "held")
            other.sendall(request("/health"))
            assert read_answers(other, 1)[0][2] == b"ok\n"
            assert time.monotonic() - started < 0.4  # the other connection is not held
            assert read_answers(flooding, 1)[0][2] == b"ok\n"
            assert 0.45 <= time.monotonic() - started < 1.5
            until_blocking(lambda: exposed(s, "imgfleet_http_connections_held") == 0, "let go")


def test_under_overload_a_request_missing_the_hot_table_is_refused_unparsed(
    images: Path,
) -> None:
    """While a miss would be refused anyway, an image request that is not in the hot table
    gets its 503 from the parser, without reaching the service; hot hits and the shell's own
    routes are answered as ever."""
    with served(images) as s:
        hot = signed("w:43", "local:///photo.jpg", "jpg")
        with s.connect() as sock:
            for _ in range(2):  # the second answer comes from the hot table
                sock.sendall(request(hot))
                assert read_answers(sock, 1)[0][0] == 200
        reached: list[object] = []
        deliver = s.app.delivery.deliver

        async def counting(*args: object, **kwargs: object) -> object:
            reached.append(args)
            return await deliver(*args, **kwargs)  # type: ignore[arg-type]

        s.app.delivery.deliver = counting  # type: ignore[method-assign, assignment]
        s.app.app.refusal = lambda: Overloaded("server is busy rendering", retry_after=1)
        with s.connect() as sock:
            sock.sendall(request(signed("w:44", "local:///photo.jpg", "jpg")))
            ((status, headers, body),) = read_answers(sock, 1)
        assert (status, headers[b"retry-after"]) == (503, b"1")
        assert json.loads(body)["error"] == "overloaded" and reached == []
        with s.connect() as sock:
            sock.sendall(request(hot))
            assert read_answers(sock, 1)[0][0] == 200
            sock.sendall(request("/health"))
            assert read_answers(sock, 1)[0][2] == b"ok\n"
        assert 'route="image",status="503"' in s.app.metrics.exposition().decode()
