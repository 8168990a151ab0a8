"""uvicorn's HTTP protocol, answering GETs of hot renditions before ASGI.

On a cache hit uvicorn's ASGI machinery (a task, a scope, a request-response cycle, two
sends) costs the server more than the app does: with the same bytes and headers, uvicorn
running a five-line ASGI app answers 0.65x nginx's hits, a bare uvloop protocol answering
from httptools' callback 0.98x (docs/performance.md). So a GET whose path the app already
serves from its cache is answered right where its headers are parsed, by
`App.hot_response`, which counts and logs it like any request; everything else (misses,
errors, HEAD, conditional requests, HTTP/1.0 or `Connection: close`, a request pipelined
behind one still in progress, a client not reading its answers) goes the ASGI way
unchanged. It subclasses uvicorn's httptools protocol, whose version the lock pins; the
tests run both paths through a real server.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from imgfleet.http.app import App, Headers


def hot_path_protocol(app: App) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with `app`'s hot renditions answered in the parser."""

    class HotPathProtocol(HttpToolsProtocol):
        _answered = False  # the request being parsed was answered here

        def on_headers_complete(self) -> None:
            # An earlier answer's keep-alive timer must not run into this request.
            self._unset_keepalive_if_required()
            self._answered = self._answer_hot()
            if not self._answered:
                super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self._answered:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if not self._answered:
                super().on_message_complete()

        def _answer_hot(self) -> bool:
            idle = self.cycle is None or self.cycle.response_complete
            if not (
                idle
                and not self.flow.write_paused
                and not self.root_path
                and self.url.startswith(b"/")
                and self.parser.get_method() == b"GET"
                and self.parser.get_http_version() == "1.1"
                and self.parser.should_keep_alive()
                and not self.parser.should_upgrade()
            ):
                return False
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
    """A whole HTTP/1.1 200 response, uvicorn's default headers (`date`) first, as it sends."""
    lines = [b"HTTP/1.1 200 OK"]
    lines += [name + b": " + value for name, value in (*default_headers, *headers)]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
