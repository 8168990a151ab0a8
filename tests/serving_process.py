"""A real `imgfleet serve` process: started with an environment, its log read as it comes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from tests.waiting import until_blocking


class Serving:
    """A running `imgfleet serve --port 0`: it binds a free port itself and logs its URL on
    stderr, read here line by line as it comes (no port picked here and raced for)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, name="serve-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def running(self) -> None:
        """Raise when the process has exited: it will never answer."""
        if self.process.poll() is not None:
            self._reader.join(5)
            raise AssertionError(
                f"imgfleet serve exited with {self.process.returncode}: {''.join(self.lines)}"
            )

    def url(self) -> str | None:
        """The URL from the "listening" line, once logged."""
        self.running()
        for record in self.records():
            if (record.get("logger"), record.get("msg")) == ("imgfleet.server", "listening"):
                return str(record["url"])
        return None

    def ready(self, base: str, probe: str = "/ready") -> bool:
        self.running()
        try:
            return httpx.get(base + probe, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stopped(self, seconds: float) -> list[dict[str, Any]]:
        """Every log record, once the process has exited within `seconds`."""
        self.process.wait(seconds)
        self._reader.join(seconds)
        assert not self._reader.is_alive(), "stderr stayed open after the process exited"
        return self.records()


@contextmanager
def serve_process(
    env: Mapping[str, str], seconds: float = 30, port: int = 0, probe: str = "/ready"
) -> Iterator[tuple[str, Serving]]:
    """`imgfleet serve --port 0` with `env`, once it answers `probe` (`/health` for a node
    that is up but not ready, a backend missing): its URL and the process. Killed at the end
    if it still runs. A `port` chosen beforehand is for regions that must name each other
    before either starts."""
    process = subprocess.Popen(
        [sys.executable, "-m", "imgfleet.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=dict(env),
        stderr=subprocess.PIPE,
        text=True,
    )
    serving = Serving(process)
    try:
        until_blocking(
            lambda: serving.url() is not None, "the URL imgfleet serve listens on", seconds
        )
        base = serving.url()
        assert base is not None and base.startswith("http://127.0.0.1:"), base
        assert not base.endswith(":0"), base
        until_blocking(
            lambda: serving.ready(base, probe), f"imgfleet serve to answer {base}{probe}", seconds
        )
        yield base, serving
    finally:
        if process.poll() is None:
            process.kill()
        serving.stopped(10)


def bearer(env: Mapping[str, str], tenant: str = "acme") -> dict[str, str]:
    """The Authorization header of a new API key, made by `imgfleet keys create` with `env`."""
    created = subprocess.run(
        [sys.executable, "-m", "imgfleet.cli", "keys", "create", "--tenant", tenant],
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {"authorization": f"Bearer {created.stdout.strip()}"}
