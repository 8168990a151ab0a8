"""A side loop of single requests beside a load run, timed one by one, and when its
latencies are back to a baseline after the load (recovery)."""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from bench.server import HOST, get

KINDS = ("hit", "hit-ka", "miss")
LABELS = {
    "hit": "cache hit, new connection",
    "hit-ka": "cache hit, keep-alive",
    "miss": "fresh miss (M), new connection",
}
TIMEOUT = 15.0  # seconds one probe request may take


@dataclass(frozen=True, slots=True)
class Sample:
    kind: str  # one of KINDS
    status: int  # 0: no answer (refused, reset or timed out)
    ms: float
    at: float  # time.monotonic() when it was sent


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The q-quantile of `values` (not empty) by nearest rank, as the probe tables show it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass(frozen=True, slots=True)
class RecoveryRule:
    """When a kind of probe counts as recovered after a load: the first `window` probes in a
    row that all answered 200 within max(factor x baseline p50, baseline p50 + slack_ms)."""

    window: int = 10
    factor: float = 1.5
    slack_ms: float = 1.0

    def limit_ms(self, baseline_p50_ms: float) -> float:
        return max(self.factor * baseline_p50_ms, baseline_p50_ms + self.slack_ms)

    def describe(self, interval: float) -> str:
        return (
            f"recovered = seconds from the end of the load to the first of {self.window} "
            f"probes in a row (~{self.window * interval:g} s) that all answered 200 within "
            f"max({self.factor:g} x the pre-load p50, pre-load p50 + {self.slack_ms:g} ms) "
            "of their kind"
        )

    def recovered_at(
        self, samples: Sequence[Sample], baseline_p50_ms: float, since: float
    ) -> float | None:
        """Seconds from `since` to the first probe of the first good run of `window`
        probes among `samples` (one kind, in order); None while there is none."""
        limit, run = self.limit_ms(baseline_p50_ms), 0
        for index, sample in enumerate(samples):
            run = run + 1 if sample.status == 200 and sample.ms <= limit else 0
            if run == self.window:
                return max(0.0, samples[index - self.window + 1].at - since)
        return None


class Probe:
    """Three loops side by side, one request each per INTERVAL: the cached URL on a new
    connection, the cached URL on one kept-alive connection, and a fresh miss (the next of
    `misses`) on a new connection. A kind waiting for its answer does not hold up the others.

    Bounded in time: `until` by its timeout, `start_for` by its seconds (and `stop`).
    """

    INTERVAL = 0.1

    def __init__(self, port: int, hot: str, misses: Iterator[str]) -> None:
        self.port, self.hot, self.misses = port, hot, misses
        self.samples: list[Sample] = []  # appended by the loops' threads
        self._kept: http.client.HTTPConnection | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _keep_alive(self, path: str) -> int:
        if self._kept is None:
            self._kept = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT)
        try:
            self._kept.request("GET", path)
            response = self._kept.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            self._kept.close()
            self._kept = None
            return 0

    def _once(self, kind: str) -> None:
        at, started = time.monotonic(), time.perf_counter()
        if kind == "hit-ka":
            status = self._keep_alive(self.hot)
        else:
            path = self.hot if kind == "hit" else next(self.misses)
            try:
                status = get(self.port, path, timeout=TIMEOUT)[0]
            except (OSError, http.client.HTTPException):
                status = 0
        self.samples.append(Sample(kind, status, (time.perf_counter() - started) * 1000, at))

    def _loop(self, kind: str, delay: float, deadline: float) -> None:
        if self._stop.wait(delay):
            return
        while time.monotonic() < deadline:
            self._once(kind)
            if self._stop.wait(self.INTERVAL):
                return

    def start_for(self, seconds: float, ramp: float = 1.0) -> None:
        """Probe in threads from `ramp` seconds on (let the load ramp up) until `seconds`."""
        deadline = time.monotonic() + seconds
        self._threads = [
            threading.Thread(target=self._loop, args=(kind, ramp, deadline), daemon=True)
            for kind in KINDS
        ]
        for thread in self._threads:
            thread.start()

    def until(self, done: Callable[[], bool], timeout: float) -> None:
        """Probe until `done()` (asked every INTERVAL) or `timeout` seconds, then stop."""
        deadline = time.monotonic() + timeout
        self.start_for(timeout, ramp=0.0)
        while time.monotonic() < deadline and not done():
            time.sleep(self.INTERVAL)
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=TIMEOUT + 5)
        if self._kept is not None:
            self._kept.close()
            self._kept = None

    def of(self, kind: str) -> list[Sample]:
        """The samples of `kind`, in the order they were sent."""
        return sorted((s for s in list(self.samples) if s.kind == kind), key=lambda s: s.at)

    def counts(self, kind: str) -> Counter[int]:
        return Counter(s.status for s in self.of(kind))

    def quantile_ms(self, kind: str, q: float, status: int = 200) -> float | None:
        ms = [s.ms for s in self.of(kind) if s.status == status]
        return nearest_rank(ms, q) if ms else None

    def rows(self) -> list[str]:
        """| probe | status | count | p50 ms | p99 ms | max ms | per kind and status."""
        rows = []
        for kind in KINDS:
            for status in sorted(self.counts(kind)):
                ms = sorted(s.ms for s in self.of(kind) if s.status == status)
                rows.append(
                    f"| {LABELS[kind]} | {status or 'no answer'} | {len(ms)} | "
                    f"{statistics.median(ms):.1f} | {nearest_rank(ms, 0.99):.1f} | "
                    f"{ms[-1]:.1f} |"
                )
        return rows
