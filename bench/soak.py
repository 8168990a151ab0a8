"""The soak (issue 3, item 7): imgfleet rendering distinct L URLs at c = 4 for 10 minutes.

The warm-up lasts until the in-memory result cache has filled up to its bound (it holds
distinct renditions by design, so its filling is not drift); then wrk runs in back-to-back
segments; between segments the process tree's RSS and the server's result-cache bytes
(`imgfleet_result_cache_bytes` on /metrics) are read, and a sampler keeps the peak.
Drift = (end - start) / start of the RSS, also given without the cache's bytes.

    .venv/bin/python -m bench.compare --soak                  # 10 minutes
    .venv/bin/python -m bench.compare --soak --soak-seconds 120

Writes bench/results/latest-soak.md and .json, replacing the previous soak's; the next full
run's results and docs quote them (`report.soak_facts`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.compare import FULL, machine
from bench.corpus import CORPUS_DIR, generate
from bench.measure import MB, Bench, effort, port_of, progress
from bench.peers.imgfleet import Imgfleet
from bench.records import Rep, summarise
from bench.report import RESULTS_DIR, SOAK_NAME
from bench.rss import RssSampler, tree_rss_bytes
from bench.server import get
from bench.workloads import by_name

WORKLOAD = "fit512-jpeg-l"
CONCURRENCY = 4
WARMUP_S = 15.0  # one warm-up segment; repeated while the result cache still grows
WARMUP_MAX_S = 120.0
FILLED = 0.02  # the cache grew less than this share over a warm-up segment: it is full
SEGMENT_S = 30.0


@dataclass(frozen=True, slots=True)
class Point:
    at_s: float  # since the end of the warm-up
    rss_mb: float
    cache_mb: float | None  # the result cache's bytes, from /metrics
    rate: float  # of the segment that ended here (0 for the first point)


@dataclass(frozen=True, slots=True)
class Soak:
    workload: str
    concurrency: int
    seconds: float
    requests: int
    errors: int
    rate: float  # median over segments
    p99_ms: float  # median over segments
    cpu_ms: float  # median over segments
    rss_start_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    drift_pct: float
    drift_without_cache_pct: float | None
    points: tuple[Point, ...]
    warmup_s: float = WARMUP_S


def drift(start: float, end: float) -> float:
    return round((end - start) / start * 100, 1) if start else 0.0


def filled(before_mb: float | None, after_mb: float | None) -> bool:
    """Whether the result cache stopped growing over a warm-up segment (or has no gauge)."""
    if before_mb is None or after_mb is None:
        return True
    return after_mb - before_mb < FILLED * max(after_mb, 1.0)


def drifts(points: Sequence[Point]) -> dict[str, float | None]:
    """The drift figures of `Soak`: end vs start, with and without the cache's bytes."""
    first, last = points[0], points[-1]
    without = None
    if first.cache_mb is not None and last.cache_mb is not None:
        without = drift(first.rss_mb - first.cache_mb, last.rss_mb - last.cache_mb)
    return {
        "drift_pct": drift(first.rss_mb, last.rss_mb),
        "drift_without_cache_pct": without,
    }


def soak_of(
    points: list[Point], reps: list[Rep], peak_mb: float, seconds: float, warmup_s: float
) -> Soak:
    """The summary of a soak from its points (first = after the warm-up) and segments."""
    s = summarise(reps)
    return Soak(
        workload=WORKLOAD,
        concurrency=CONCURRENCY,
        seconds=seconds,
        requests=sum(r.requests for r in reps),
        errors=s.errors,
        rate=s.rate,
        p99_ms=s.p99_ms,
        cpu_ms=s.cpu_ms,
        rss_start_mb=points[0].rss_mb,
        rss_end_mb=points[-1].rss_mb,
        rss_peak_mb=max(peak_mb, *(p.rss_mb for p in points)),
        points=tuple(points),
        warmup_s=warmup_s,
        **drifts(points),  # type: ignore[arg-type]
    )


def cache_mb(port: int) -> float | None:
    for line in get(port, "/metrics")[2].decode().splitlines():
        if line.startswith("imgfleet_result_cache_bytes "):
            return float(line.split()[1]) / MB
    return None


