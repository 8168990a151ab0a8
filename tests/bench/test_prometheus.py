"""bench/prometheus.py: histograms read back from /metrics text, quantiles from bucket deltas."""

from __future__ import annotations

import math

import pytest

from bench.prometheus import Histogram, histogram, milliseconds, total

INF = math.inf
TEXT = """\
# HELP imgfleet_request_duration_seconds HTTP request duration by route and status
# TYPE imgfleet_request_duration_seconds histogram
imgfleet_request_duration_seconds_bucket{le="0.001",route="image",status="503"} 10.0
imgfleet_request_duration_seconds_bucket{le="0.01",route="image",status="503"} 60.0
imgfleet_request_duration_seconds_bucket{le="+Inf",route="image",status="503"} 100.0
imgfleet_request_duration_seconds_count{route="image",status="503"} 100.0
imgfleet_request_duration_seconds_sum{route="image",status="503"} 9.0
imgfleet_request_duration_seconds_bucket{le="0.001",route="image",status="200"} 5.0
imgfleet_request_duration_seconds_bucket{le="0.01",route="image",status="200"} 5.0
imgfleet_request_duration_seconds_bucket{le="+Inf",route="image",status="200"} 7.0
imgfleet_request_duration_seconds_count{route="image",status="200"} 7.0
imgfleet_request_duration_seconds_sum{route="image",status="200"} 3.0
# HELP imgfleet_requests_total HTTP requests by route and status
# TYPE imgfleet_requests_total counter
imgfleet_requests_total{route="image",status="200"} 7.0
imgfleet_requests_total{route="image",status="503"} 100.0
imgfleet_requests_total{route="ready",status="200"} 3.0
"""


def test_quantiles_interpolate_linearly_inside_the_bucket_holding_them() -> None:
    h = Histogram((0.001, 0.01, 0.1, INF), (0, 50, 100, 100))
    assert h.quantile(0.5) == pytest.approx(0.01)  # the top of the bucket holding rank 50
    assert h.quantile(0.25) == pytest.approx(0.001 + 0.009 * 25 / 50)
    assert h.quantile(0.99) == pytest.approx(0.01 + 0.09 * 49 / 50)
    assert h.quantile(1.0) == pytest.approx(0.1)


def test_the_first_bucket_starts_at_zero() -> None:
    assert Histogram((0.002, INF), (4, 4)).quantile(0.5) == pytest.approx(0.001)


def test_above_the_largest_bound_is_infinite_and_printed_as_such() -> None:
    h = Histogram((0.001, 10.0, INF), (1, 2, 100))
    assert h.quantile(0.99) == INF
    assert h.top == 10.0
    assert milliseconds(h.quantile(0.99), h.top) == "> 10000"


def test_no_observations_no_quantile() -> None:
    assert Histogram((0.1, INF), (0, 0)).quantile(0.5) is None
    assert milliseconds(None, 0.1) == "n/a"
    with pytest.raises(ValueError, match="q: expected"):
        Histogram((0.1, INF), (1, 1)).quantile(0)


def test_a_window_is_the_difference_of_two_readings() -> None:
    before = Histogram((0.001, 0.01, INF), (100, 150, 160))
    after = Histogram((0.001, 0.01, INF), (100, 250, 360))
    window = after.minus(before)
    assert window.counts == (0, 100, 200)  # the 100 fast ones before are not in it
    assert window.quantile(0.25) == pytest.approx(0.001 + 0.009 * 50 / 100)
    assert window.quantile(0.5) == pytest.approx(0.01)
    assert window.quantile(0.75) == INF
    with pytest.raises(ValueError, match="bounds differ"):
        after.minus(Histogram((0.001, INF), (1, 1)))


def test_a_histogram_is_summed_over_the_series_that_match() -> None:
    refused = histogram(TEXT, "imgfleet_request_duration_seconds", {"status": "503"})
    assert refused == Histogram((0.001, 0.01, INF), (10, 60, 100))
    image = histogram(TEXT, "imgfleet_request_duration_seconds", {"route": "image"})
    assert image is not None and image.counts == (15, 65, 107)


def test_labels_the_server_has_but_no_value_yet_give_zeros() -> None:
    none_yet = histogram(TEXT, "imgfleet_request_duration_seconds", {"status": "504"})
    assert none_yet == Histogram((0.001, 0.01, INF), (0, 0, 0))
    assert none_yet.quantile(0.5) is None


def test_a_server_without_the_label_or_the_metric_gives_none() -> None:
    assert histogram(TEXT, "imgfleet_request_duration_seconds", {"code": "503"}) is None
    assert histogram(TEXT, "imgfleet_http_request_duration_seconds", {"status": "503"}) is None


def test_totals_sum_the_matching_samples() -> None:
    assert total(TEXT, "imgfleet_requests_total") == 110
    assert total(TEXT, "imgfleet_requests_total", {"route": "image", "status": "503"}) == 100
    assert total(TEXT, "imgfleet_render_duration_seconds_count") == 0


def test_milliseconds_keep_two_decimals_below_ten() -> None:
    assert milliseconds(0.00042, 10) == "0.42"
    assert milliseconds(0.1234, 10) == "123.4"
