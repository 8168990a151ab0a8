"""`imgfleet serve` as a subprocess on a free loopback port, ready when /ready says so."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"  # loopback only


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """One GET on a fresh connection: status, headers (lower-case names), body."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


class Server:
    """Starts `imgfleet serve` with `env` added to ours; stops it on exit (SIGTERM, then kill)."""

    def __init__(self, env: dict[str, str], log_path: Path, ready_timeout: float = 60.0) -> None:
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        # The embedded backends' files beside the log, unless the caller says where.
        data = {"IMGFLEET_STORAGE__DATA": str(log_path.parent / f"data-{self.port}")}
        self.env = {**data, **os.environ, **env}
        self.log_path = log_path
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("server not started")
        return self.process.pid

    def command(self) -> list[str]:
        script = Path(sys.executable).with_name("imgfleet")
        launcher = [str(script)] if script.exists() else [sys.executable, "-m", "imgfleet.cli"]
        return [*launcher, "serve", "--host", HOST, "--port", str(self.port)]

    def __enter__(self) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SystemExit(f"imgfleet serve exited early; see {self.log_path}")
            try:
                if get(self.port, "/ready", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise SystemExit(
            f"imgfleet serve not ready in {self.ready_timeout:g} s; see {self.log_path}"
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
