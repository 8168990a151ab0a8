"""Request metrics kept as plain numbers must expose what prometheus_client would."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from imgfleet.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_requests_count_by_route_and_status_with_cumulative_buckets() -> None:
    m = Metrics()
    m.request_done("image", 200, 0.001, 100)  # on a bound: counted in that bucket
    m.request_done("image", 200, 0.2, 50)
    m.request_done("image", 200, 20.0, 7)  # past the last bound: only +Inf
    m.request_done("image", 503, 0.0003, 0)  # a refusal: its own series, sub-ms buckets
    m.request_done("health", 200, 0.0001, 3)
    s = samples(m)
    assert s[("imgfleet_requests_total", (("route", "image"), ("status", "200")))] == 3
    assert s[("imgfleet_requests_total", (("route", "image"), ("status", "503")))] == 1
    assert s[("imgfleet_requests_total", (("route", "health"), ("status", "200")))] == 1

    def bucket(le: str, status: str = "200") -> float:
        labels = (("le", le), ("route", "image"), ("status", status))
        return s[("imgfleet_request_duration_seconds_bucket", labels)]

    assert [bucket("0.001"), bucket("0.1"), bucket("0.25"), bucket("10.0")] == [1, 1, 2, 2]
    assert bucket("+Inf") == 3
    assert [bucket("0.00025", "503"), bucket("0.0005", "503"), bucket("+Inf", "503")] == [0, 1, 1]
    image_200 = (("route", "image"), ("status", "200"))
    assert s[("imgfleet_request_duration_seconds_count", image_200)] == 3
    assert s[("imgfleet_request_duration_seconds_sum", image_200)] == 20.201
    assert s[("imgfleet_bytes_out_total", ())] == 160


def test_connections_are_exported_as_counted() -> None:
    m = Metrics()
    m.connections.open = 3
    m.connections.refused = 7
    m.connections.header_timeouts = 2
    m.connections.oversized_headers = 1
    s = samples(m)
    assert s[("imgfleet_http_connections_open", ())] == 3
    assert s[("imgfleet_http_connections_refused_total", ())] == 7
    closed = "imgfleet_http_connections_closed_total"
    assert s[(closed, (("reason", "header_timeout"),))] == 2
    assert s[(closed, (("reason", "header_too_large"),))] == 1
