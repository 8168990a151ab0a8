"""bench/overload.py: the paced and flood report rows, CPU per refusal, the notes."""

from __future__ import annotations

import math

import pytest

from bench.overload import (
    Outcome,
    RenderCost,
    Shape,
    Window,
    load_rows,
    notes,
    probe_rows,
    section,
    server_rows,
)
from bench.probe import Probe, RecoveryRule, Sample
from bench.prometheus import Histogram
from bench.wrk import WrkResult

COST = RenderCost(rate=100.0, cpu_ms=18.0)
PACED = Shape("paced", connections=600, pause_ms=400, seconds=30)
FLOOD = Shape("flood", connections=1000, pause_ms=0, seconds=30)


def wrk(statuses: dict[int, int], retry_after: int, errors: int = 0) -> WrkResult:
    n = sum(statuses.values())
    return WrkResult(n, 30.0, 150.0, 250.0, 320.0, 900.0, statuses, retry_after, errors, False, 0)


def probe(*samples: Sample) -> Probe:
    p = Probe(0, "/hot", iter(()))
    p.samples += samples
    return p


def outcome(shape: Shape = PACED, **changes: object) -> Outcome:
    window = Window(
        seconds=40.0,
        cpu_seconds=60.0,
        process_cpu_seconds=8.0,
        renders=1000,
        refusals=40_000,
        refused=Histogram((0.001, 0.01, 0.1, math.inf), (0, 20_000, 40_000, 40_000)),
    )
    values: dict[str, object] = {
        "shape": shape,
        "wrk": wrk({200: 750, 503: 39_000, 500: 2}, retry_after=39_000, errors=3),
        "window": window,
        "baseline": probe(
            Sample("hit", 200, 1.0, 0), Sample("hit-ka", 200, 0.3, 0), Sample("miss", 200, 20, 0)
        ),
        "during": probe(
            Sample("hit", 200, 1.0, 1),
            Sample("hit", 200, 200.0, 2),
            Sample("hit-ka", 200, 5.0, 1),
            Sample("miss", 503, 2.0, 1),
            Sample("miss", 200, 300.0, 2),
        ),
        "after": probe(),
        "recovered": {"hit": 0.4, "hit-ka": 0.0, "miss": None},
        "recovery_timeout": 60.0,
        "rss_mb": (140.0, 180.5, 150.0),
    }
    values.update(changes)
    return Outcome(**values)  # type: ignore[arg-type]


def test_shapes() -> None:
    assert PACED.nominal_rate == 1500
    assert FLOOD.nominal_rate is None
    assert "600 connections, each pausing 400 ms" in PACED.describe()
    assert "resending at once (after a 503 too)" in FLOOD.describe()


def test_load_row_has_offered_rate_goodput_and_its_share() -> None:
    header, _, row = load_rows(outcome(), COST)
    assert "goodput 200/s" in header
    # 39,752 responses in 30 s; 750 200s = 25/s = 25 % of 100/s; 2 500s + 3 socket errors
    assert row == (
        "| 1325 (at most 1500) | 39752 | 750 | 39000 (39000) | 5 | 25.0 | 25% of 100.0 | "
        "150.0 / 320.0 |"
    )
    flood_row = load_rows(outcome(FLOOD), None)[2]
    assert flood_row.startswith("| 1325 | ")
    assert "| 25.0 | n/a |" in flood_row


def test_cpu_per_refusal_takes_the_renders_off_first() -> None:
    window = outcome().window
    # (60,000 ms - 1,000 x 18 ms) / 40,000 refusals
    assert window.cpu_ms_per_refusal(COST) == pytest.approx(1.05)
    assert window.cpu_ms_per_refusal(None) is None
    idle = Window(1.0, 0.1, 0.1, 0, 0, None)
    assert idle.cpu_ms_per_refusal(COST) is None
    assert idle.process_cpu_ms_per_refusal() is None


def test_server_row_has_the_refusals_latency_inside_and_the_estimate() -> None:
    row = server_rows(outcome(), COST)[2]
    # half the refusals within 10 ms: p50 = 10 ms; p99 interpolated in 10 .. 100 ms
    assert row == "| 10.0 / 98.2 | 40000 | 1000 | 40.0 | 60.0 | 1.05 | 0.20 | 140 / 180 / 150 |"
    old_server = outcome(window=Window(40.0, 60.0, 8.0, 1000, 40_000, None))
    assert server_rows(old_server, None)[2].startswith(
        "| n/a (no status label) / n/a (no status label) | 40000 | 1000 | 40.0 | 60.0 | n/a | "
        "0.20 |"
    )


def test_probe_rows_have_baseline_during_and_recovery() -> None:
    rows = probe_rows(outcome())
    assert rows[2:] == [
        "| cache hit, new connection | 1.0 | 200.0 | 0 | 0.4 |",
        "| cache hit, keep-alive | 0.3 | 5.0 | 0 | 0.0 |",
        "| fresh miss (M), new connection | 20.0 | 300.0 | 1 | > 60 (not recovered) |",
    ]


def test_notes_say_what_is_off_and_how_cpu_was_estimated() -> None:
    bad = outcome(
        wrk=wrk({200: 10, 503: 100}, retry_after=90),
        during=probe(Sample("hit", 200, 1.0, 1), Sample("hit-ka", 0, 15000.0, 2)),
    )
    found = notes(bad, COST)
    assert found[0] == "paced: 10 of 100 503s lack Retry-After"
    assert found[1] == "paced: the cache-hit probes answered {0: 1} during the load"
    assert found[2].startswith("paced: CPU per 503 = (server CPU 60.0 s - 1000 renders x 18.0 ms")
    assert notes(outcome(), None) == []


def test_section_holds_every_table_and_the_recovery_definition() -> None:
    text = section(outcome(), COST, RecoveryRule())
    assert text.startswith("### paced: distinct-URL misses (M), 600 connections")
    assert RecoveryRule().describe(Probe.INTERVAL) in text
    assert sum(line.startswith("|---|") for line in text.splitlines()) == 4
