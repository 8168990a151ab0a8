"""The overload scenarios of bench.load (issue 18): distinct-URL misses at many times the
rate the server sustains, from paced clients or from a flood that resends at once after a
503, with probes before, during and after, and the server's own accounting of the window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.probe import KINDS, LABELS, Probe, RecoveryRule
from bench.prometheus import Histogram, histogram, milliseconds, scrape, total
from bench.rss import RssSampler, cpu_seconds, tree_cpu_seconds, tree_rss_bytes
from bench.server import Server
from bench.wrk import WrkResult, run_wrk

DURATIONS = "imgfleet_request_duration_seconds"  # by route and status
REQUESTS = "imgfleet_requests_total"
RENDERS = "imgfleet_render_duration_seconds_count"  # renders the server finished
REFUSED = {"route": "image", "status": "503"}
BASELINE_SECONDS = 3.0  # of probes before the load: the pre-load p50 of each kind
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Shape:
    """How the clients load the server."""

    name: str  # "paced" or "flood"
    connections: int
    pause_ms: int  # before each request of a connection; 0 resends at once
    seconds: float

    @property
    def nominal_rate(self) -> float | None:
        """Requests/s the clients would send if every answer were instant (paced only)."""
        return self.connections * 1000 / self.pause_ms if self.pause_ms > 0 else None

    def describe(self) -> str:
        clients = (
            f"{self.connections} connections, each pausing {self.pause_ms} ms before every request"
            if self.pause_ms > 0
            else f"{self.connections} connections, each resending at once (after a 503 too)"
        )
        return f"distinct-URL misses (M), {clients}, {self.seconds:g} s"


@dataclass(frozen=True, slots=True)
class RenderCost:
    """What `renders` measured for M at c = cores: the sustainable rate and CPU per render."""

    rate: float  # renders/s
    cpu_ms: float  # server CPU ms per render


@dataclass(frozen=True, slots=True)
class Window:
    """The server's own accounting from just before the load to the end of the recovery
    probes: its process tree's CPU, and the deltas of its /metrics."""

    seconds: float
    cpu_seconds: float
    process_cpu_seconds: float  # the server process alone, its render workers left out
    renders: float  # renders it finished (the probes' fresh misses too)
    refusals: float  # 503s it sent on the image route
    refused: Histogram | None  # their durations; None if the server has no status label

    def cpu_ms_per_refusal(self, cost: RenderCost | None) -> float | None:
        """(CPU - renders x CPU per render) / refusals: an estimate, which takes a render
        under overload to cost what it did at c = cores, and counts the probes' cache hits
        as refusals' CPU."""
        if cost is None or self.refusals <= 0:
            return None
        return (self.cpu_seconds * 1000 - self.renders * cost.cpu_ms) / self.refusals

    def process_cpu_ms_per_refusal(self) -> float | None:
        """The server process's CPU (every request it answered, the workers fed) per refusal:
        a bound from above, with render processes, where the estimate drowns in noise."""
        if self.refusals <= 0:
            return None
        return self.process_cpu_seconds * 1000 / self.refusals


@dataclass(frozen=True, slots=True)
class Outcome:
    shape: Shape
    wrk: WrkResult
    window: Window
    baseline: Probe  # before the load
    during: Probe
    after: Probe  # from the end of the load until recovered or the timeout
    recovered: dict[str, float | None]  # seconds per probe kind; None: not in the timeout
    recovery_timeout: float
    rss_mb: tuple[float, float, float]  # start, peak, end (after the recovery probes)


def measure(
    shape: Shape,
    *,
    server: Server,
    rss: RssSampler,
    paths_file: Path,
    probe: Callable[[], Probe],
    rule: RecoveryRule,
    recovery_timeout: float,
    wrk_threads: int,
) -> Outcome:
    """Baseline probes, then the load with probes beside it, then probes until every kind
    has recovered by `rule` (or `recovery_timeout`); the server is read around it all."""
    baseline = probe()
    baseline.until(lambda: False, BASELINE_SECONDS)
    p50 = {kind: baseline.quantile_ms(kind, 0.5) for kind in KINDS}
    before, cpu = scrape(server.port), tree_cpu_seconds(server.pid)
    process_cpu = cpu_seconds(server.pid)
    began, start_rss = time.monotonic(), rss.reset()
    during = probe()
    during.start_for(shape.seconds)
    try:
        result = run_wrk(
            server.base_url,
            paths_file,
            connections=shape.connections,
            seconds=shape.seconds,
            threads=wrk_threads,
            pause_ms=shape.pause_ms,
        )
        ended = time.monotonic()
    finally:
        during.stop()
    after = probe()
    recovered: dict[str, float | None] = dict.fromkeys(KINDS)

    def all_recovered() -> bool:
        for kind in KINDS:
            base = p50[kind]
            if recovered[kind] is None and base is not None:
                recovered[kind] = rule.recovered_at(after.of(kind), base, ended)
        return all(value is not None for value in recovered.values())

    after.until(all_recovered, recovery_timeout)
    cpu = tree_cpu_seconds(server.pid) - cpu
    process_cpu = cpu_seconds(server.pid) - process_cpu
    end_rss, seconds = tree_rss_bytes(server.pid), time.monotonic() - began
    text = scrape(server.port)
    refused_now, refused_then = (
        histogram(text, DURATIONS, REFUSED),
        histogram(before, DURATIONS, REFUSED),
    )
    window = Window(
        seconds=seconds,
        cpu_seconds=cpu,
        process_cpu_seconds=process_cpu,
        renders=total(text, RENDERS) - total(before, RENDERS),
        refusals=total(text, REQUESTS, REFUSED) - total(before, REQUESTS, REFUSED),
        refused=refused_now.minus(refused_then)
        if refused_now is not None and refused_then is not None
        else None,
    )
    return Outcome(
        shape=shape,
        wrk=result,
        window=window,
        baseline=baseline,
        during=during,
        after=after,
        recovered=recovered,
        recovery_timeout=recovery_timeout,
        rss_mb=(start_rss / MB, rss.peak / MB, end_rss / MB),
    )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def load_rows(outcome: Outcome, cost: RenderCost | None) -> list[str]:
    """The clients' view: offered rate, responses by status, goodput and its share."""
    r, shape = outcome.wrk, outcome.shape
    ok, refused = r.statuses.get(200, 0), r.statuses.get(503, 0)
    other = r.requests - ok - refused + r.socket_errors
    offered = f"{r.rate:.0f}"
    if shape.nominal_rate is not None:
        offered += f" (at most {shape.nominal_rate:.0f})"
    goodput = ok / r.seconds if r.seconds else 0.0
    share = f"{goodput / cost.rate:.0%} of {cost.rate:.1f}" if cost and cost.rate else "n/a"
    return [
        "| offered req/s | responses | 200 | 503 (with Retry-After) | other + errors | "
        "goodput 200/s | share of the `renders` M rate | p50 / p99 ms (wrk, all) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {offered} | {r.requests} | {ok} | {refused} ({r.retry_after}) | {other} | "
        f"{goodput:.1f} | {share} | {r.p50_ms:.1f} / {r.p99_ms:.1f} |",
    ]


