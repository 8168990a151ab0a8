"""Serving the app with uvicorn: the one module that imports it.

`HttpServer.serve` runs uvicorn with httptools until SIGINT or SIGTERM, shuts down
gracefully and returns, so the caller can then close what the app used; `run` runs it on
uvloop.

Every connection is served by one protocol, `protocol_class`: uvicorn's httptools protocol
subclassed (its version the lock pins), because uvicorn sets no limit on a request's head
with httptools. It protects the server as imgproxy's Go server protects itself:

- A request's head (its line and headers) must be complete within `header_timeout`, counted
  from the connection's opening for its first request, so a silent connection is closed, and
  from the first byte after the previous request for each later one (uvicorn's keep-alive
  timeout covers the idle time before that byte). A client trickling its head runs out. A
  head pipelined behind a request still being answered is timed from its first byte after
  that answer (its bytes are counted all the same).
- A head is counted in bytes as they arrive, before httptools sees them (httptools keeps a
  header's pieces until the header is whole, so counting its callbacks would come too late):
  past `max_header_bytes` the server answers 431 and closes. The bytes of a request that
  begins inside a read which also ends the one before it are the exception: they are not
  counted, so such a head may take one read more.
- Connections over `max_connections` are closed as they are accepted (`connections.py`).
- After a refusal (503 Overloaded, `Outcome.hold`), nothing more is read from its connection
  for a while, at most its Retry-After: a client that resends at once waits all the same, in
  its socket's buffer. The hold grows with the number of connections held, so that together
  they come back at about `REFUSALS_PER_SECOND` (a few clients come back soon and keep the
  render queue fed; a flood of a thousand costs a fraction of a core), and it is drawn at
  random, so that they do not come back together.

The head's clock is one timer per connection, moved only when it fires: a request moves a
deadline, not the timer, so a request costs a clock read and a few assignments, and a busy
connection arms at most one timer per header timeout (uvicorn's keep-alive timer is as it was).

On a cache hit uvicorn's ASGI machinery (a task, a scope, a request-response cycle, two
sends) costs the server more than the app does (docs/performance.md, design decisions: "Hot
renditions answered in the parser"), so with the hot path on, a GET found in the app's hot
table is answered right where its headers are parsed, by `App.hot_response` (`hot.py` states
the rule). While a miss would be refused anyway (no admission place free), such a GET that
misses the hot table is refused right there too, unparsed (`App.early_refusal`), and its
connection held: a refusal then costs the loop a few µs. Everything else (misses, errors,
HEAD, conditional requests, HTTP/1.0 or
`Connection: close`, a request pipelined behind one still in progress, a client not reading
its answers) goes the ASGI way unchanged. The tests run both paths through a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import socket
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from imgfleet.core.errors import HeaderTooLarge
from imgfleet.http.app import App
from imgfleet.http.asgi import Headers, error_response
from imgfleet.http.connections import RefusalLog, connection_cap, raise_open_file_limit
from imgfleet.http.headers import WRITTEN_COOKIE, WRITTEN_HEADER
from imgfleet.http.hot import CHECKED
from imgfleet.http.ops import Readiness
from imgfleet.http.outcome import SCOPE_KEY, Outcome
from imgfleet.metrics import ConnectionStats

server_log = logging.getLogger("imgfleet.server")

# The rate at which connections held after a refusal come back, all together: at well under
# a millisecond of the loop per refusal, a fraction of a core, whatever the number of clients.
REFUSALS_PER_SECOND = 400

# After a 431 the client's further bytes are read and dropped for this long before the
# connection closes: closing on unread bytes would reset it, and the client could lose the 431.
LINGER_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str
    port: int  # 0: any free port, logged once bound
    hot_path: bool  # answer hot renditions in the parser callback
    header_timeout: float  # seconds for a request's line and headers
    max_header_bytes: int  # bytes of a request's line and headers; over them, 431
    max_connections: int  # client connections held at once; 0: from the open-file limit
    graceful_seconds: int = 10  # in-flight requests get this long after a stop signal
    keep_alive_seconds: int = 5  # an idle connection is closed after this long
    drain_seconds: float = 0.0  # after SIGTERM, serving on while /ready says 503

    def __post_init__(self) -> None:
        if self.header_timeout <= 0:
            raise ValueError(
                f"header_timeout: a positive number of seconds, not {self.header_timeout}"
            )
        if self.max_header_bytes < 1:
            raise ValueError(f"max_header_bytes: a positive size, not {self.max_header_bytes}")
        if self.max_connections < 0:
            raise ValueError(f"max_connections: 0 (derived) or more, not {self.max_connections}")


@dataclass(frozen=True, slots=True)
class Guard:
    """What one server's connections are held to, and where they are counted."""

    header_timeout: float
    max_header_bytes: int
    max_connections: int
    stats: ConnectionStats
    refusals: RefusalLog


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop, the loop the server is tuned for."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


