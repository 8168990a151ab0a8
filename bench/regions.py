"""Replication between three regions at 80 ms RTT (`imgfleet.geo`): lag from an upload's
acknowledgement to readable in every region, and the drain of a backlog built during a cut.

Uploads of ~2 MP JPEGs (the M corpus, made new bytes by a counter in a comment segment) go
round-robin to the regions at a steady rate. An asset is readable in a region once its
record is in that region's metadata store (applied with its original already stored); the
benchmark reads each region's SQLite file directly, every 10 ms, so no request triggers a
pull-through that would make an asset readable before replication does.

    .venv/bin/python -m bench.regions --out bench/results/latest-regions.md
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/regions.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench import revision
from bench.corpus import CORPUS_DIR, MEDIUM, generate
from imgfleet.geo.cluster import Cluster, Plan

LAG_P99 = 1.0  # seconds, the targets
LAG_P999 = 5.0
DRAIN_FACTOR = 5.0


def distinct_jpeg(data: bytes, n: int) -> bytes:
    note = f"imgfleet-bench regions {n}".encode()
    return data[:2] + b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note + data[2:]


class Stores:
    """Each region's metadata store, read directly (embedded SQLite)."""

    def __init__(self, cluster: Cluster) -> None:
        self.paths = {
            r.name: Path(cluster.plan.folder, r.name, "data", "imgfleet.db")
            for r in cluster.plan.regions
        }

    def present(self, region: str, ids: set[str]) -> set[str]:
        if not ids or not self.paths[region].exists():
            return set()
        marks = ",".join("?" * len(ids))
        with sqlite3.connect(f"file:{self.paths[region]}?mode=ro", uri=True) as connection:
            rows = connection.execute(f"select id from assets where id in ({marks})", list(ids))
            return {row[0] for row in rows}


async def watch(
    stores: Stores,
    pending: dict[str, tuple[float, set[str]]],
    seen: list[float],
    settled: asyncio.Event,
) -> None:
    """Until cancelled: when an asset is in every region, record its lag; `settled` is set
    while nothing is pending."""
    while True:
        waiting = set(pending)
        for region in stores.paths:
            found = await asyncio.to_thread(stores.present, region, waiting)
            for asset_id in found:
                if asset_id in pending:
                    pending[asset_id][1].discard(region)
        now = time.monotonic()
        for asset_id, (acked, regions) in list(pending.items()):
            if not regions:
                seen.append(now - acked)
                del pending[asset_id]
        if not pending:
            settled.set()
        await asyncio.sleep(0.01)


def medium_jpeg() -> bytes:
    """The benchmark's ~2 MP original (the M corpus' first JPEG)."""
    generate(("M",), formats=("jpeg",), edge=None)
    return (CORPUS_DIR / f"{MEDIUM.name}1.jpg").read_bytes()


async def three_regions(rtt: float, *, front_door: bool) -> Cluster:
    """Three regions in a temporary folder, started, their renders in threads."""
    folder = Path(tempfile.mkdtemp(prefix="imgfleet-bench-geo-"))
    os.environ["IMGFLEET_RENDER__ISOLATION"] = "threads"
    cluster = Cluster(Plan.new(folder, 3, rtt, None, front_door=front_door))
    await cluster.start()
    return cluster


async def bench_key(cluster: Cluster) -> str:
    """An API key made in eu, once it has reached every region."""
    env = {**os.environ, **cluster.environment_of("eu")}
    creating = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "imgfleet.cli", "keys", "create", "--tenant", "bench"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    token = (await creating.communicate())[0].decode().strip()
    await asyncio.sleep(3)  # the key reaches every region
    return token