def server_rows(outcome: Outcome, cost: RenderCost | None) -> list[str]:
    """The server's view of the window: 503 latency inside it, CPU per refusal, RSS."""
    w = outcome.window
    if w.refused is None:
        p50 = p99 = "n/a (no status label)"
    else:
        p50 = milliseconds(w.refused.quantile(0.5), w.refused.top)
        p99 = milliseconds(w.refused.quantile(0.99), w.refused.top)
    per_refusal = w.cpu_ms_per_refusal(cost)
    estimate = "n/a" if per_refusal is None else f"{per_refusal:.2f}"
    bound = w.process_cpu_ms_per_refusal()
    process = "n/a" if bound is None else f"{bound:.2f}"
    start, peak, end = outcome.rss_mb
    return [
        "| 503 p50 / p99 ms (inside) | 503s sent | renders done | window s | server CPU s | "
        "CPU ms per 503 (est.) | server process CPU ms per 503 (at most) | "
        "RSS start / peak / end MB |",
        "|---|---|---|---|---|---|---|---|",
        f"| {p50} / {p99} | {w.refusals:.0f} | {w.renders:.0f} | {w.seconds:.1f} | "
        f"{w.cpu_seconds:.1f} | {estimate} | {process} | {start:.0f} / {peak:.0f} / {end:.0f} |",
    ]


def probe_rows(outcome: Outcome) -> list[str]:
    """Per probe kind: pre-load p50, p99 during the load (200s), refusals, recovery."""
    rows = [
        "| probe | pre-load p50 ms | during: p99 ms of 200s | during: not 200 | "
        "recovered after s |",
        "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        seconds = outcome.recovered.get(kind)
        recovered = (
            f"> {outcome.recovery_timeout:g} (not recovered)"
            if seconds is None
            else f"{seconds:.1f}"
        )
        not_ok = sum(n for status, n in outcome.during.counts(kind).items() if status != 200)
        rows.append(
            f"| {LABELS[kind]} | {_ms(outcome.baseline.quantile_ms(kind, 0.5))} | "
            f"{_ms(outcome.during.quantile_ms(kind, 0.99))} | {not_ok} | {recovered} |"
        )
    return rows


def section(outcome: Outcome, cost: RenderCost | None, rule: RecoveryRule) -> str:
    shape = outcome.shape
    return "\n".join(
        [
            f"### {shape.name}: {shape.describe()}",
            "",
            *load_rows(outcome, cost),
            "",
            "Inside the server, from the start of the load to the end of the recovery probes "
            "(its /metrics and its process tree's CPU):",
            "",
            *server_rows(outcome, cost),
            "",
            f"Probes, each kind in its own loop, one request every {Probe.INTERVAL:g} s "
            f"after the last answer: {BASELINE_SECONDS:g} s before the load, from 1 s into "
            "it to its end, and after it until every kind recovered "
            f"(at most {outcome.recovery_timeout:g} s); {rule.describe(Probe.INTERVAL)}:",
            "",
            *probe_rows(outcome),
            "",
            "During the load, by status:",
            "",
            "| probe | status | count | p50 ms | p99 ms | max ms |",
            "|---|---|---|---|---|---|",
            *outcome.during.rows(),
        ]
    )


def notes(outcome: Outcome, cost: RenderCost | None) -> list[str]:
    """What a reader of the tables should know of this run."""
    found = []
    name, r = outcome.shape.name, outcome.wrk
    n503 = r.statuses.get(503, 0)
    if n503 != r.retry_after:
        found.append(f"{name}: {n503 - r.retry_after} of {n503} 503s lack Retry-After")
    hits = outcome.during.counts("hit") + outcome.during.counts("hit-ka")
    not_ok = {status: n for status, n in sorted(hits.items()) if status != 200}
    if not_ok:
        found.append(f"{name}: the cache-hit probes answered {not_ok} during the load")
    if cost is not None and outcome.window.refusals > 0:
        found.append(
            f"{name}: CPU per 503 = (server CPU {outcome.window.cpu_seconds:.1f} s - "
            f"{outcome.window.renders:.0f} renders x {cost.cpu_ms:.1f} ms, the CPU per M "
            f"render in `renders`) / {outcome.window.refusals:.0f} 503s; the probes' "
            "cache hits count as refusals' CPU"
        )
    return found
