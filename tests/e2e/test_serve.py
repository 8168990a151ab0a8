"""The real `imgfleet serve` process over HTTP on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import imagegen

KEY, SALT = b"e2e-key", b"e2e-salt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    (tmp_path / "photo.jpg").write_bytes(imagegen.jpeg(640, 480))
    port = free_port()
    env = {
        **os.environ,
        "IMGFLEET_SOURCES__LOCAL_ROOT": str(tmp_path),
        "IMGFLEET_SECURITY__KEYS": KEY.hex(),
        "IMGFLEET_SECURITY__SALTS": SALT.hex(),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "imgfleet.cli", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/ready", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"server did not become ready: {process.communicate()[1]}")
        time.sleep(0.05)
    yield base, process
    if process.poll() is None:
        process.kill()
        process.wait()


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
    server: tuple[str, subprocess.Popen[str]],
) -> None:
    base, process = server
    path = sign_path("rs:fill:160:120", "local:///photo.jpg", "webp")
    r = httpx.get(base + path, headers={"x-request-id": "e2e-1"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/webp"
    assert r.headers["x-request-id"] == "e2e-1"
    assert httpx.get(base + "/health", timeout=5).text == "ok\n"
    assert "imgfleet_requests_total" in httpx.get(base + "/metrics", timeout=5).text
    tampered = path.replace("rs:fill:160:120", "rs:fill:161:120")
    assert httpx.get(base + tampered, timeout=5).status_code == 403

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    # uvicorn shuts down cleanly, then re-raises SIGTERM so supervisors see why it stopped.
    assert process.returncode in (0, -signal.SIGTERM)
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "imgfleet.access"]
    first = next(line for line in access if line.get("request_id") == "e2e-1")
    assert first["status"] == 200 and first["path"] == path and first["cache"] == "miss"
    assert any(line["status"] == 403 for line in access)
    assert any(line["msg"] == "shutdown complete" for line in lines)