async def run(args: argparse.Namespace) -> str:
    source = medium_jpeg()
    cluster = await three_regions(args.rtt, front_door=False)
    try:
        token = await bench_key(cluster)
        urls = [cluster.plan.url(r) for r in cluster.plan.regions]
        names = [r.name for r in cluster.plan.regions]
        stores = Stores(cluster)
        pending: dict[str, tuple[float, set[str]]] = {}
        lags: list[float] = []
        settled = asyncio.Event()
        watcher = asyncio.create_task(watch(stores, pending, lags, settled))
        counter = 0
        async with httpx.AsyncClient(
            timeout=30, headers={"authorization": f"Bearer {token}"}
        ) as client:

            async def upload(region: int) -> None:
                nonlocal counter
                counter += 1
                answer = await client.post(
                    f"{urls[region]}/v1/assets",
                    content=distinct_jpeg(source, counter),
                    headers={"content-type": "image/jpeg"},
                )
                assert answer.status_code == 201, answer.text
                others = set(names) - {names[region]}
                pending[answer.json()["id"]] = (time.monotonic(), others)

            async def steady(seconds: float, regions: list[int]) -> int:
                tasks, started, n = [], time.monotonic(), 0
                while time.monotonic() - started < seconds:
                    tasks.append(asyncio.create_task(upload(regions[n % len(regions)])))
                    n += 1
                    await asyncio.sleep(max(0.0, started + n / args.rate - time.monotonic()))
                await asyncio.gather(*tasks)
                return n

            uploaded = await steady(args.seconds, [0, 1, 2])
            settled.clear()
            await settled.wait()
            steady_lags = sorted(lags)

            # The cut: ap off while eu and us take uploads; then the drain.
            lags.clear()
            cluster.cut("ap")
            built = await steady(args.cut_seconds, [0, 1])
            healed = time.monotonic()
            cluster.heal()
            settled.clear()
            await settled.wait()
            drained = time.monotonic() - healed
        watcher.cancel()
    finally:
        await cluster.stop()
    p50, p99, p999 = (
        statistics.quantiles(steady_lags, n=1000, method="inclusive")[k] for k in (499, 989, 998)
    )
    drain_rate = built / drained
    lines = [
        f"# Regions run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "```",
        "python -m bench.regions " + " ".join(sys.argv[1:]),
        "```",
        "",
        f"- imgfleet at {revision.commit()}; 3 regions on one machine ({os.cpu_count()} cores),"
        f" {args.rtt * 1000:g} ms RTT on every link (geo.link), embedded backends, render threads",
        f"- uploads: `{MEDIUM.name}1.jpg` ({len(source):,} B, 2040x1360), new bytes each, "
        f"round-robin over the regions at {args.rate:g}/s",
        "",
        f"### lag, upload acknowledged → readable in both other regions ({uploaded} uploads, "
        f"{args.seconds:g} s)",
        "",
        f"p50 {p50:.3f} s, p99 {p99:.3f} s (target < {LAG_P99:g}: {verdict(p99 < LAG_P99)}), "
        f"p99.9 {p999:.3f} s (target < {LAG_P999:g}: {verdict(p999 < LAG_P999)}), "
        f"max {steady_lags[-1]:.3f} s",
        "",
        f"### backlog after a {args.cut_seconds:g} s cut of ap (uploads to eu and us at "
        f"{args.rate:g}/s)",
        "",
        f"{built} uploads built it; after the heal ap held them all in {drained:.1f} s: "
        f"{drain_rate:.1f} uploads/s, {drain_rate / args.rate:.1f}x the rate that built it "
        f"(target ≥ {DRAIN_FACTOR:g}x: {verdict(drain_rate >= DRAIN_FACTOR * args.rate)})",
        "",
    ]
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "met" if met else "missed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--rtt", type=float, default=0.08, help="seconds (0.08)")
    parser.add_argument("--rate", type=float, default=5.0, help="uploads per second (5)")
    parser.add_argument("--seconds", type=float, default=30.0, help="of steady uploads")
    parser.add_argument("--cut-seconds", type=float, default=60.0, help="of the cut")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = asyncio.run(run(args))
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