class HttpServer:
    """uvicorn serving `app` on `sock`, or on a socket bound to the configured address;
    its connections are counted in the app's metrics."""

    def __init__(self, app: App, config: ServerConfig, sock: socket.socket | None = None) -> None:
        self.socket = sock or bind(config.host, config.port)
        self.open_files = raise_open_file_limit()
        self.max_connections = config.max_connections or connection_cap(self.open_files)
        guard = Guard(
            config.header_timeout,
            config.max_header_bytes,
            self.max_connections,
            app.metrics.connections,
            RefusalLog(self.max_connections),
        )
        self._server = _Server(
            app.readiness,
            config.drain_seconds,
            uvicorn.Config(
                app,
                http=protocol_class(app, guard, hot=config.hot_path),
                ws="none",  # no WebSocket route; an upgrade would leave the protocol's count
                access_log=False,
                log_config=None,
                server_header=False,
                proxy_headers=False,  # no client address is used: a middleware less a request
                timeout_graceful_shutdown=config.graceful_seconds,
                timeout_keep_alive=config.keep_alive_seconds,
            ),
        )

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def started(self) -> bool:
        return self._server.started

    async def serve(self) -> None:
        """Serve until SIGINT or SIGTERM (in the main thread) or `stop`; then stop taking
        connections, finish what is in flight and return."""
        limits = {"max_connections": self.max_connections, "open_files": self.open_files}
        if self.max_connections >= self.open_files:
            server_log.warning(
                "max_connections is not below the open-file limit: at the limit, new "
                "connections are reset without a log line",
                extra=limits,
            )
        server_log.info("listening", extra={"url": self.url, **limits})
        await self._server.serve(sockets=[self.socket])

    def stop(self) -> None:
        """Begin the graceful stop a signal begins; call it on the server's loop."""
        self._server.should_exit = True


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: a free one, which the caller reads back)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


