"""Freed memory: how much of a big render's memory a process keeps, with and without a trim.

Big renders one after another in one fresh process (`memory_probe`), then idle, then small
renders, reading VmRSS after each step: how much of the big renders' memory stays with the
process, with and without `release_freed_memory` (glibc's `malloc_trim(0)`) after each
render, and what a trim costs: its own time, after a big render and after a small one, and
small renders' time with one after each (the pages it gives back are faulted in again).
Each setup in turn: a render process (renders in its main thread, glibc's malloc set as
`ProcessWorkers` sets it), and a server rendering in two threads that take turns, one
render at a time, with glibc as it comes and as the render processes set it. Run by
`python -m bench.memory` (its `--no-grid` runs this alone).
"""

from __future__ import annotations

import gc
import itertools
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection

from bench.memory_probe import (
    MB,
    WORKER_MALLOPT,
    Job,
    in_fresh_process,
    make_engine,
    render,
    reset_high_water,
    set_mallopt,
    status_kb,
)
from imgfleet.imaging import configure_vips, release_freed_memory


@dataclass(frozen=True, slots=True)
class FreedJob:
    label: str
    big: Job  # rendered `rounds` times in a row
    small: Job  # then rendered `small_rounds` times, timed
    rounds: int
    small_rounds: int
    idle: float  # seconds of idling after the big renders
    trim: bool  # release_freed_memory() after every render
    worker_mallopt: bool  # glibc as the render processes set it, else glibc's defaults
    render_threads: int  # 0: in the main thread, as a render process; else threads taking
    # turns, one render at a time, as a server rendering in threads under light load


@dataclass(frozen=True, slots=True)
class Freed:
    label: str
    baseline_mb: float
    after_render_mb: list[float]  # RSS growth over the baseline after each big render
    after_trim_mb: list[float]  # and after the trim that followed it
    trim_ms: list[float]
    peak_mb: float
    idle_mb: float
    small_render_ms: float  # median wall time of a small render, its trim included
    small_cpu_ms: float
    small_trim_ms: float  # median time of a trim after a small render
    after_small_mb: float


def _freed(job: FreedJob, conn: Connection) -> None:
    if job.worker_mallopt:
        set_mallopt(WORKER_MALLOPT)
    configure_vips(job.big.concurrency)
    engine = make_engine()
    pools = [ThreadPoolExecutor(1) for _ in range(job.render_threads)]
    turns = itertools.count()

    def in_turn(data: bytes, of: Job) -> None:
        """Render in the next thread (or in this one)."""
        if not pools:
            render(engine, data, of.options, of.quality)
        else:
            pool = pools[next(turns) % len(pools)]
            pool.submit(render, engine, data, of.options, of.quality).result()

    def trim() -> float | None:
        """release_freed_memory() if the job trims: how long it took, in ms."""
        if not job.trim:
            return None
        started = time.perf_counter()
        release_freed_memory()
        return (time.perf_counter() - started) * 1000

    small, big = job.small.path.read_bytes(), job.big.path.read_bytes()
    for _ in range(max(len(pools), 1)):  # every thread warm
        in_turn(small, job.small)
        in_turn(job.big.warm_path.read_bytes(), job.big)
    gc.collect()
    reset_high_water()
    baseline = status_kb("VmRSS")

    def growth() -> float:
        return round((status_kb("VmRSS") - baseline) * 1024 / MB, 1)

    after_render, after_trim, trim_ms = [], [], []
    for _ in range(job.rounds):
        in_turn(big, job.big)
        after_render.append(growth())
        trimmed = trim()
        if trimmed is not None:
            trim_ms.append(round(trimmed, 2))
            after_trim.append(growth())
    peak = round((status_kb("VmHWM") - baseline) * 1024 / MB, 1)
    time.sleep(job.idle)  # idling is what is measured here, not a wait for something
    idle = growth()
    walls, cpus, trims = [], [], []
    for _ in range(job.small_rounds):
        started, cpu = time.perf_counter(), time.process_time()
        in_turn(small, job.small)
        trimmed = trim()
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        if trimmed is not None:
            trims.append(trimmed)
    conn.send(
        Freed(
            label=job.label,
            baseline_mb=round(baseline * 1024 / MB, 1),
            after_render_mb=after_render,
            after_trim_mb=after_trim,
            trim_ms=trim_ms,
            peak_mb=peak,
            idle_mb=idle,
            small_render_ms=round(statistics.median(walls), 2),
            small_cpu_ms=round(statistics.median(cpus), 2),
            small_trim_ms=round(statistics.median(trims), 3) if trims else 0.0,
            after_small_mb=growth(),
        )
    )


FREED_SETUPS = (  # (render threads, worker mallopt)
    (0, True),  # a render process
    (2, False),  # a server rendering in two threads, glibc as it comes
    (2, True),
)


def freed(big: Job, small: Job, rounds: int, small_rounds: int, idle: float) -> list[Freed]:
    """Each setup with and without a trim after each render, each in a fresh process."""
    results = []
    for render_threads, worker_mallopt in FREED_SETUPS:
        where = f"{render_threads} render threads" if render_threads else "render process"
        malloc = "worker mallopt" if worker_mallopt else "glibc defaults"
        for trim in (False, True):
            label = f"{where}, {malloc}, {'trim after each' if trim else 'no trim'}"
            print(f"freed: {label}", file=sys.stderr)
            job = FreedJob(
                label, big, small, rounds, small_rounds, idle, trim, worker_mallopt, render_threads
            )
            results.append(in_fresh_process(_freed, job))
    return results


def freed_table(rows: Sequence[Freed]) -> list[str]:
    """Resident memory over the baseline (the process after its warm-up renders)."""
    lines = [
        "| setup | baseline MB | held after each big render, MB | after its trim, MB "
        "| trim ms | peak MB | held after idling, MB | small render ms (CPU ms) "
        "| trim after a small render ms | held after the small renders, MB |",
        "|---|---:|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:

        def listed(values: Sequence[float]) -> str:
            return ", ".join(f"{v:g}" for v in values) or "-"

        lines.append(
            f"| {r.label} | {r.baseline_mb:.0f} | {listed(r.after_render_mb)} "
            f"| {listed(r.after_trim_mb)} | {listed(r.trim_ms)} | {r.peak_mb:.0f} "
            f"| {r.idle_mb:.0f} | {r.small_render_ms:.1f} ({r.small_cpu_ms:.1f}) "
            f"| {r.small_trim_ms:g} | {r.after_small_mb:g} |"
        )
    return lines
