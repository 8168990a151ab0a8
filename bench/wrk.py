"""Runs wrk with bench/cycle.lua (or bench/paced.lua, which pauses before each request)
over a file of URL paths, or with bench/upload.lua, and reads its one-line summary."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.peers import PEERS_DIR
from bench.peers.process import apt_install

SCRIPT = Path(__file__).resolve().parent / "cycle.lua"
PACED_SCRIPT = SCRIPT.with_name("paced.lua")
UPLOAD_SCRIPT = SCRIPT.with_name("upload.lua")
INSTALL_HINT = "wrk is not installed; as root: apt-get install -y wrk"


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int  # responses received
    seconds: float  # wall time of the run, as wrk measured it
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int, int]
    retry_after: int  # 503 responses that carried Retry-After
    socket_errors: int  # connect, read and write errors and timeouts
    capped: bool  # a thread reached its request cap before the time ran out
    repeats: int  # times a thread went back to its first path (repeated URLs)
    p95_ms: float = 0.0  # after the others: older callers build it without

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)


def wrk_binary() -> str:
    """The path of wrk, installed from Debian's packages when missing (as root), else
    SystemExit with the install hint."""
    found = shutil.which("wrk")
    if found is None:
        apt_install("wrk", INSTALL_HINT, PEERS_DIR / "wrk-install.log")
        found = shutil.which("wrk")
    if found is None:
        raise SystemExit(INSTALL_HINT)
    return found


def write_paths(path: Path, paths: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(paths) + "\n")
    return path


def run_wrk(
    base_url: str,
    paths_file: Path,
    *,
    connections: int,
    seconds: float,
    threads: int = 1,
    max_requests: int | None = None,
    timeout: float = 15.0,
    pause_ms: int = 0,
) -> WrkResult:
    """One wrk run of at most `seconds`, stopping early after `max_requests` responses.

    Without `max_requests`, the cap is the number of paths less one per connection, so that
    no path is requested twice (every request a distinct URL). With `pause_ms`, each
    connection waits that long before each of its requests (bench/paced.lua).
    """
    threads = max(1, min(threads, connections))
    if max_requests is None:
        lines = sum(1 for _ in paths_file.open())
        max_requests = lines - connections
    if max_requests < threads:
        raise ValueError(f"{paths_file}: too few paths for {connections} connections")
    script = PACED_SCRIPT if pause_ms > 0 else SCRIPT
    pause = [str(pause_ms)] if pause_ms > 0 else []
    arguments = [str(paths_file), str(max_requests // threads), str(threads), *pause]
    return _run(script, base_url, arguments, threads, connections, seconds, timeout)


def run_uploads(
    base_url: str,
    jpeg: Path,
    *,
    token: str,
    path: str,
    run: str,
    connections: int,
    seconds: float,
    max_requests: int,
    timeout: float = 15.0,
) -> WrkResult:
    """POSTs of `jpeg` to `path` with a bearer token, each made new bytes (bench/upload.lua;
    `run` names the run, and must differ between runs to one server), for at most `seconds`
    or `max_requests` responses; one wrk thread."""
    arguments = [str(jpeg), str(max_requests), "1", token, path, run]
    return _run(UPLOAD_SCRIPT, base_url, arguments, 1, connections, seconds, timeout)


def _run(
    script: Path,
    base_url: str,
    arguments: list[str],
    threads: int,
    connections: int,
    seconds: float,
    timeout: float,
) -> WrkResult:
    command = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout:g}s",
        "-s",
        str(script),
        base_url,
        "--",
        *arguments,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + timeout + 30, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return _parse(json.loads(line.removeprefix("WRK_JSON ")))
    raise RuntimeError(f"wrk gave no summary (exit {done.returncode}):\n{done.stderr}")


def _parse(data: dict[str, object]) -> WrkResult:
    def number(key: str) -> int:
        value = data[key]
        if not isinstance(value, int):
            raise RuntimeError(f"wrk summary: {key} is {value!r}")
        return value

    raw = data["statuses"]
    statuses = {int(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    return WrkResult(
        requests=number("requests"),
        seconds=number("duration_us") / 1e6,
        p50_ms=number("p50_us") / 1e3,
        p90_ms=number("p90_us") / 1e3,
        p99_ms=number("p99_us") / 1e3,
        max_ms=number("max_us") / 1e3,
        statuses=statuses,
        retry_after=number("retry_after"),
        socket_errors=sum(
            number(k) for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        ),
        capped=number("threads_stopped") > 0,
        repeats=number("wrapped"),
        p95_ms=number("p95_us") / 1e3 if "p95_us" in data else 0.0,
    )
