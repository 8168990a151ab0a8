"""Prometheus metrics of one service instance, in a registry of its own."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created doubles scrapes
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "imgfleet_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "imgfleet_request_duration_seconds",
            "HTTP request duration by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.render_duration = Histogram(
            "imgfleet_render_duration_seconds",
            "Time rendering in a worker thread, by output format",
            ["format"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cache = Counter(
            "imgfleet_cache_requests", "Result cache lookups by outcome", ["result"], registry=r
        )
        self.coalesced = Counter(
            "imgfleet_renders_coalesced",
            "Requests served by another's render (single-flight)",
            registry=r,
        )
        self.renders_in_flight = Gauge(
            "imgfleet_renders_in_flight", "Renders running in worker threads", registry=r
        )
        self.renders_queued = Gauge(
            "imgfleet_renders_queued", "Renders waiting for a worker thread", registry=r
        )
        self.overloaded = Counter(
            "imgfleet_overloaded", "Requests refused with 503 by admission", registry=r
        )
        self.source_errors = Counter(
            "imgfleet_source_fetch_errors",
            "Source fetch failures by reason",
            ["reason"],
            registry=r,
        )
        self.bytes_out = Counter("imgfleet_bytes_out", "Response body bytes sent", registry=r)
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self.result_cache_bytes = Gauge(
            "imgfleet_result_cache_bytes", "Bytes held by the result cache", registry=r
        )

    def request_done(self, route: str, status: int, seconds: float, size: int) -> None:
        """Count one HTTP response; label children are looked up once per (route, status)."""
        children = self._children.get((route, status))
        if children is None:
            children = (
                self.requests.labels(route, str(status)),
                self.request_duration.labels(route),
            )
            self._children[(route, status)] = children
        children[0].inc()
        children[1].observe(seconds)
        self.bytes_out.inc(size)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
