"""`/ready` says whether a load balancer should send a node traffic: not while a backend it
needs is gone, nor while it drains after SIGTERM (when it still serves what comes)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.nats_server import running_nats_server
from tests.serving_process import serve_process
from tests.waiting import until_blocking


def ready(base: str) -> tuple[int, str]:
    answer = httpx.get(base + "/ready", timeout=5)
    return answer.status_code, answer.text


def test_a_node_whose_event_bus_is_gone_is_not_ready_until_it_is_back(tmp_path: Path) -> None:
    with running_nats_server(tmp_path) as nats:
        env = {
            **os.environ,
            "IMGFLEET_STORAGE__DATA": str(tmp_path / "data"),
            "IMGFLEET_EVENTS__BUS": nats.url,
            "IMGFLEET_RENDER__ISOLATION": "threads",
        }
        with serve_process(env) as (base, _):
            assert ready(base) == (200, "ready\n")
            nats.stop()
            until_blocking(lambda: ready(base)[0] == 503, "not ready without NATS", 15)
            _, text = ready(base)
            assert text.startswith("not ready: event bus:"), text
            assert httpx.get(base + "/health", timeout=5).status_code == 200  # alive all along
            nats.start()
            until_blocking(lambda: ready(base)[0] == 200, "ready with NATS back", 15)


def test_sigterm_drains_not_ready_while_serving_then_stops(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "IMGFLEET_STORAGE__DATA": str(tmp_path / "data"),
        "IMGFLEET_SERVER__DRAIN_SECONDS": "1.5",
        "IMGFLEET_RENDER__ISOLATION": "threads",
    }
    with serve_process(env) as (base, serving):
        serving.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        until_blocking(lambda: ready(base) == (503, "not ready: draining\n"), "draining", 5)
        assert httpx.get(base + "/health", timeout=5).status_code == 200  # still served
        records = serving.stopped(15)
        assert time.monotonic() - signalled >= 1.5
        assert serving.process.returncode == 0
        assert any(record.get("msg") == "draining" for record in records)
