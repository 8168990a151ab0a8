"""The real `imgfleet serve` process over HTTP on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import imagegen
from tests.serving_process import Serving, serve_process

KEY, SALT = b"e2e-key", b"e2e-salt"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Serving]]:
    (tmp_path / "photo.jpg").write_bytes(imagegen.jpeg(640, 480))
    env = {
        **os.environ,
        "IMGFLEET_SOURCES__LOCAL_ROOT": str(tmp_path),
        "IMGFLEET_SECURITY__KEYS": KEY.hex(),
        "IMGFLEET_SECURITY__SALTS": SALT.hex(),
        "IMGFLEET_STORAGE__DATA": str(tmp_path / "data"),
    }
    with serve_process(env) as served:
        yield served


def sign_path(options: str, source: str, ext: str) -> str:
    env = {
        **os.environ,
        "IMGFLEET_SECURITY__KEYS": KEY.hex(),
        "IMGFLEET_SECURITY__SALTS": SALT.hex(),
    }
    out = subprocess.run(
        [sys.executable, "-m", "imgfleet.cli", "sign", options, source, "--ext", ext],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_serve_renders_logs_and_stops_gracefully(
    server: tuple[str, Serving],
) -> None:
    base, serving = server
    path = sign_path("rs:fill:160:120", "local:///photo.jpg", "webp")
    r = httpx.get(base + path, headers={"x-request-id": "e2e-1"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/webp"
    assert r.headers["x-request-id"] == "e2e-1"
    assert httpx.get(base + "/health", timeout=5).text == "ok\n"
    assert "imgfleet_requests_total" in httpx.get(base + "/metrics", timeout=5).text
    tampered = path.replace("rs:fill:160:120", "rs:fill:161:120")
    assert httpx.get(base + tampered, timeout=5).status_code == 403

    serving.process.send_signal(signal.SIGTERM)
    lines = serving.stopped(20)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so supervisors see why it stopped.
    assert serving.process.returncode in (0, -signal.SIGTERM)
    access = [line for line in lines if line.get("logger") == "imgfleet.access"]
    first = next(line for line in access if line.get("request_id") == "e2e-1")
    assert first["status"] == 200 and first["path"] == path and first["cache"] == "miss"
    assert any(line["status"] == 403 for line in access)
    assert any(line["msg"] == "shutdown complete" for line in lines)


def peak_rss(pid: int) -> int:
    """The process's peak resident set, in bytes (VmHWM)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_server_holds_no_more_of_a_head_than_its_limit(
    server: tuple[str, Serving],
) -> None:
    """64 MB sent as one header's value, unfinished: the server answers 431 once the head is
    past its limit, then reads and drops the rest for a moment; its memory does not grow."""
    base, serving = server
    host, port = base.removeprefix("http://").rsplit(":", 1)
    assert httpx.get(base + "/metrics", timeout=5).status_code == 200  # its paths warmed
    before = peak_rss(serving.process.pid)
    total, sent, connections = 64 * 1024 * 1024, 0, 0
    piece = b"h" * 65536
    while sent < total and connections < 20:
        connections += 1
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nhost: e2e\r\nx-flood: ")
            try:
                while sent < total:
                    sent += sock.send(piece)
            except OSError:  # closed by the server once it had answered 431
                pass
    assert sent >= total
    grown = peak_rss(serving.process.pid) - before
    assert grown < 16 * 1024 * 1024, f"peak RSS grew by {grown / 2**20:.1f} MB"
    metrics = httpx.get(base + "/metrics", timeout=5).text
    assert 'imgfleet_http_connections_closed_total{reason="header_too_large"}' in metrics
    assert f'{{reason="header_too_large"}} {connections}.0' in metrics
