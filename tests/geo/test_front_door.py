"""The front door (HAProxy, started by `geo.cluster`) in front of three regions: each client
goes to its own region, and around a region that dies, with no failed GET."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from imgfleet.geo.cluster import Cluster, Plan
from imgfleet.geo.front_door import (
    CLIENT_HEADER,
    CLIENT_MAP,
    CONFIG,
    Door,
    client_map,
    haproxy,
    haproxy_config,
)
from imgfleet.geo.ports import free_ports
from tests import imagegen
from tests.haproxy import require_haproxy
from tests.nats_server import require_nats_server
from tests.serving_process import bearer
from tests.waiting import until_blocking

RTT = 0.08
DETECTED_WITHIN = 10.0  # seconds; the target is 3 (bench/), a busy CI machine may be slower


class FrontDoor:
    """The cluster's front door as a client sees it, with a key made in eu."""

    def __init__(self, cluster: Cluster, auth: dict[str, str]) -> None:
        self.cluster = cluster
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{cluster.plan.door_port}", headers=auth, timeout=15
        )
        self.direct = {
            region.name: httpx.AsyncClient(
                base_url=cluster.plan.url(region), headers=auth, timeout=15
            )
            for region in cluster.plan.regions
        }

    async def upload(self, client_region: str, concern: str, width: int) -> httpx.Response:
        return await self.client.post(
            "/v1/assets",
            content=imagegen.jpeg(width, 240),
            headers={
                "content-type": "image/jpeg",
                "write-concern": concern,
                CLIENT_HEADER: client_region,
            },
        )

    async def get(self, path: str, client_region: str) -> httpx.Response:
        return await self.client.get(path, headers={CLIENT_HEADER: client_region})

    async def seen(self, region: str, state: str, since: float) -> float:
        """Seconds from `since` until the door marks `region` `state` (UP, DOWN) for its own
        clients."""
        while not self.cluster.door_view()[region][region].startswith(state):
            assert time.monotonic() - since < DETECTED_WITHIN, f"{region} not marked {state}"
            await asyncio.sleep(0.05)
        return time.monotonic() - since


@pytest.fixture
async def door(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FrontDoor]:
    require_nats_server()
    require_haproxy()
    monkeypatch.setenv("IMGFLEET_RENDER__ISOLATION", "threads")
    monkeypatch.setenv("IMGFLEET_REGION__WRITE_TIMEOUT", "3")
    cluster = Cluster(Plan.new(tmp_path, 3, RTT, None))
    try:
        await cluster.start()
        auth = await asyncio.to_thread(bearer, {**os.environ, **cluster.environment_of("eu")})
        front = FrontDoor(cluster, auth)
        until = time.monotonic() + 30  # the key, made in eu, known everywhere
        while any([(await c.get("/v1/assets")).status_code != 200 for c in front.direct.values()]):
            assert time.monotonic() < until, "the key made in eu is not known everywhere"
            await asyncio.sleep(0.1)
        yield front
        await front.client.aclose()
        for client in front.direct.values():
            await client.aclose()
    finally:
        await cluster.stop()


def rendition(upload: httpx.Response) -> str:
    """The path of an upload's default rendition, on any host."""
    assert upload.status_code == 201, upload.text
    return "/" + str(upload.json()["urls"]["default"]).split("/", 3)[3]


async def load(door: FrontDoor, path: str, client_region: str, stop: asyncio.Event) -> list[int]:
    """Statuses of GETs of `path`, four at a time, until `stop`."""
    statuses: list[int] = []

    async def reader() -> None:
        while not stop.is_set():
            statuses.append((await door.get(path, client_region)).status_code)

    await asyncio.gather(*(reader() for _ in range(4)))
    return statuses


