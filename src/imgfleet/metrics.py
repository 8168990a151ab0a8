"""Prometheus metrics of one service instance, in a registry of its own.

`Metrics` is what the delivery service counts through (`ports.DeliveryMetrics`) and what the
HTTP shell counts requests and connections with and exports.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from imgfleet.core.options import ImageFormat
from imgfleet.service.pull_through import PullCounts
from imgfleet.service.replicator import PeerState

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Requests go down to 0.1 ms: a cache hit or a 503 takes well under 1 ms inside the server.
_REQUEST_BUCKETS = (0.0001, 0.00025, 0.0005, *_LATENCY_BUCKETS)
_BOUNDS = (*map(floatToGoString, _REQUEST_BUCKETS), "+Inf")


@dataclass(slots=True)
class _Durations:
    counts: list[int]  # per bucket of _REQUEST_BUCKETS, then +Inf; not cumulative
    total: float = 0.0


class RequestStats:
    """Requests by route and status, their durations by route and status, and bytes sent.

    Counted as plain numbers, turned into metric families only when scraped: every response
    updates these, and a prometheus_client child takes a lock per update (a tenth of a
    cache hit's Python time). Only the event loop's thread writes them.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.durations: dict[tuple[str, int], _Durations] = {}
        self.bytes_out = 0

    def add(self, route: str, status: int, seconds: float, size: int) -> None:
        key = (route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        durations = self.durations.get(key)
        if durations is None:
            durations = self.durations[key] = _Durations([0] * len(_BOUNDS))
        durations.counts[bisect.bisect_left(_REQUEST_BUCKETS, seconds)] += 1
        durations.total += seconds
        self.bytes_out += size

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "imgfleet_requests", "HTTP requests by route and status", labels=["route", "status"]
        )
        for (route, status), count in sorted(self.counts.items()):
            requests.add_metric([route, str(status)], count)
        yield requests
        durations = HistogramMetricFamily(
            "imgfleet_request_duration_seconds",
            "HTTP request duration by route and status",
            labels=["route", "status"],
        )
        for (route, status), d in sorted(self.durations.items()):
            cumulative = list(itertools.accumulate(d.counts))
            buckets = list(zip(_BOUNDS, cumulative, strict=True))
            durations.add_metric([route, str(status)], buckets, d.total)
        yield durations
        sent = CounterMetricFamily("imgfleet_bytes_out", "Response body bytes sent")
        sent.add_metric([], self.bytes_out)
        yield sent


class CacheStats:
    """Result-cache lookups by outcome, counted like `RequestStats` (one per request)."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    def collect(self) -> Iterator[Metric]:
        lookups = CounterMetricFamily(
            "imgfleet_cache_requests", "Result cache lookups by outcome", labels=["result"]
        )
        lookups.add_metric(["hit"], self.hits)
        lookups.add_metric(["miss"], self.misses)
        yield lookups


class ConnectionStats:
    """Client connections: open, held after a refusal, refused over the cap, and closed by the
    server for a head too slow or too large. Counted as plain numbers by the server's
    protocol (on the event loop's thread), like `RequestStats`."""

    def __init__(self) -> None:
        self.open = 0
        self.held = 0
        self.refused = 0
        self.header_timeouts = 0
        self.oversized_headers = 0

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "imgfleet_http_connections_open", "Client connections open", value=self.open
        )
        yield GaugeMetricFamily(
            "imgfleet_http_connections_held",
            "Client connections not read until their refusal's hold has passed",
            value=self.held,
        )
        refused = CounterMetricFamily(
            "imgfleet_http_connections_refused",
            "Client connections closed on accept: over the connection cap",
        )
        refused.add_metric([], self.refused)
        yield refused
        closed = CounterMetricFamily(
            "imgfleet_http_connections_closed",
            "Client connections the server closed for their request's head: not complete "
            "within the header timeout, or over the header size limit (answered 431)",
            labels=["reason"],
        )
        closed.add_metric(["header_timeout"], self.header_timeouts)
        closed.add_metric(["header_too_large"], self.oversized_headers)
        yield closed


class ReplicationStats:
    """Replication from each peer region, read from the replicators' own counts when scraped
    (`watch`); nothing before the wiring names them."""

    def __init__(self) -> None:
        self._peers: Callable[[], Iterable[tuple[str, PeerState]]] = tuple
        self._pulls: Callable[[], PullCounts] = PullCounts
        self._breakers: Callable[[], Mapping[str, str]] = dict

    def watch(
        self,
        peers: Callable[[], Iterable[tuple[str, PeerState]]],
        pulls: Callable[[], PullCounts],
        breakers: Callable[[], Mapping[str, str]],
    ) -> None:
        self._peers = peers
        self._pulls = pulls
        self._breakers = breakers

    def collect(self) -> Iterator[Metric]:
        labels = ["peer"]
        gauges = {
            "lag_seconds": "Of the last event applied from the peer: its clock to its apply",
            "lag_events": "Events of the peer's stream not yet applied here (-1: unknown)",
            "pending_bytes": "Originals of fetched events not yet applied",
            "watermark_seconds": "Clock (unix seconds) of the newest event applied",
            "connected": "1 while the peer's stream answers",
        }
        families = {
            name: GaugeMetricFamily(f"imgfleet_replication_{name}", text, labels=labels)
            for name, text in gauges.items()
        }
        events = CounterMetricFamily(
            "imgfleet_replication_events",
            "Events of the peer by outcome: applied, repeated (delivered again), held_back "
            "(handed back to come again: original not to be had, clock too far ahead)",
            labels=["peer", "outcome"],
        )
        pulled = CounterMetricFamily(
            "imgfleet_replication_pulled_bytes", "Bytes of originals pulled", labels=labels
        )
        for peer, state in self._peers():
            families["lag_seconds"].add_metric([peer], state.lag_seconds)
            pending = state.pending_events
            families["lag_events"].add_metric([peer], -1 if pending is None else pending)
            families["pending_bytes"].add_metric([peer], state.pending_bytes)
            mark = state.watermark
            families["watermark_seconds"].add_metric(
                [peer], 0 if mark is None else mark.wall / 1000
            )
            families["connected"].add_metric([peer], int(state.connected))
            for outcome in ("applied", "repeated", "held_back"):
                events.add_metric([peer, outcome], getattr(state, outcome))
            pulled.add_metric([peer], state.pulled_bytes)
        yield from families.values()
        yield events
        yield pulled
        retries = CounterMetricFamily(
            "imgfleet_replication_retries",
            "Fetches from the peer's stream that failed and were tried again after a wait",
            labels=labels,
        )
        for peer, state in self._peers():
            retries.add_metric([peer], state.retries)
        yield retries
        counts = self._pulls()
        for name, by_peer, text in (
            (
                "pull_throughs",
                counts.pulled,
                "Assets this region lacked when asked for, pulled from a peer",
            ),
            (
                "pull_through_hedged",
                counts.hedged,
                "Pull-through asks sent to the peer while a nearer one had not answered",
            ),
            (
                "pull_through_failovers",
                counts.failovers,
                "Pull-throughs the peer answered in "
                "place of the nearest (failed, slow, or lacking the asset)",
            ),
        ):
            family = CounterMetricFamily(f"imgfleet_{name}", text, labels=labels)
            for peer, count in by_peer.items():
                family.add_metric([peer], count)
            yield family
        breaker = GaugeMetricFamily(
            "imgfleet_peer_breaker",
            "The peer's circuit breaker, as of its last call: 1 for its state",
            labels=["peer", "state"],
        )
        for peer, current in self._breakers().items():
            for each in ("closed", "opened", "half-opened"):
                breaker.add_metric([peer, each], int(current == each))
        yield breaker


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created doubles scrapes
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = RequestStats()
        r.register(self.requests)
        self.connections = ConnectionStats()
        r.register(self.connections)
        self.replication = ReplicationStats()
        r.register(self.replication)
        self.render_duration = Histogram(
            "imgfleet_render_duration_seconds",
            "Time rendering in a worker thread, by output format",
            ["format"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cache = CacheStats()
        r.register(self.cache)
        self.renders_coalesced = Counter(
            "imgfleet_renders_coalesced",
            "Requests served by another's render (single-flight)",
            registry=r,
        )
        self.renders_in_flight = Gauge(
            "imgfleet_renders_in_flight", "Renders running on render workers", registry=r
        )
        self.renders_queued = Gauge(
            "imgfleet_renders_queued", "Renders waiting for a render worker", registry=r
        )
        self.render_memory = Gauge(
            "imgfleet_render_memory_bytes",
            "Estimated peak memory of the running renders, counted against the budget",
            registry=r,
        )
        self.worker_restarts = Counter(
            "imgfleet_render_worker_restarts",
            "Render processes replaced, by reason: deadline (killed past its deadline and "
            "grace) or died (exited during or between jobs)",
            ["reason"],
            registry=r,
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
        self.region_lookups = Counter(
            "imgfleet_region_cache_requests",
            "Region cache (L2) lookups by result: hit, miss or error (taken as a miss)",
            ["result"],
            registry=r,
        )
        self.vips_warnings = Counter(
            "imgfleet_vips_warnings",
            "Warnings libvips logged during renders (the log has a line per source a minute)",
            registry=r,
        )
        self.result_cache_size = Gauge(
            "imgfleet_result_cache_bytes", "Bytes held by the result cache", registry=r
        )

    def request_done(self, route: str, status: int, seconds: float, size: int) -> None:
        self.requests.add(route, status, seconds, size)

    def cache_hit(self) -> None:
        self.cache.hits += 1

    def cache_miss(self) -> None:
        self.cache.misses += 1

    def coalesced(self) -> None:
        self.renders_coalesced.inc()

    def rendered(self, fmt: ImageFormat, seconds: float) -> None:
        self.render_duration.labels(fmt.value).observe(seconds)

    def source_failed(self, reason: str) -> None:
        self.source_errors.labels(reason).inc()

    def result_cache_bytes(self, size: int) -> None:
        self.result_cache_size.set(size)

    def region_cache(self, result: str) -> None:
        self.region_lookups.labels(result).inc()

    def render_warnings(self, count: int) -> None:
        self.vips_warnings.inc(count)

    def render_load(self, running: int, queued: int, memory: int) -> None:
        """The render pool's state, set as the metrics are scraped."""
        self.renders_in_flight.set(running)
        self.renders_queued.set(queued)
        self.render_memory.set(memory)

    def worker_restarted(self, reason: str) -> None:
        self.worker_restarts.labels(reason).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
