"""The DeliveryMetrics port: Prometheus metrics and the test kit's recorder count alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from imgfleet.core.options import ImageFormat
from imgfleet.metrics import Metrics
from imgfleet.ports import DeliveryMetrics
from imgfleet.testing import RecordingMetrics


@dataclass
class Counts:
    hits: float
    misses: float
    coalesced: float
    renders: float
    source_failures: float
    warnings: float


@dataclass
class Case:
    metrics: DeliveryMetrics
    counts: Callable[[], Counts]


def _prometheus() -> Case:
    metrics = Metrics()

    def counts() -> Counts:
        text = metrics.exposition().decode()
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

        def total(name: str) -> float:
            return sum(value for (n, _), value in samples.items() if n == name)

        return Counts(
            samples[("imgfleet_cache_requests_total", (("result", "hit"),))],
            samples[("imgfleet_cache_requests_total", (("result", "miss"),))],
            total("imgfleet_renders_coalesced_total"),
            total("imgfleet_render_duration_seconds_count"),
            total("imgfleet_source_fetch_errors_total"),
            total("imgfleet_vips_warnings_total"),
        )

    return Case(metrics, counts)


def _recording() -> Case:
    metrics = RecordingMetrics()

    def counts() -> Counts:
        return Counts(
            metrics.hits,
            metrics.misses,
            metrics.coalesced_misses,
            len(metrics.renders),
            len(metrics.source_failures),
            metrics.warnings,
        )

    return Case(metrics, counts)


@pytest.fixture(params=[_prometheus, _recording], ids=["prometheus", "recording"])
def case(request: pytest.FixtureRequest) -> Case:
    make: Callable[[], Case] = request.param
    return make()


def test_every_event_is_counted_once(case: Case) -> None:
    m = case.metrics
    for _ in range(3):
        m.cache_hit()
    m.cache_miss()
    m.cache_miss()
    m.coalesced()
    m.rendered(ImageFormat.WEBP, 0.01)
    m.rendered(ImageFormat.PNG, 0.2)
    m.source_failed("source_not_found")
    m.result_cache_bytes(1234)
    m.render_warnings(3)
    m.render_warnings(1)
    assert case.counts() == Counts(3, 2, 1, 2, 1, 4)
