"""Failover through the front door (`imgfleet.geo`: HAProxy in front of three regions at
80 ms RTT): GETs of one region's clients before, while and after every process of that
region is SIGKILLed; how long the door takes to mark it down; how many GETs fail.

Eight clients of `us` GET the default renditions of ~2 MP originals (uploaded with write
concern `all`, so every region holds them; each rendition fetched once first, so the steady
state is cache hits) through the door, each as fast as answers come. Then `us` is killed.
"During" runs from the kill until the door has marked `us` down, plus one second.

    .venv/bin/python -m bench.failover --out bench/results/latest-failover.md
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/failover.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench import revision
from bench.regions import bench_key, distinct_jpeg, medium_jpeg, three_regions, verdict
from imgfleet.geo.front_door import CLIENT_HEADER

DETECTION = 3.0  # seconds, the target
CLIENTS = 8
ASSETS = 20


class Phases:
    """Each GET's latency and status, by the phase it began in."""

    def __init__(self) -> None:
        self.phase = "before"
        self.latencies: dict[str, list[float]] = {"before": [], "during": [], "after": []}
        self.failed: dict[str, int] = {"before": 0, "during": 0, "after": 0}
        self.served_by: dict[str, dict[str, int]] = {"before": {}, "during": {}, "after": {}}

    def record(self, phase: str, seconds: float, status: int, region: str) -> None:
        self.latencies[phase].append(seconds)
        if status != 200:
            self.failed[phase] += 1
        counts = self.served_by[phase]
        counts[region] = counts.get(region, 0) + 1


async def run(args: argparse.Namespace) -> str:
    source = medium_jpeg()
    cluster = await three_regions(args.rtt, front_door=True)
    phases = Phases()
    try:
        token = await bench_key(cluster)
        door = f"http://127.0.0.1:{cluster.plan.door_port}"
        headers = {"authorization": f"Bearer {token}", CLIENT_HEADER: "us"}
        limits = httpx.Limits(max_connections=CLIENTS * 2)
        async with httpx.AsyncClient(
            base_url=door, headers=headers, timeout=30, limits=limits
        ) as client:
            paths = []
            for n in range(ASSETS):
                answer = await client.post(
                    "/v1/assets",
                    content=distinct_jpeg(source, n),
                    headers={"content-type": "image/jpeg", "write-concern": "all"},
                )
                assert answer.status_code == 201, answer.text
                default = str(answer.json()["urls"]["default"])
                paths.append("/" + default.split("/", 3)[3])
            for path in paths:
                assert (await client.get(path)).status_code == 200
            stop = asyncio.Event()

            async def reader(offset: int) -> None:
                n = offset
                while not stop.is_set():
                    phase = phases.phase
                    began = time.monotonic()
                    try:
                        answer = await client.get(paths[n % len(paths)])
                        status, region = (
                            answer.status_code,
                            answer.headers.get("imgfleet-region", "?"),
                        )
                    except httpx.HTTPError:
                        status, region = 0, "-"
                    phases.record(phase, time.monotonic() - began, status, region)
                    n += 1

            readers = [asyncio.create_task(reader(k)) for k in range(CLIENTS)]
            await asyncio.sleep(args.seconds)
            phases.phase = "during"
            killed = time.monotonic()
            cluster.kill("us", nats=True)
            while not cluster.door_view()["us"]["us"].startswith("DOWN"):
                assert time.monotonic() - killed < 60, "the door never marked us down"
                await asyncio.sleep(0.01)
            detected = time.monotonic() - killed
            await asyncio.sleep(1.0)
            phases.phase = "after"
            await asyncio.sleep(args.seconds)
            stop.set()
            await asyncio.gather(*readers)
    finally:
        await cluster.stop()

    def row(phase: str) -> str:
        values = sorted(phases.latencies[phase])
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        served = ", ".join(f"{r} {c}" for r, c in sorted(phases.served_by[phase].items()))
        return (
            f"| {phase} | {len(values)} | {phases.failed[phase]} | {cuts[49] * 1000:.1f} | "
            f"{cuts[98] * 1000:.1f} | {values[-1] * 1000:.1f} | {served} |"
        )

    failed = sum(phases.failed.values())
    lines = [
        f"# Failover run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "```",
        "python -m bench.failover " + " ".join(sys.argv[1:]),
        "```",
        "",
        f"- imgfleet at {revision.commit()}; 3 regions on one machine ({os.cpu_count()} cores),"
        f" {args.rtt * 1000:g} ms RTT between regions, embedded backends, render threads; "
        "HAProxy in front (checks every 0.5 s, down after 2)",
        f"- {CLIENTS} clients of `us`, each GETting as fast as answers come, through the "
        f"door: the default renditions of {ASSETS} ~2 MP originals (cache hits once warm)",
        f"- {args.seconds:g} s before, then every process of `us` SIGKILLed; during = until "
        f"the door marked it down, plus 1 s; then {args.seconds:g} s after",
        "",
        f"failover detection: {detected:.2f} s (target ≤ {DETECTION:g} s: "
        f"{verdict(detected <= DETECTION)}); failed GETs: {failed} (target 0: "
        f"{verdict(failed == 0)})",
        "",
        "| phase | GETs | failed | p50 ms | p99 ms | max ms | served by |",
        "|---|---|---|---|---|---|---|",
        *(row(phase) for phase in ("before", "during", "after")),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--rtt", type=float, default=0.08, help="seconds (0.08)")
    parser.add_argument("--seconds", type=float, default=10.0, help="before and after (10)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = asyncio.run(run(args))
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
