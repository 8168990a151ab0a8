"""Hot renditions answered in the server's parser callback (http/server.py), through a real
server on loopback: the same answers as the ASGI path, in order, counted."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h11
import pytest

from imgfleet.core.lru import ByteLRU
from tests.app.conftest import make_settings, signed
from tests.serving import Served

Answer = tuple[int, dict[bytes, bytes], bytes]


class HotServed(Served):
    """The server, counting the requests its hot path answered."""

    def __init__(self, images: Path, keep_alive: int = 5, **sections: dict[str, Any]) -> None:
        super().__init__(make_settings(images, **sections), keep_alive_seconds=keep_alive)
        self.hot_answers = 0

    def __enter__(self) -> HotServed:
        super().__enter__()
        app = self.app.app
        answer_hot = app.hot_response

        def counted(target: bytes, headers: list[tuple[bytes, bytes]]) -> object:
            answer = answer_hot(target, headers)
            self.hot_answers += answer is not None
            return answer

        app.hot_response = counted  # type: ignore[method-assign, assignment]
        return self


@pytest.fixture
def served(images: Path) -> Iterator[HotServed]:
    with HotServed(images) as s:
        yield s


def request(target: str, method: str = "GET", **headers: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "host: imgfleet.test"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answers(sock: socket.socket, count: int, head: bool = False) -> list[Answer]:
    """`count` responses read off one connection, in the order they came."""
    conn, answers = h11.Connection(h11.CLIENT), []
    while len(answers) < count:
        method = "HEAD" if head else "GET"
        conn.send(h11.Request(method=method, target="/", headers=[("host", "x")]))
        conn.send(h11.EndOfMessage())
        status, headers, body = 0, {}, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
            elif isinstance(event, h11.Response):
                status, headers = event.status_code, dict(event.headers)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        answers.append((status, headers, body))
        if len(answers) < count:
            conn.start_next_cycle()
    return answers


def warm(sock: socket.socket, path: str) -> list[Answer]:
    """A miss, then the hit that makes `path` hot (only hits enter the hot-path memo)."""
    sock.sendall(request(path) + request(path))
    return read_answers(sock, 2)


def without_per_request(headers: dict[bytes, bytes]) -> dict[bytes, bytes]:
    return {k: v for k, v in headers.items() if k not in (b"date", b"x-request-id")}


def test_a_hot_rendition_is_answered_as_the_asgi_path_answers_it(served: HotServed) -> None:
    path = signed("rs:fit:120:90", "local:///photo.jpg", "webp")
    with served.connect() as sock:
        miss, asgi_hit = warm(sock, path)
        assert served.hot_answers == 0
        sock.sendall(request(path) + request(path, x_request_id="client-7"))
        hot, echoed = read_answers(sock, 2)
    assert served.hot_answers == 2
    assert miss[0] == hot[0] == 200 and miss[2] == hot[2] and miss[2][:4] == b"RIFF"
    assert without_per_request(hot[1]) == without_per_request(asgi_hit[1])
    assert hot[1][b"x-request-id"] != asgi_hit[1][b"x-request-id"]
    assert echoed[1][b"x-request-id"] == b"client-7"
    assert {b"date", b"etag", b"content-length"} <= hot[1].keys()
    text = served.app.metrics.exposition().decode()
    assert 'imgfleet_requests_total{route="image",status="200"} 4.0' in text
    assert 'imgfleet_cache_requests_total{result="hit"} 3.0' in text


def test_pipelined_requests_are_answered_in_order(served: HotServed) -> None:
    """A hot request behind a miss still rendering waits its turn (the ASGI path's queue)."""
    small, large = (signed(f"w:{w}", "local:///photo.jpg", "jpg") for w in (40, 300))
    with served.connect() as sock:
        warm(sock, small)
        sock.sendall(request(small) + request(large) + request(small) + request("/health"))
        answers = read_answers(sock, 4)
    assert [a[0] for a in answers] == [200, 200, 200, 200]
    assert answers[0][2] == answers[2][2] != answers[1][2]
    assert answers[3][2] == b"ok\n"
    assert served.hot_answers == 1  # the second small one waited behind the large miss


def test_conditional_head_and_closing_requests_take_the_asgi_path(served: HotServed) -> None:
    path = signed("w:64", "local:///photo.jpg", "jpg")
    with served.connect() as sock:
        (_, headers, body), _ = warm(sock, path)
        sock.sendall(request(path, if_none_match=headers[b"etag"].decode()))
        assert read_answers(sock, 1)[0][:3:2] == (304, b"")
        sock.sendall(request(path, "HEAD"))
        [head] = read_answers(sock, 1, head=True)
        assert head[0] == 200 and head[1][b"content-length"] == str(len(body)).encode()
        assert served.hot_answers == 0
        sock.sendall(request(path, connection="close"))
        assert read_answers(sock, 1)[0][2] == body
        assert sock.recv(1) == b""  # closed, as asked
    assert served.hot_answers == 0


def test_a_read_carrying_a_write_s_clock_takes_the_asgi_path(served: HotServed) -> None:
    """Read-your-writes is checked by the service (a local source has no writes to wait
    for: the same answer), never skipped by the hot path."""
    path = signed("w:66", "local:///photo.jpg", "jpg")
    clock = "1765000000000-000001-eu"
    with served.connect() as sock:
        (_, _, body), _ = warm(sock, path)
        sock.sendall(request(path, imgfleet_hlc=clock))
        assert read_answers(sock, 1)[0][2] == body
        sock.sendall(request(path, cookie=f"theme=dark; imgfleet_hlc={clock}"))
        assert read_answers(sock, 1)[0][2] == body
        assert served.hot_answers == 0
        sock.sendall(request(path, cookie="theme=dark"))
        assert read_answers(sock, 1)[0][2] == body
    assert served.hot_answers == 1


def test_a_url_that_expires_is_never_answered_hot(served: HotServed) -> None:
    path = signed(f"exp:{int(time.time()) + 100}/w:12", "local:///photo.jpg", "jpg")
    with served.connect() as sock:
        assert [a[0] for a in warm(sock, path)] == [200, 200]
        sock.sendall(request(path))
        assert read_answers(sock, 1)[0][0] == 200
        assert served.hot_answers == 0
        served.app.delivery.clock.time = lambda: time.time() + 101  # type: ignore[method-assign]
        sock.sendall(request(path))
        assert read_answers(sock, 1)[0][0] == 404


def test_an_idle_connection_is_closed_after_a_hot_answer(images: Path) -> None:
    """The keep-alive timeout still applies when the last answer came from the hot path."""
    with HotServed(images, keep_alive=1) as served:
        path = signed("w:30", "local:///photo.jpg", "jpg")
        with served.connect() as sock:
            warm(sock, path)
            sock.sendall(request(path))
            read_answers(sock, 1)
            assert served.hot_answers == 1
            started = time.monotonic()
            assert sock.recv(1) == b""
            # A 1 s keep-alive; the bound is generous for a shared 2-core machine, and well
            # under the 10 s socket timeout that would end recv() without a close.
            assert time.monotonic() - started < 8


def test_a_request_pipelined_behind_a_hot_answer_outlives_its_keep_alive_timer(
    images: Path,
) -> None:
    with HotServed(images, keep_alive=1) as served:
        path = signed("w:30", "local:///photo.jpg", "jpg")
        deliver = served.app.delivery.deliver

        async def slow(*args: object, **kwargs: object) -> object:
            await asyncio.sleep(1.5)
            return await deliver(*args, **kwargs)  # type: ignore[arg-type]

        with served.connect() as sock:
            warm(sock, path)
            served.app.delivery.deliver = slow  # type: ignore[method-assign, assignment]
            sock.sendall(request(path) + request(signed("w:31", "local:///photo.jpg", "jpg")))
            hot, slow_miss = read_answers(sock, 2)
        assert served.hot_answers == 1 and hot[0] == slow_miss[0] == 200


def test_a_hot_answer_is_logged_like_any_request(
    images: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with HotServed(images, server={"access_log": True}) as served:
        path = signed("w:33", "local:///photo.jpg", "jpg")
        with served.connect() as sock, caplog.at_level(logging.INFO, "imgfleet.access"):
            warm(sock, path)
            sock.sendall(request(path, x_request_id="hot-1"))
            read_answers(sock, 1)
    assert served.hot_answers == 1
    [line] = [r for r in caplog.records if getattr(r, "request_id", None) == "hot-1"]
    assert (line.method, line.path, line.status, line.cache) == ("GET", path, 200, "hit")  # type: ignore[attr-defined]


def test_every_request_looks_the_hot_table_up_once(served: HotServed) -> None:
    """An unconditional GET in the parser callback (a miss there is not looked up again by
    the ASGI path); HEAD and revalidations in the image route, answered from the table."""
    hot = served.app.app.hot
    assert hot is not None
    lookups: list[str] = []
    find = hot.find

    def counted(path: str, accept: str) -> object:
        lookups.append(path)
        return find(path, accept)

    hot.find = counted  # type: ignore[method-assign, assignment]
    path = signed("w:34", "local:///photo.jpg", "jpg")
    with served.connect() as sock:
        sock.sendall(request(path))  # a miss, rendered
        ((_, headers, body),) = read_answers(sock, 1)
        assert len(lookups) == 1
        sock.sendall(request(path))  # a hit through ASGI, which fills the table
        read_answers(sock, 1)
        sock.sendall(request(path))  # now hot
        read_answers(sock, 1)
        assert (len(lookups), served.hot_answers) == (3, 1)
        sock.sendall(request(path, "HEAD"))
        [(status, head, _)] = read_answers(sock, 1, head=True)
        assert (status, head[b"content-length"]) == (200, str(len(body)).encode())
        sock.sendall(request(path, if_none_match=headers[b"etag"].decode()))
        assert read_answers(sock, 1)[0][0] == 304
    assert lookups == [path] * 5 and served.hot_answers == 1
    text = served.app.metrics.exposition().decode()
    assert 'imgfleet_cache_requests_total{result="hit"} 4.0' in text  # all but the first


def test_a_hot_answer_takes_its_rendition_from_the_service(served: HotServed) -> None:
    """Each hot answer goes through DeliveryService.cached_rendition, so what every request
    must pass is checked there; a rendition gone from the cache is rendered again."""
    delivery = served.app.delivery
    asked: list[str] = []
    cached = delivery.cached_rendition

    def counted(key: str) -> object:
        asked.append(key)
        return cached(key)

    delivery.cached_rendition = counted  # type: ignore[method-assign, assignment]
    path = signed("w:35", "local:///photo.jpg", "jpg")
    with served.connect() as sock:
        (_, headers, body), _ = warm(sock, path)
        etag = headers[b"etag"].strip(b'"').decode()
        asked.clear()
        sock.sendall(request(path))
        assert read_answers(sock, 1)[0][2] == body and served.hot_answers == 1
        assert asked == [etag]
        delivery.results = ByteLRU(delivery.results.capacity, lambda r: len(r.body))  # emptied
        sock.sendall(request(path))
        status, _, again = read_answers(sock, 1)[0]
    assert (status, again, served.hot_answers) == (200, body, 1)  # rendered, not hot


def test_a_setting_turns_the_hot_path_off(images: Path) -> None:
    with HotServed(images, server={"hot_path": False}) as served:
        assert served.app.app.hot is None
        path = signed("w:36", "local:///photo.jpg", "jpg")
        with served.connect() as sock:
            warm(sock, path)
            sock.sendall(request(path))
            assert read_answers(sock, 1)[0][0] == 200
        assert served.hot_answers == 0
