"""imgfleet's app under its real HTTP server, in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
from typing import Any

from imgfleet.http.server import HttpServer, bind
from imgfleet.settings import Settings
from imgfleet.wiring.app import server_config
from tests.app.conftest import AppUnderTest, app_under_test
from tests.waiting import until_blocking


class Served:
    """The server on a socket bound to port 0 here and handed over (no race for a port);
    `config` changes fields of the `ServerConfig` the settings give."""

    def __init__(self, settings: Settings, **config: Any) -> None:
        self.settings = settings
        self.socket = bind("127.0.0.1", 0)
        self.port = int(self.socket.getsockname()[1])
        self.config = dataclasses.replace(server_config(settings, "127.0.0.1", 0), **config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: HttpServer | None = None
        self._app: AppUnderTest | None = None
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="served", daemon=True)

    @property
    def app(self) -> AppUnderTest:
        assert self._app is not None, "the server has not started"
        return self._app

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported by __enter__ or __exit__
            self._failed = error

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        async with app_under_test(self.settings) as app:
            self._app = app
            self._server = HttpServer(app.app, self.config, self.socket)
            await self._server.serve()

    def __enter__(self) -> Served:
        self._thread.start()

        def started() -> bool:
            if self._failed is not None:
                raise AssertionError("the server failed to start") from self._failed
            return self._server is not None and self._server.started

        until_blocking(started, "the server started")
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.stop)
        self._thread.join(15)
        assert not self._thread.is_alive(), "the server did not stop within 15 s"
        if self._failed is not None:
            raise AssertionError("the server failed") from self._failed

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)