async def test_clients_reach_their_region_and_a_killed_one_costs_no_get(
    door: FrontDoor, record_property: Callable[[str, object], None]
) -> None:
    for region in ("eu", "us", "ap"):
        answer = await door.client.get("/v1/regions", headers={CLIENT_HEADER: region})
        assert answer.json()["region"] == region
        assert answer.headers["imgfleet-region"] == region
    unknown = await door.client.get("/v1/regions")  # no header, an unlisted address: the first
    assert unknown.json()["region"] == "eu"

    path = rendition(await door.upload("us", "all", 320))
    served_by = [(await door.get(path, "us")).headers["imgfleet-region"]]
    stop = asyncio.Event()
    loading = asyncio.create_task(load(door, path, "us", stop))
    await asyncio.sleep(1.0)
    killed = time.monotonic()
    door.cluster.kill("us", nats=True)  # every process of the region
    detected = await door.seen("us", "DOWN", killed)
    await asyncio.sleep(1.0)
    served_by.append((await door.get(path, "us")).headers["imgfleet-region"])
    stop.set()
    statuses = await loading

    record_property("failover detection s", round(detected, 2))
    print(
        f"{len(statuses)} GETs while us was killed, {statuses.count(200)} 200; "
        f"us marked down in {detected:.2f} s"
    )
    assert set(statuses) == {200}
    assert served_by == ["us", "eu"]  # then its nearest (all at the same distance: eu first)


async def test_a_quorum_upload_outlives_its_home_region_a_local_one_waits_for_it(
    door: FrontDoor, record_property: Callable[[str, object], None]
) -> None:
    kept = rendition(await door.upload("us", "quorum", 330))
    door.cluster.kill("us", nats=True)
    assert (await door.get(kept, "us")).status_code == 200  # from a survivor, at once

    await door.cluster.restart("us")
    await door.seen("us", "UP", time.monotonic())
    local = await door.upload("us", "local", 340)
    assert local.headers["imgfleet-region"] == "us"
    path = rendition(local)
    door.cluster.kill("us", nats=True)
    seen = (await door.get(path, "us")).status_code
    record_property("a local upload read right after its home died", seen)
    print(f"local upload, home killed at once: a GET from a survivor answered {seen}")
    assert seen in (200, 404)  # 200 only if replication won the race
    await door.cluster.restart("us")
    deadline = time.monotonic() + 30
    while (await door.direct["eu"].get(path)).status_code != 200:  # replicated, not lost
        assert time.monotonic() < deadline, "the local upload never reached eu"
        await asyncio.sleep(0.2)


async def test_a_region_without_nats_serves_and_takes_local_uploads_then_replicates(
    door: FrontDoor,
) -> None:
    us = door.direct["us"]
    before = rendition(await door.upload("us", "all", 350))
    door.cluster.kill("us", serve=False, nats=True)
    deadline = time.monotonic() + 10
    while (await us.get("/ready")).status_code != 503:  # the door sends its clients away
        assert time.monotonic() < deadline, "us still ready without its NATS"
        await asyncio.sleep(0.1)
    assert (await us.get(before)).status_code == 200
    held = await us.post(
        "/v1/assets", content=imagegen.jpeg(360, 240), headers={"content-type": "image/jpeg"}
    )
    assert held.status_code == 201, held.text
    assert (await us.get(rendition(held))).status_code == 200
    await asyncio.sleep(1.0)
    assert not replicated(door.cluster, "eu", held.json()["id"])  # held in us's outbox

    await door.cluster.restart("us")
    deadline = time.monotonic() + 30
    while not replicated(door.cluster, "eu", held.json()["id"]):
        assert time.monotonic() < deadline, "the upload held in us's outbox never reached eu"
        await asyncio.sleep(0.2)


def replicated(cluster: Cluster, region: str, asset_id: str) -> bool:
    """Whether `region`'s own store holds the asset (read directly: no pull-through)."""
    database = Path(cluster.plan.folder, region, "data", "imgfleet.db")
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        found = connection.execute("select 1 from assets where id = ?", (asset_id,)).fetchone()
    return found is not None


