"""The server's /metrics text read back: sums of samples, and histograms whose quantiles
are interpolated from the bucket counts of a window (the counts after less those before)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from bench.server import get


def scrape(port: int) -> str:
    """The server's /metrics text."""
    status, _, body = get(port, "/metrics", timeout=30)
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    return body.decode()


def _matches(labels: Mapping[str, str], match: Mapping[str, str]) -> bool:
    return all(labels.get(name) == value for name, value in match.items())


def total(text: str, sample: str, match: Mapping[str, str] | None = None) -> float:
    """The sum of the samples named `sample` (e.g. `imgfleet_requests_total`) whose labels
    include `match`; 0 when there are none."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample and _matches(s.labels, match or {})
    )


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cumulative counts per upper bound, ascending; the last bound is +Inf."""

    bounds: tuple[float, ...]
    counts: tuple[float, ...]

    @property
    def count(self) -> float:
        return self.counts[-1] if self.counts else 0.0

    @property
    def top(self) -> float:
        """The largest finite bound: a quantile above it is only known to be above it."""
        return max((b for b in self.bounds if math.isfinite(b)), default=0.0)

    def minus(self, earlier: Histogram) -> Histogram:
        """The observations made since `earlier`, a reading of the same series."""
        if earlier.bounds != self.bounds:
            raise ValueError(f"bucket bounds differ: {earlier.bounds} vs {self.bounds}")
        return Histogram(
            self.bounds, tuple(a - b for a, b in zip(self.counts, earlier.counts, strict=True))
        )

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0 < q <= 1), as Prometheus' histogram_quantile: linear within the
        bucket holding it, from 0 in the first bucket; +inf when it lies above the largest
        finite bound; None without observations."""
        if not 0 < q <= 1:
            raise ValueError(f"q: expected 0 < q <= 1, got {q}")
        if self.count <= 0:
            return None
        rank = q * self.count
        lower, below = 0.0, 0.0
        for bound, cumulative in zip(self.bounds, self.counts, strict=True):
            if cumulative >= rank:
                if math.isinf(bound):
                    return math.inf
                inside = cumulative - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = bound, cumulative
        return math.inf  # counts that do not reach the total: a malformed reading


def histogram(text: str, name: str, match: Mapping[str, str]) -> Histogram | None:
    """The histogram family `name` summed over its series whose labels include `match` (all
    zero when none does yet). None when the family is missing or none of its series has
    every label `match` names (an older server without them)."""
    for family in text_string_to_metric_families(text):
        if family.name != name or family.type != "histogram":
            continue
        buckets: dict[float, float] = {}
        labelled = False
        for s in family.samples:
            if s.name != f"{name}_bucket":
                continue
            labelled |= set(match) <= set(s.labels)
            bound = float(s.labels["le"])
            buckets.setdefault(bound, 0.0)
            if _matches(s.labels, match):
                buckets[bound] += s.value
        if not labelled:
            return None
        bounds = tuple(sorted(buckets))
        return Histogram(bounds, tuple(buckets[b] for b in bounds))
    return None


def milliseconds(seconds: float | None, top: float) -> str:
    """A quantile for a report: "12.3", "> 10000" above the largest bound, "n/a" without."""
    if seconds is None:
        return "n/a"
    if math.isinf(seconds):
        return f"> {top * 1000:g}"
    return f"{seconds * 1000:.1f}" if seconds >= 0.01 else f"{seconds * 1000:.2f}"
