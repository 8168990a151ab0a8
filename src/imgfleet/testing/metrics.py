"""Delivery metrics kept as plain counts to assert on."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from imgfleet.core.options import ImageFormat


@dataclass
class RecordingMetrics:
    hits: int = 0
    misses: int = 0
    coalesced_misses: int = 0
    renders: list[tuple[ImageFormat, float]] = field(default_factory=list)
    source_failures: list[str] = field(default_factory=list)
    result_cache_size: int = 0
    region_results: list[str] = field(default_factory=list)
    warnings: int = 0  # warnings the engine logged in renders
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cache_hit(self) -> None:
        with self._lock:
            self.hits += 1

    def cache_miss(self) -> None:
        with self._lock:
            self.misses += 1

    def coalesced(self) -> None:
        with self._lock:
            self.coalesced_misses += 1

    def rendered(self, fmt: ImageFormat, seconds: float) -> None:
        with self._lock:
            self.renders.append((fmt, seconds))

    def source_failed(self, reason: str) -> None:
        with self._lock:
            self.source_failures.append(reason)

    def result_cache_bytes(self, size: int) -> None:
        self.result_cache_size = size

    def region_cache(self, result: str) -> None:
        with self._lock:
            self.region_results.append(result)

    def render_warnings(self, count: int) -> None:
        with self._lock:
            self.warnings += count