def run_soak(seconds: float) -> tuple[Soak, list[str]]:
    workload = by_name([WORKLOAD])[0]
    corpus = generate([workload.size], formats=[workload.source_format], edge=None)
    inputs = workload.inputs(corpus)
    peer = Imgfleet(webp_effort=effort("webp", 4), avif_effort=effort("avif", 2))
    bench = Bench(FULL, corpus, {peer.name: peer})  # FULL: the windows' wrk settings
    peer.start(CORPUS_DIR, 1)
    try:
        with RssSampler(peer.pid, interval=0.5) as rss:
            warming, cache = time.monotonic(), cache_mb(port_of(peer))
            while True:
                warm = bench.paths(peer, workload, inputs, bench.count(WARMUP_S, CONCURRENCY))
                bench.window(peer, warm, CONCURRENCY, WARMUP_S, rss, "soak warm-up")
                before, cache = cache, cache_mb(port_of(peer))
                if filled(before, cache) or time.monotonic() - warming >= WARMUP_MAX_S:
                    break
            began, reps = time.monotonic(), []
            warmup_s = began - warming
            points = [Point(0.0, tree_rss_bytes(peer.pid) / MB, cache_mb(port_of(peer)), 0.0)]
            peak = 0.0
            while (left := seconds - (time.monotonic() - began)) > 1:
                window = min(SEGMENT_S, left)
                paths = bench.paths(peer, workload, inputs, bench.count(window, CONCURRENCY))
                rep = bench.window(peer, paths, CONCURRENCY, window, rss, "soak")
                reps.append(rep)
                peak = max(peak, rep.peak_rss_mb)
                at = time.monotonic() - began
                now = Point(at, tree_rss_bytes(peer.pid) / MB, cache_mb(port_of(peer)), rep.rate)
                points.append(now)
                progress(f"soak {at:.0f} s: {rep.rate:.1f} req/s, RSS {now.rss_mb:.0f} MB")
    finally:
        peer.stop()
    return soak_of(points, reps, peak, seconds, warmup_s), bench.window_notes() + bench.notes


def markdown(soak: Soak, command: str, started: str, notes: list[str]) -> str:
    without = soak.drift_without_cache_pct
    rows = [
        f"| {p.at_s:.0f} | {p.rss_mb:.0f} | {'-' if p.cache_mb is None else f'{p.cache_mb:.0f}'} "
        f"| {p.rate:.1f} |"
        for p in soak.points
    ]
    return "\n".join(
        [
            f"# Soak: imgfleet, {soak.workload}, c = {soak.concurrency}, {soak.seconds:.0f} s "
            f"({started[:16]} UTC)",
            "",
            "```",
            command,
            "```",
            "",
            f"- machine: {machine()}; wrk (1 thread) shares the cores with the server",
            f"- every request a distinct URL; a {soak.warmup_s:.0f} s warm-up, until the "
            f"result cache stopped growing, then {SEGMENT_S:g} s wrk segments back to back",
            "",
            "| requests | errors | req/s | p99 ms | CPU ms/req | RSS start / end / peak MB "
            "| drift | drift without the result cache |",
            "|---|---|---|---|---|---|---|---|",
            f"| {soak.requests} | {soak.errors} | {soak.rate:.1f} | {soak.p99_ms:.0f} | "
            f"{soak.cpu_ms:.1f} | {soak.rss_start_mb:.0f} / {soak.rss_end_mb:.0f} / "
            f"{soak.rss_peak_mb:.0f} | {soak.drift_pct:+.1f} % | {percent(without)} |",
            "",
            "drift: RSS at the end against RSS at the start (right after the warm-up, with the "
            "result cache full); without the result cache: the same on RSS minus the cache's "
            "bytes.",
            "",
            "| s | RSS MB | result cache MB | req/s (segment) |",
            "|---|---|---|---|",
            *rows,
            *(["", "## Notes", "", *(f"- {n}" for n in notes)] if notes else []),
            "",
        ]
    )


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f} %"


def write(soak: Soak, started: str, command: str, notes: list[str], host: str) -> Path:
    """latest-soak.md and .json in bench/results/."""
    meta = {"started": started, "host": host, "command": command, "notes": notes}
    markdown_path = RESULTS_DIR / f"{SOAK_NAME}.md"
    markdown_path.write_text(markdown(soak, command, started, notes))
    (RESULTS_DIR / f"{SOAK_NAME}.json").write_text(json.dumps(meta | asdict(soak), indent=1) + "\n")
    return markdown_path


def from_json(data: dict[str, Any]) -> Soak:
    """A soak from its JSON file; the drift figures are computed again from the points."""
    fields = {name: data[name] for name in Soak.__dataclass_fields__ if name in data}
    points = tuple(Point(**p) for p in data["points"])
    return Soak(**(fields | {"points": points} | drifts(points)))


def main(seconds: float, command: str, *, write_files: bool = True) -> None:
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    progress(f"soak: {seconds / 60:.1f} min after a warm-up of {WARMUP_S:g}..{WARMUP_MAX_S:g} s")
    soak, notes = run_soak(seconds)
    print(markdown(soak, command, started, notes))
    if write_files:
        written = write(soak, started, command, notes, socket.gethostname())
        progress(f"wrote {written} and its .json")


def redraw(argv: Sequence[str] | None = None) -> None:
    """`python -m bench.soak <json>`: latest-soak.md and .json again, from a soak's JSON."""
    parser = argparse.ArgumentParser(description=redraw.__doc__)
    parser.add_argument("json_file", type=Path)
    args = parser.parse_args(argv)
    data = json.loads(args.json_file.read_text())
    soak = from_json(data)
    written = write(soak, data["started"], data["command"], data.get("notes", []), data["host"])
    print(f"wrote {written}")


if __name__ == "__main__":
    redraw()
