"""The memory and deadline scenarios of bench.load (issue 18 item 6): the largest renders
the default limits allow, for the memory they take and the time they may run."""

from __future__ import annotations

import http.client
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.corpus import Size
from bench.probe import Probe
from bench.rss import RssSampler, tree_cpu_seconds, tree_rss_bytes
from bench.server import Server, get

ENLARGE = "rs:fit:8192:8192:1"  # limits.max_result_dimension (8192), enlarging
# 8640 x 5760 = 49.8 MP: just under limits.max_src_megapixels (50), 3:2 like a camera's.
HUGE = Size("MAX", 8640, 5760)
AFTER_SECONDS = 5.0  # RSS (memory) and CPU (deadline) read this long after the last answer
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    status: int  # 0: no answer within the timeout, or the connection failed
    seconds: float


def answer_timeout(render_timeout: float) -> float:
    """How long a client waits for one of these renders: far past the server's render
    timeout, so that an answer that comes late is seen, and when."""
    return max(120.0, 10 * render_timeout)


def fetch(port: int, path: str, timeout: float) -> Answer:
    started = time.perf_counter()
    try:
        status = get(port, path, timeout=timeout)[0]
    except (OSError, http.client.HTTPException):
        status = 0
    return Answer(status, time.perf_counter() - started)


def burst(port: int, paths: Sequence[str], concurrency: int, timeout: float) -> list[Answer]:
    """Every path once, `concurrency` at a time, each on a new connection."""
    with ThreadPoolExecutor(concurrency, thread_name_prefix="burst") as pool:
        return list(pool.map(lambda path: fetch(port, path, timeout), paths))


def statuses(answers: Sequence[Answer]) -> str:
    counts = Counter(a.status for a in answers)
    return ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(counts.items()))


def seconds_row(answers: Sequence[Answer]) -> str:
    """ "p50 / max" seconds of the answers."""
    times = [a.seconds for a in answers]
    return f"{statistics.median(times):.1f} / {max(times):.1f}" if times else "n/a"


def budget_text(budget: int | None) -> str:
    if budget is None:
        return "not set"
    if budget == 0:
        return "0 (derived from the machine)"
    return f"{budget:,} bytes ({budget / MB:.0f} MB)"


@dataclass(frozen=True, slots=True)
class MemoryRun:
    answers: list[Answer]
    concurrency: int
    idle_rss: int  # bytes, before the burst
    peak_rss: int  # during it, sampled every 0.1 s
    after_rss: int  # AFTER_SECONDS after its last answer
    budget: int | None  # IMGFLEET_RENDER__MEMORY_BUDGET given to the server, or None


def measure_memory(
    server: Server,
    rss: RssSampler,
    paths: Sequence[str],
    *,
    concurrency: int,
    timeout: float,
    budget: int | None,
) -> MemoryRun:
    idle = rss.reset()
    answers = burst(server.port, paths, concurrency, timeout)
    peak = rss.peak
    time.sleep(AFTER_SECONDS)  # a fixed point of the measurement, not a wait for something
    return MemoryRun(answers, concurrency, idle, peak, tree_rss_bytes(server.pid), budget)


def memory_section(run: MemoryRun) -> str:
    return "\n".join(
        [
            f"### memory: {len(run.answers)} distinct `{ENLARGE}` + `.avif` renders of a "
            f"{HUGE.width}x{HUGE.height} JPEG ({HUGE.width * HUGE.height / 1e6:.1f} MP), "
            f"c = {run.concurrency}",
            "",
            "| statuses | p50 / max s | RSS idle before / peak / "
            f"{AFTER_SECONDS:g} s after MB | peak - idle MB | memory budget |",
            "|---|---|---|---|---|",
            f"| {statuses(run.answers)} | {seconds_row(run.answers)} | "
            f"{run.idle_rss / MB:.0f} / {run.peak_rss / MB:.0f} / {run.after_rss / MB:.0f} | "
            f"{(run.peak_rss - run.idle_rss) / MB:.0f} | {budget_text(run.budget)} |",
        ]
    )


@dataclass(frozen=True, slots=True)
class DeadlineRun:
    single: Answer
    answers: list[Answer]  # the series
    concurrency: int
    render_timeout: float
    cpu_after: float  # server CPU seconds in the AFTER_SECONDS after the series' last answer
    probe_rows: list[str]  # `Probe.rows()` during the series


def measure_deadline(
    server: Server,
    single: str,
    paths: Sequence[str],
    *,
    concurrency: int,
    render_timeout: float,
    probe: Probe,
) -> DeadlineRun:
    """`single` alone; then `paths`, `concurrency` at a time, with `probe` beside them;
    then the server's CPU over AFTER_SECONDS (renders still running after their answer)."""
    timeout = answer_timeout(render_timeout)
    alone = fetch(server.port, single, timeout)
    probe.start_for(timeout * len(paths), ramp=0.0)
    try:
        answers = burst(server.port, paths, concurrency, timeout)
    finally:
        probe.stop()
    cpu = tree_cpu_seconds(server.pid)
    time.sleep(AFTER_SECONDS)  # a fixed point of the measurement, not a wait for something
    cpu_after = tree_cpu_seconds(server.pid) - cpu
    return DeadlineRun(alone, answers, concurrency, render_timeout, cpu_after, probe.rows())


def deadline_section(run: DeadlineRun, source: Size) -> str:
    single = run.single
    return "\n".join(
        [
            f"### deadline: `{ENLARGE}` + `.gif` of a {source.width}x{source.height} JPEG, "
            f"render timeout {run.render_timeout:g} s",
            "",
            "| run | c | statuses | p50 / max s to the answer | "
            f"server CPU s in the {AFTER_SECONDS:g} s after |",
            "|---|---|---|---|---|",
            f"| one alone | 1 | {statuses([single])} | {single.seconds:.1f} / "
            f"{single.seconds:.1f} | |",
            f"| {len(run.answers)} in a row | {run.concurrency} | {statuses(run.answers)} | "
            f"{seconds_row(run.answers)} | {run.cpu_after:.1f} |",
            "",
            f"Probes during the {len(run.answers)} in a row:",
            "",
            "| probe | status | count | p50 ms | p99 ms | max ms |",
            "|---|---|---|---|---|---|",
            *run.probe_rows,
        ]
    )
