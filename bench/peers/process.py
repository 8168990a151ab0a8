"""A peer's server as a subprocess in its own process group, ready when a probe says so."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.rss import tree_pids
from bench.server import HOST, free_port, get


def http_answers(port: int, path: str, *, want_ok: bool = True) -> Callable[[], bool]:
    """A probe: a GET of `path` gets a 200 (or, with `want_ok` False, any HTTP answer)."""

    def probe() -> bool:
        try:
            status = get(port, path, timeout=1.0)[0]
        except OSError:
            return False
        return status == 200 or not want_ok

    return probe


def forked(workers: int) -> int:
    """Processes in a tree whose parent forks `workers` servers, or serves alone when 1."""
    return 1 if workers == 1 else 1 + workers


def run_logged(
    command: Sequence[str],
    log_path: Path,
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> None:
    """Run an install step with its output in `log_path`; SystemExit naming the log on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        done = subprocess.run(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed (exit {done.returncode}); see {log_path}")


def apt_install(package: str, hint: str, log_path: Path) -> None:
    """Install a Debian package, as root only (else SystemExit with `hint`)."""
    if os.geteuid() != 0:
        raise SystemExit(hint)
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run_logged(["apt-get", "update", "-qq"], log_path, timeout=600, env=env)
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    run_logged(command, log_path, timeout=600, env=env)


class PeerProcess:
    """One server process tree: started in a new session, stopped by signalling its group."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._process.pid

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError(f"{self.name} is not started")
        return f"http://{HOST}:{self.port}"

    def reserve_port(self) -> int:
        """A free loopback port for the next `start` (the command names it)."""
        self.port = free_port()
        return self.port

    def start(
        self,
        command: Sequence[str],
        *,
        log_path: Path,
        ready: Callable[[], bool],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        processes: int = 1,
        timeout: float = 60.0,
    ) -> None:
        """Start `command`; return once `ready()` and the tree has `processes` processes."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        with log_path.open("wb") as log:
            self._process = subprocess.Popen(
                list(command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,  # its own process group: stop() reaches every child
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise SystemExit(f"{self.name} exited early; see {log_path}")
            if len(tree_pids(self.pid)) >= processes and ready():
                return
            time.sleep(0.05)
        self.stop()
        raise SystemExit(f"{self.name} not ready in {timeout:g} s; see {log_path}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the group, then SIGKILL to what is left of it after `timeout`."""
        process, self._process = self._process, None
        if process is None:
            return
        group = process.pid  # the session leader's pid is the group id
        if process.poll() is None:
            _signal_group(group, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(group, signal.SIGKILL)
                process.wait(timeout=5)
        _signal_group(group, signal.SIGKILL)  # children that outlived their parent
        self.port = 0


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(group, sig)


class ProcessBacked:
    """The part of the `Peer` interface every peer delegates to its `PeerProcess`."""

    _process: PeerProcess

    def stop(self) -> None:
        self._process.stop()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def base_url(self) -> str:
        return self._process.base_url
