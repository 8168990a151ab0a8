"""Serving the app with uvicorn: the one module that imports it.

`HttpServer.serve` runs uvicorn with httptools until SIGINT or SIGTERM, shuts down
gracefully and returns, so the caller can then close what the app used; `run` runs it on
uvloop.

On a cache hit uvicorn's ASGI machinery (a task, a scope, a request-response cycle, two
sends) costs the server more than the app does (docs/performance.md, design decisions: "Hot
renditions answered in the parser"), so with the hot path
on, a GET found in the app's hot table is answered right where its headers are parsed, by
`App.hot_response` (`hot.py` states the rule). Everything else (misses, errors, HEAD,
conditional requests, HTTP/1.0 or `Connection: close`, a request pipelined behind one still
in progress, a client not reading its answers) goes the ASGI way unchanged. The protocol
subclasses uvicorn's httptools protocol, whose version the lock pins; the tests run both
paths through a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from imgfleet.http.app import App
from imgfleet.http.asgi import Headers
from imgfleet.http.hot import CHECKED

server_log = logging.getLogger("imgfleet.server")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str
    port: int  # 0: any free port, logged once bound
    hot_path: bool  # answer hot renditions in the parser callback
    graceful_seconds: int = 10  # in-flight requests get this long after a stop signal
    keep_alive_seconds: int = 5  # an idle connection is closed after this long


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop, the loop the server is tuned for."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


class HttpServer:
    """uvicorn serving `app` on `sock`, or on a socket bound to the configured address."""

    def __init__(self, app: App, config: ServerConfig, sock: socket.socket | None = None) -> None:
        self.socket = sock or bind(config.host, config.port)
        self._server = _Server(
            uvicorn.Config(
                app,
                http=hot_path_protocol(app) if config.hot_path else "httptools",
                access_log=False,
                log_config=None,
                server_header=False,
                proxy_headers=False,  # no client address is used: a middleware less a request
                timeout_graceful_shutdown=config.graceful_seconds,
                timeout_keep_alive=config.keep_alive_seconds,
            )
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
        server_log.info("listening", extra={"url": self.url})
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
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Stop on SIGINT or SIGTERM as uvicorn does, without re-raising the signal once
        stopped (uvicorn's default), which would end the process before the caller closes
        what the app used."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only (a server in a test's thread)
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def hot_path_protocol(app: App) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with `app`'s hot renditions answered in the parser."""

    class HotPathProtocol(HttpToolsProtocol):
        _answered = False  # the request being parsed was answered here

        def on_headers_complete(self) -> None:
            # An earlier answer's keep-alive timer must not run into this request.
            self._unset_keepalive_if_required()
            looked_up = self._hot_eligible()
            self._answered = looked_up and self._answer_hot()
            if not self._answered:
                super().on_headers_complete()
                if looked_up:  # the ASGI path must not look the table up again
                    self.scope.setdefault("extensions", {})[CHECKED] = {}

        def on_body(self, body: bytes) -> None:
            if not self._answered:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if not self._answered:
                super().on_message_complete()

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
                and all(name != b"if-none-match" for name, _ in self.headers)
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

    return HotPathProtocol


def _response_200(default_headers: Headers, headers: Headers, body: bytes) -> bytes:
    """A whole HTTP/1.1 200 response, uvicorn's default headers (`date`) first, as it sends,
    and the body's length last."""
    lines = [b"HTTP/1.1 200 OK"]
    lines += [name + b": " + value for name, value in (*default_headers, *headers)]
    lines.append(b"content-length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