async def test_the_door_and_pull_through_go_around_a_slow_region(
    door: FrontDoor, record_property: Callable[[str, object], None]
) -> None:
    path = rendition(await door.upload("us", "all", 380))
    door.cluster.slow("us", 2.0)  # every link to and from us: 1 s each way
    began = time.monotonic()
    watching = asyncio.create_task(door.seen("us", "DOWN", began))
    times: list[float] = []
    served: list[str] = []
    while time.monotonic() - began < 6.0:
        start = time.monotonic()
        answer = await door.get(path, "us")
        times.append(time.monotonic() - start)
        served.append(answer.headers["imgfleet-region"])
        assert answer.status_code == 200
    detected = await watching
    p50, p99 = quantile(times, 0.5), quantile(times, 0.99)
    record_property("slow region: marked down s, GET p50/p99/max s", (detected, p50, p99))
    print(
        f"us slowed to 2 s RTT: {len(times)} GETs of its clients through the door, none "
        f"failed, {served.count('us')} served by us; marked down in {detected:.2f} s; "
        f"p50 {p50:.3f} s, p99 {p99:.3f} s, max {max(times):.3f} s"
    )
    assert served[-1] != "us"

    # Pull-through: eu lacks a fresh upload of ap's; its nearest peer (us) is slow, so eu
    # asks ap after the hedge delay instead of waiting.
    eu = door.direct["eu"]
    fresh = await door.direct["ap"].post(
        "/v1/assets", content=imagegen.jpeg(390, 240), headers={"content-type": "image/jpeg"}
    )
    start = time.monotonic()
    assert (await eu.get(f"/v1/assets/{fresh.json()['id']}")).status_code == 200
    took = time.monotonic() - start
    peers = {p["name"]: p for p in (await eu.get("/v1/regions")).json()["peers"]}
    print(f"pull-through around the slow peer took {took:.3f} s; {peers['ap']['hedged']} hedged")
    assert took < 1.0  # a wait for us would take 2 s
    assert peers["ap"]["hedged"] >= 1 and peers["ap"]["failovers"] >= 1


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_a_planned_drain_fails_no_request(door: FrontDoor) -> None:
    path = rendition(await door.upload("us", "all", 370))
    stop = asyncio.Event()
    loading = asyncio.create_task(load(door, path, "us", stop))
    uploads: list[int] = []

    async def uploader() -> None:
        width = 400
        while not stop.is_set():
            uploads.append((await door.upload("us", "local", width)).status_code)
            width += 1

    uploading = asyncio.create_task(uploader())
    await asyncio.sleep(1.0)
    door.cluster.terminate("us")
    exited = await asyncio.to_thread(door.cluster.processes["us"].wait, 15)
    await asyncio.sleep(0.5)
    stop.set()
    statuses = await loading
    await uploading
    print(f"drain: {len(statuses)} GETs and {len(uploads)} uploads, none failed")
    assert exited == 0
    assert set(statuses) == {200} and set(uploads) == {201}


def test_only_reads_are_sent_again_after_a_region_answered_503(tmp_path: Path) -> None:
    """Two regions that answer every request 503: a GET is tried on both, an upload on one."""
    require_haproxy()
    seen: list[tuple[str, int]] = []

    class Unavailable(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._refuse()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self._refuse()

        def _refuse(self) -> None:
            seen.append((self.command, self.server.server_address[1]))
            self.send_response(503)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Unavailable) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    port = free_ports(1)[0]
    door = Door(
        port,
        ["eu", "us"],
        {
            name: f"127.0.0.1:{s.server_address[1]}"
            for name, s in zip(["eu", "us"], servers, strict=True)
        },
        {},
    )
    (tmp_path / CLIENT_MAP).write_text(client_map(door.regions))
    (tmp_path / CONFIG).write_text(
        haproxy_config(door, tmp_path).replace("check inter 500ms", "inter 500ms")  # no checks
    )
    process = subprocess.Popen([str(haproxy()), "-db", "-f", str(tmp_path / CONFIG)])
    try:
        base = f"http://127.0.0.1:{port}"
        until_blocking(lambda: _answers(base), "the front door to listen")
        seen.clear()
        assert httpx.get(base + "/x", timeout=10).status_code == 503
        assert sorted({port for _, port in seen}) == sorted(s.server_address[1] for s in servers)
        seen.clear()
        assert httpx.post(base + "/v1/assets", content=b"an upload", timeout=10).status_code == 503
        assert seen == [("POST", servers[0].server_address[1])]
    finally:
        process.terminate()
        process.wait(10)
        for server in servers:
            server.shutdown()


def _answers(base: str) -> bool:
    try:
        httpx.get(base + "/", timeout=1)
    except httpx.TransportError:
        return False
    return True
