"""A side loop of single requests beside a load run, timed one by one."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter

from bench.server import get


class Probe:
    """A side loop during the overload: the cache-hit URL and one fresh miss per tick.

    Bounded in count (one tick per INTERVAL of the run) and in time (it stops with the run).
    """

    INTERVAL = 0.1

    def __init__(self, port: int, hot: str, misses: list[str]) -> None:
        self.port, self.hot, self.misses = port, hot, misses
        self.samples: list[tuple[str, int, float]] = []  # (kind, status, ms)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_for(self, seconds: float) -> None:
        ticks = min(len(self.misses), int(seconds / self.INTERVAL))
        self._thread = threading.Thread(target=self._loop, args=(ticks,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self, ticks: int) -> None:
        if self._stop.wait(1.0):  # let wrk ramp up first
            return
        for tick in range(ticks):
            for kind, path in (("hit", self.hot), ("miss", self.misses[tick])):
                started = time.perf_counter()
                try:
                    status = get(self.port, path, timeout=15)[0]
                except OSError:
                    status = 0
                self.samples.append((kind, status, (time.perf_counter() - started) * 1000))
            if self._stop.wait(self.INTERVAL):
                return

    def counts(self, kind: str) -> Counter[int]:
        return Counter(status for k, status, _ in self.samples if k == kind)

    def rows(self) -> list[str]:
        rows = []
        labels = {"hit": "cache-hit URL", "miss": "fresh miss (M)"}
        for kind in ("hit", "miss"):
            for status in sorted(self.counts(kind)):
                ms = sorted(m for k, s, m in self.samples if k == kind and s == status)
                p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
                rows.append(
                    f"| {labels[kind]} | {status or 'error'} | {len(ms)} | "
                    f"{statistics.median(ms):.1f} | {p99:.1f} | {ms[-1]:.1f} |"
                )
        return rows