class _Server(uvicorn.Server):
    def __init__(self, readiness: Readiness, drain_seconds: float, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._readiness = readiness
        self._drain_seconds = drain_seconds

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Stop on SIGINT or SIGTERM as uvicorn does, without re-raising the signal once
        stopped (uvicorn's default), which would end the process before the caller closes
        what the app used. SIGTERM first drains: `/ready` answers 503 for `drain_seconds`
        while everything else is served as before."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only (a server in a test's thread)
            return
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self.handle_exit, signal.SIGINT, None)
        loop.add_signal_handler(signal.SIGTERM, self._drain)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def _drain(self) -> None:
        if self._readiness.draining:  # a second SIGTERM: stop now
            self.handle_exit(signal.SIGTERM, None)
            return
        self._readiness.draining = True
        server_log.info("draining", extra={"seconds": self._drain_seconds})
        asyncio.get_running_loop().call_later(
            self._drain_seconds, self.handle_exit, signal.SIGTERM, None
        )


def protocol_class(app: App, guard: Guard, *, hot: bool) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol holding each connection to `guard`, and answering `app`'s
    hot renditions in the parser when `hot`."""
    timeout = guard.header_timeout
    max_head = guard.max_header_bytes
    max_connections = guard.max_connections
    stats, refusals = guard.stats, guard.refusals
    too_large = _too_large(max_head)
    receive = HttpToolsProtocol.data_received  # called directly: a hit pays for no super()

    class Protocol(HttpToolsProtocol):
        # The head being received: the bytes it may still take (None: none is, the last one
        # is complete), and the loop time by which it must be complete (None: not started).
        _head_room: int | None = None
        _head_deadline: float | None = None
        _head_timer: asyncio.TimerHandle | None = None  # due at or before the deadline
        _refused = False  # closed as accepted: over max_connections
        _lingering = False  # answered 431: reading only to drop what comes
        _answered = False  # the request being parsed was answered here (hot)

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.connections) >= max_connections:
                self._refused = True
                transport.close()
                stats.refused += 1
                refusals.refused(self.loop)
                return
            super().connection_made(transport)
            stats.open += 1
            self._head_room = max_head
            self._head_started()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return
            stats.open -= 1
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            room = self._head_room
            if room is not None:
                if self._head_deadline is None:  # the first byte after the last request
                    cycle = self.cycle
                    if cycle is None or cycle.response_complete:  # which is answered
                        self._head_started()
                if len(data) > room:
                    self._receive_past_room(data, room)
                    return
                self._head_room = room - len(data)
            receive(self, data)

        def on_headers_complete(self) -> None:
            self._head_room = self._head_deadline = None
            if not hot:
                super().on_headers_complete()
                return
            # An earlier answer's keep-alive timer must not run into this request.
            self._unset_keepalive_if_required()
            looked_up = self._hot_eligible()
            self._answered = looked_up and (self._answer_hot() or self._refuse_early())
            if not self._answered:
                super().on_headers_complete()
                if looked_up:  # the ASGI path must not look the table up again
                    self.scope.setdefault("extensions", {})[CHECKED] = {}

        def on_body(self, body: bytes) -> None:
            if not self._answered:
                super().on_body(body)

        def on_message_complete(self) -> None:
            self._head_room = max_head  # the next byte begins the next head
            if not self._answered:
                super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            cycle = self.cycle
            outcome = cycle.scope.get(SCOPE_KEY) if cycle is not None else None
            if isinstance(outcome, Outcome) and outcome.hold and not self.transport.is_closing():
                self._hold(outcome.hold)

        def _hold(self, retry_after: float) -> None:
            self.flow.pause_reading()
            stats.held += 1
            self.loop.call_later(self._hold_seconds(retry_after), self._end_hold)

        def _hold_seconds(self, retry_after: float) -> float:
            """How long not to read a refused connection: long enough that the held
            connections together come back at about REFUSALS_PER_SECOND, at most its
            Retry-After (and half the keep-alive timeout); drawn at random below that."""
            spread = stats.held / REFUSALS_PER_SECOND
            longest = min(retry_after, self.timeout_keep_alive / 2)
            return min(spread, longest) * random.uniform(0.5, 1.0)

        def _end_hold(self) -> None:
            stats.held -= 1
            if not self.transport.is_closing():
                self.flow.resume_reading()

        def _head_started(self) -> None:
            deadline = self._head_deadline = self.loop.time() + timeout
            if self._head_timer is None:
                self._head_timer = self.loop.call_at(deadline, self._head_timeout)

        def _head_timeout(self) -> None:
            """Close the connection if its head's deadline has passed; else wait for the
            deadline as it is now (requests move it without moving the timer)."""
            self._head_timer = None
            deadline = self._head_deadline
            if deadline is None or self.transport.is_closing():
                return
            now = self.loop.time()
            if now < deadline:
                self._head_timer = self.loop.call_at(deadline, self._head_timeout)
                return
            if not self._lingering:
                stats.header_timeouts += 1
            self.transport.close()

        def _receive_past_room(self, data: bytes, room: int) -> None:
            """Feed the head what it may still take; refuse it if that does not complete it,
            else take the rest as any other bytes."""
            if self._lingering:
                return
            self._head_room = 0
            receive(self, data[:room])
            if self.transport.is_closing():
                return
            if self._head_room == 0:  # the same head, still incomplete
                self._refuse_head()
            else:
                self.data_received(data[room:])

        def _refuse_head(self) -> None:
            """Answer 431 and stop parsing; close once the client has had time to read it."""
            stats.oversized_headers += 1
            self._lingering = True
            self._head_room = 0  # every later byte takes `_receive_past_room`, and is dropped
            if self.cycle is not None and not self.cycle.response_complete:
                # No answer may come before the one still owed: close without it.
                self.transport.close()
                return
            self.transport.write(_response(too_large, self.server_state.default_headers))
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self._head_deadline = self.loop.time() + LINGER_SECONDS
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_at(self._head_deadline, self._head_timeout)

        def _hot_eligible(self) -> bool:
            """An unconditional keep-alive HTTP/1.1 GET, with no answer still owed before it
            and a client reading its answers."""
            idle = self.cycle is None or self.cycle.response_complete
            return (
                idle
                and not self.flow.write_paused
                and not self.root_path
                and self.url.startswith(b"/")
                and self.parser.get_method() == b"GET"
                and self.parser.get_http_version() == "1.1"
                and self.parser.should_keep_alive()
                and not self.parser.should_upgrade()
                # No revalidation, no write's clock (read-your-writes: the service checks it).
                and all(
                    name not in _CONDITIONAL and (name != b"cookie" or _WRITTEN not in value)
                    for name, value in self.headers
                )
            )

        def _answer_hot(self) -> bool:
            answer = app.hot_response(self.url, self.headers)
            if answer is None:
                return False
            headers, body = answer
            self.transport.write(_response_200(self.server_state.default_headers, headers, body))
            self.server_state.total_requests += 1
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
            return True

        def _refuse_early(self) -> bool:
            """Under overload, refuse an image request that missed the hot table unparsed,
            as a miss would be (a few µs instead of the ASGI path), and hold its connection."""
            answer = app.early_refusal(self.url, self.headers)
            if answer is None:
                return False
            headers, body, retry_after = answer
            self.transport.write(
                _response_with(
                    b"HTTP/1.1 503 Service Unavailable",
                    self.server_state.default_headers,
                    headers,
                    body,
                )
            )
            self.server_state.total_requests += 1
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
            self._hold(retry_after)
            return True

    return Protocol


@dataclass(frozen=True, slots=True)
class _Canned:
    """A response but uvicorn's default headers (`date`), which are sent first."""

    status_line: bytes
    headers: Headers
    body: bytes


def _too_large(max_head: int) -> _Canned:
    """The 431, shaped as every imgfleet error; not to be stored by a cache, since the URL
    was not at fault."""
    error = HeaderTooLarge(f"request line and headers: more than {max_head} bytes")
    status, headers, body = error_response(error, 0)
    headers = [(name, value) for name, value in headers if name != b"cache-control"]
    headers += [(b"cache-control", b"no-store"), (b"connection", b"close")]
    return _Canned(b"HTTP/1.1 %d Request Header Fields Too Large" % status, headers, body)


_CONDITIONAL = frozenset({b"if-none-match", WRITTEN_HEADER})  # off the hot path
_WRITTEN = WRITTEN_COOKIE.encode()


def _response(canned: _Canned, default_headers: Headers) -> bytes:
    lines = [canned.status_line]
    lines += [name + b": " + value for name, value in (*default_headers, *canned.headers)]
    return b"\r\n".join(lines) + b"\r\n\r\n" + canned.body


def _response_200(default_headers: Headers, headers: Headers, body: bytes) -> bytes:
    return _response_with(b"HTTP/1.1 200 OK", default_headers, headers, body)


def _response_with(
    status_line: bytes, default_headers: Headers, headers: Headers, body: bytes
) -> bytes:
    """A whole HTTP/1.1 response, uvicorn's default headers (`date`) first, as it sends,
    and the body's length last."""
    lines = [status_line]
    lines += [name + b": " + value for name, value in (*default_headers, *headers)]
    lines.append(b"content-length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
