"""bench/compare.py, measure.py and soak.py: plans, time estimates, parsing, drift."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from bench import compare, soak
from bench.compare import FULL, QUICK, estimate_seconds, parse_servers
from bench.measure import (
    IDLE_CORES,
    SETTLE_STEP,
    SETTLE_TIMEOUT,
    Bench,
    ServerSpec,
    ceiling_concurrency,
    effort,
    encoding_of,
    rounds,
    settle,
)
from bench.records import Rep
from bench.workloads import HEADLINE, WORKLOADS, by_name


def test_servers_parse_with_process_counts() -> None:
    assert parse_servers("imgfleet, thumbor:2,ipx:1") == (
        ServerSpec("imgfleet", 1),
        ServerSpec("thumbor", 2),
        ServerSpec("ipx", 1),
    )
    assert ServerSpec("thumbor", 2).label == "thumbor-2p"
    for bad in ("imgproxy:1", "thumbor:0", "thumbor:x", ""):
        with pytest.raises(ValueError, match="servers"):
            parse_servers(bad)


def test_the_default_full_run_is_the_issue_grid() -> None:
    assert FULL.workloads == WORKLOADS
    assert FULL.concurrency == (1, 2, 4, 8)
    assert {s.label for s in FULL.servers} == {"imgfleet-1p", "thumbor-1p", "thumbor-2p", "ipx-1p"}
    assert FULL.repetitions >= 3 and FULL.hit_concurrency == 16


def test_servers_take_turns_workload_by_workload() -> None:
    plan = compare.schedule(FULL)
    assert [w for w, _ in plan] == list(FULL.workloads)
    assert all(
        set(specs) == set(FULL.servers) and len(specs) == len(FULL.servers) for _, specs in plan
    )
    firsts = Counter(specs[0] for _, specs in plan)
    assert set(firsts) == set(FULL.servers)  # nobody is always measured first
    assert max(firsts.values()) - min(firsts.values()) <= 1


def test_windows_go_round_the_servers() -> None:
    """Each server gets every repetition, in rounds, and each round starts with the next."""
    specs = FULL.servers
    order = rounds(specs, FULL.repetitions)
    assert len(order) == FULL.repetitions
    assert all(sorted(r, key=str) == sorted(specs, key=str) for r in order)
    assert [r[0] for r in order] == [specs[i % len(specs)] for i in range(FULL.repetitions)]
    assert rounds(specs[:1], 2) == [specs[:1], specs[:1]]


def test_the_raw_libraries_take_turns_at_the_headline_concurrency() -> None:
    assert ceiling_concurrency(FULL) == ceiling_concurrency(QUICK) == 2
    assert ceiling_concurrency(replace(FULL, concurrency=(4, 8))) == 4
    members = (*QUICK.servers, *QUICK.libraries)
    assert rounds(members, 2)[1] == (*members[1:], members[0])


def test_the_time_budgets_hold() -> None:
    assert estimate_seconds(FULL) < 45 * 60
    assert estimate_seconds(QUICK) < 3 * 60
    assert HEADLINE in QUICK.workloads and 2 in QUICK.concurrency


def test_encoding_follows_the_workload() -> None:
    webp, avif, png = by_name(["fit512-webp", "fit512-avif", "fit512-png"])
    assert encoding_of(webp).webp_effort == webp.effort
    assert encoding_of(avif).avif_effort == avif.effort == effort("avif", 9)
    assert encoding_of(png).png_compression == 6


def test_overrides_replace_the_plan() -> None:
    plan, _ = compare.parse_args(
        ["--quick", "--workloads", "fit512-png", "--concurrency", "1,4", "--libraries", "none"]
    )
    assert plan.mode == "custom"  # its files do not replace the quick run's
    assert [w.name for w in plan.workloads] == ["fit512-png"]
    assert (plan.concurrency, plan.libraries) == ((1, 4), ())
    with pytest.raises(SystemExit):
        compare.parse_args(["--workloads", "nope"])


def test_soak_drift_with_and_without_the_result_cache() -> None:
    points = [soak.Point(0, 200.0, 50.0, 0.0), soak.Point(60, 300.0, 150.0, 40.0)]
    result = soak.soak_of(points, [Rep(40, 20, 30, 40, 2400, 0, 30, 310)], 310.0, 60, 45)
    assert result.drift_pct == 50.0
    assert result.drift_without_cache_pct == 0.0
    assert (result.rss_start_mb, result.rss_end_mb, result.rss_peak_mb) == (200, 300, 310)


@pytest.mark.parametrize(
    ("before", "after", "full"),
    [(30.0, 64.0, False), (63.5, 64.0, True), (64.0, 64.0, True), (None, 10.0, True)],
)
def test_the_soak_warms_up_until_the_result_cache_stops_growing(
    before: float | None, after: float, full: bool
) -> None:
    assert soak.filled(before, after) is full


def test_a_plan_unchanged_by_its_options_keeps_its_mode() -> None:
    assert compare.parse_args([])[0] == FULL
    assert compare.parse_args(["--quick", "--concurrency", "2"])[0] == QUICK
    assert compare.parse_args(["--seconds", "1"])[0].mode == "custom"


def test_the_hit_path_brings_imgfleet_and_nginx() -> None:
    plan, _ = compare.parse_args(["--servers", "ipx:1"])
    assert compare.servers_used(plan) == {"ipx", "imgfleet", "nginx"}
    plan, _ = compare.parse_args(["--servers", "ipx:1", "--hit-seconds", "0"])
    assert compare.servers_used(plan) == {"ipx"}


def test_window_notes_name_refusals_and_contention() -> None:
    bench = Bench(QUICK, [], {})
    bench.odd["imgfleet-1p fit512-jpeg c=8"] = Counter({"503": 5})
    bench.odd["ipx-1p fit512-jpeg c=2"] = Counter()
    bench.contended["thumbor-2p fit512-jpeg c=4"] = 0.5
    assert bench.window_notes() == [
        "imgfleet-1p fit512-jpeg c=8: not 200 (summed over its windows): {'503': 5}",
        "thumbor-2p fit512-jpeg c=4: other processes (or the hypervisor) took up to 0.50 "
        "cores during its windows: its figures are low",
    ]


class FakeServer:
    """A server's CPU over time on a fake clock: busy `cores` until `busy_until`."""

    def __init__(self, cores: float, busy_until: float) -> None:
        self.cores, self.busy_until, self.now = cores, busy_until, 0.0

    def cpu(self) -> float:
        return self.cores * min(self.now, self.busy_until)

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(("busy_until", "waited"), [(0.0, 0.2), (1.0, 1.2), (1.1, 1.4)])
def test_a_window_waits_for_its_server_to_finish_its_queue(
    busy_until: float, waited: float
) -> None:
    server = FakeServer(2.0, busy_until)
    found = settle(server.cpu, clock=lambda: server.now, sleep=server.sleep)
    assert found == pytest.approx(waited)


def test_a_server_busy_past_the_timeout_is_given_up_on() -> None:
    server = FakeServer(0.5, SETTLE_TIMEOUT * 2)
    assert settle(server.cpu, clock=lambda: server.now, sleep=server.sleep) is None
    assert server.now == pytest.approx(SETTLE_TIMEOUT, abs=SETTLE_STEP)


def test_a_server_below_the_idle_threshold_counts_as_idle() -> None:
    server = FakeServer(IDLE_CORES / 2, 10.0)
    assert settle(server.cpu, clock=lambda: server.now, sleep=server.sleep) == pytest.approx(0.2)
