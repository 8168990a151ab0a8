"""bench/targets.py: issue 3's targets judged on a run, with the profile's figures for misses."""

from __future__ import annotations

from bench import targets
from bench.records import Ceiling, Cell
from tests.bench.test_report import a_run, cell, rep


def by_name(rows: list[targets.Target]) -> dict[str, targets.Target]:
    return {t.name: t for t in rows}


def test_leads_are_against_the_faster_peer_at_c2() -> None:
    rows = by_name(targets.targets(a_run()))
    lead = rows["M JPEG fit 512, c = 2: lead"]
    assert (lead.measured, lead.met) == ("1.20x thumbor", True)  # 120 vs thumbor-2p's 100
    assert rows["M JPEG fit 512: vs the faster raw library"].met is False  # 120 vs 200
    assert rows["L JPEG fit 512, c = 2: lead"].met is None  # not in this run


def test_a_missed_lead_says_where_the_cpu_goes() -> None:
    run = a_run(cells=(cell("imgfleet-1p", 110), cell("ipx-1p", 100)))
    profile = {"workloads": {"fit512-jpeg": {"render_ms": 20, "decode_ms": 15, "encode_ms": 2}}}
    lead = by_name(targets.targets(run, profile=profile))["M JPEG fit 512, c = 2: lead"]
    assert lead.met is False
    assert "decoding 15.0 (75 %)" in lead.limit and "other 3.0" in lead.limit
    assert "cores kept busy" in lead.limit
    noisy = {"workloads": {"fit512-jpeg": {"render_ms": 20, "decode_ms": 19, "encode_ms": 2}}}
    lead = by_name(targets.targets(run, profile=noisy))["M JPEG fit 512, c = 2: lead"]
    assert "add up to more than the whole" in lead.limit and "other" not in lead.limit


def test_a_lead_above_the_raw_libraries_is_called_out_of_reach() -> None:
    ceilings = (Ceiling("pillow", "fit512-jpeg", 2, 115.0, 40_000, 0.95),)
    run = a_run(cells=(cell("imgfleet-1p", 110), cell("ipx-1p", 100)), ceilings=ceilings)
    lead = by_name(targets.targets(run))["M JPEG fit 512, c = 2: lead"]
    assert lead.limit.startswith("out of reach here: 1.20x ipx is 120.0 req/s, above")
    reachable = a_run(cells=(cell("imgfleet-1p", 110), cell("ipx-1p", 100)))  # ceiling 200
    assert "out of reach" not in by_name(targets.targets(reachable))[lead.name].limit


def test_a_missed_lead_compares_threads_with_processes() -> None:
    run = a_run(cells=(cell("imgfleet-1p", 110), cell("ipx-1p", 100)))
    headline = {"threads_cores_busy": 1.8, "threads_renders_s": 170, "render_ms": 10}
    headline |= {"processes_cores_busy": 1.95, "processes_renders_s": 188}
    profile = {"workloads": {"fit512-jpeg": headline | {"decode_ms": 8, "encode_ms": 1}}}
    lead = by_name(targets.targets(run, profile=profile))["M JPEG fit 512, c = 2: lead"]
    assert "a render thread per core keeps 1.80 cores busy" in lead.limit
    assert "one render worker, 1.95 cores, 188 renders/s" in lead.limit


def test_a_missed_lead_says_when_the_peer_wrote_a_different_output() -> None:
    def c(server: str, rate: float, size: float, ssim: float) -> Cell:
        return Cell(server, "fit512-jpeg", 2, (rep(rate),), size, ssim)

    run = a_run(cells=(c("imgfleet-1p", 99, 25_600, 0.9545), c("ipx-1p", 100, 29_184, 0.9611)))
    lead = by_name(targets.targets(run))["M JPEG fit 512, c = 2: lead"]
    assert "imgfleet 25.0 KB at SSIM 0.9545, ipx 28.5 KB at SSIM 0.9611" in lead.limit
    same = a_run(cells=(c("imgfleet-1p", 99, 25_600, 0.9545), c("ipx-1p", 100, 25_000, 0.9546)))
    assert "outputs differ" not in by_name(targets.targets(same))[lead.name].limit


def test_hits_need_half_of_nginx_and_a_low_p99() -> None:
    slow = Cell("imgfleet-1p", "hit", 16, (rep(20_000, 6.0),))
    run = a_run(hits=(slow, Cell("nginx-2p", "hit", 16, (rep(40_000, 1.0),))))
    hit = by_name(targets.targets(run, profile={"app_us_per_hit": 9.4}))["cache hits, c = 16"]
    assert hit.met is False  # 0.50x, but p99 6 ms
    assert "9.4 CPU-µs" in hit.limit
    assert by_name(targets.targets(a_run()))["cache hits, c = 16"].met is True


def test_bytes_count_only_against_peers_at_least_as_good() -> None:
    def c(server: str, size: float, ssim: float) -> Cell:
        return Cell(server, "fit512-jpeg", 2, (rep(100),), size, ssim)

    worse_but_smaller = a_run(cells=(c("imgfleet-1p", 40_000, 0.95), c("ipx-1p", 30_000, 0.90)))
    assert by_name(targets.targets(worse_but_smaller))["bytes at equal SSIM"].met is True
    as_good_and_smaller = a_run(cells=(c("imgfleet-1p", 40_000, 0.95), c("ipx-1p", 39_000, 0.95)))
    assert by_name(targets.targets(as_good_and_smaller))["bytes at equal SSIM"].met is False


def test_markdown_lists_limits_only_for_misses() -> None:
    rows = [
        targets.Target("a", ">= 1", "2", True, "unused"),
        targets.Target("b", ">= 1", "0.5", False, "the decoder"),
    ]
    text = "\n".join(targets.markdown(rows))
    assert "| b | >= 1 | 0.5 | **no** |" in text
    assert "- b: the decoder" in text and "unused" not in text
