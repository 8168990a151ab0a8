"""bench/records.py and bench/report.py: medians, best-of thumbor, headline facts, files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import records, report
from bench.records import Ceiling, Cell, Rep, Run, best_cells, family, processes, summarise
from bench.report import DOCS_BEGIN, DOCS_END


def rep(rate: float, p99: float = 30.0, *, errors: int = 0, rss: float = 100.0) -> Rep:
    return Rep(rate, p99 / 2, p99 * 0.9, p99, int(rate * 5), errors, 15.0, rss)


def cell(server: str, rate: float, c: int = 2, workload: str = "fit512-jpeg") -> Cell:
    return Cell(server, workload, c, (rep(rate), rep(rate * 0.9), rep(rate * 1.1)), 40_000, 0.95)


def a_run(**changes: object) -> Run:
    run = Run(
        mode="full",
        started="2026-11-24T01:00:00+00:00",
        host="vm",
        command=".venv/bin/python -m bench.compare",
        cores=2,
        environment={"machine": "2 cores"},
        method={"warmup": 3, "seconds": 5, "repetitions": 3, "wrk_threads": 1},
        workloads={"fit512-jpeg": "M JPEG → fit 512x512, JPEG q80", "fill": "fill"},
        cells=(
            cell("imgfleet-1p", 120),
            cell("thumbor-1p", 60),
            cell("thumbor-2p", 100),
            cell("ipx-1p", 80),
            cell("imgfleet-1p", 70, c=1),
            cell("imgfleet-1p", 50, workload="fill"),
        ),
        ceilings=(
            Ceiling("pyvips", "fit512-jpeg", 2, 150.0, 40_000, 0.95),
            Ceiling("pillow", "fit512-jpeg", 2, 200.0, 41_000, 0.951),
        ),
        hits=(
            Cell("imgfleet-1p", "hit", 16, (rep(20_000, 3.0),)),
            Cell("nginx-2p", "hit", 16, (rep(40_000, 1.0),)),
        ),
        notes=("a note",),
    )
    return Run(**{**{f: getattr(run, f) for f in run.__dataclass_fields__}, **changes})  # type: ignore[arg-type]


def test_summary_is_medians_with_errors_summed_and_rss_maxed() -> None:
    s = summarise([rep(10, 30, errors=1, rss=50), rep(30, 90, rss=80), rep(20, 60, errors=2)])
    assert (s.rate, s.p99_ms, s.errors, s.peak_rss_mb) == (20, 60, 3, 100)
    assert not s.capped
    with pytest.raises(ValueError, match="at least one"):
        summarise([])


def test_labels_carry_the_process_count() -> None:
    assert (family("thumbor-2p"), processes("thumbor-2p")) == ("thumbor", "2p")
    assert (family("ipx"), processes("ipx")) == ("ipx", "")
    assert records.server_label("nginx", 2) == "nginx-2p"


def test_thumbor_is_its_better_configuration_per_cell() -> None:
    best = best_cells(a_run().cells)
    assert best[("thumbor", "fit512-jpeg", 2)].server == "thumbor-2p"
    assert best[("imgfleet", "fit512-jpeg", 1)].summary.rate == 70


def test_facts_hold_the_headline_ratios() -> None:
    facts = report.facts(a_run(), "bench/results/x.md")
    assert facts["imgfleet_over_thumbor"] == 1.2
    assert facts["imgfleet_over_ipx"] == 1.5
    assert facts["imgfleet_over_ceiling"] == 0.6  # against the faster library
    assert facts["ceiling_library"] == "pillow"
    assert facts["hit_over_nginx"] == 0.5
    assert facts["peak_rss_mb"] == {"imgfleet": 100, "thumbor": 100, "ipx": 100}
    assert set(facts["ssim"]) == {"imgfleet", "thumbor", "ipx", "ceiling-pyvips", "ceiling-pillow"}
    assert facts["thumbor_processes"] == "2p"
    assert "same 2 cores" in facts["note"]


def test_facts_without_peers_give_none_not_an_error() -> None:
    facts = report.facts(a_run(cells=(cell("imgfleet-1p", 100),), ceilings=(), hits=()), "x")
    assert facts["imgfleet_over_thumbor"] is None
    assert facts["imgfleet_over_ceiling"] is None
    assert facts["hit_over_nginx"] is None


def test_markdown_states_the_shared_cores_and_every_workload() -> None:
    run = a_run()
    text = report.markdown(run, report.facts(run, "x"), "chart.png")
    assert "same 2 cores as the servers" in text
    assert "## M JPEG → fit 512x512, JPEG q80" in text and "## fill" in text
    assert "| thumbor (2p) | 2 | 100.0 |" in text
    assert "imgfleet / thumbor: **1.20x**" in text
    assert "![req/s and p99 per server and concurrency](chart.png)" in text
    assert "| fit512-jpeg | 2 | 60.0 | 100.0 |" in text  # both thumbor configurations


def test_json_round_trip() -> None:
    run = a_run()
    data = json.loads(json.dumps(records.to_json(run)))
    assert data["cells"][0]["summary"]["rate"] == 120
    assert records.from_json(data) == run


def test_docs_block_is_spliced_between_its_markers() -> None:
    run = a_run()
    block = report.docs_block(run, report.facts(run, "x"), "r.md")
    assert block.startswith(DOCS_BEGIN) and block.endswith(DOCS_END)
    text = f"# Performance\n\nbefore\n\n{DOCS_BEGIN}\nold\n{DOCS_END}\n\nafter\n"
    spliced = report.splice_docs(text, block)
    assert "old" not in spliced and "before" in spliced and "after" in spliced
    assert report.splice_docs(spliced, block) == spliced
    assert report.splice_docs("# Performance\n", block).endswith(block + "\n")


def test_write_makes_the_three_files_with_the_facts_in_the_json(tmp_path: Path) -> None:
    written = report.write(a_run(), "latest", directory=tmp_path)
    assert written.chart == tmp_path / "latest.png"
    assert written.chart.read_bytes().startswith(b"\x89PNG")
    assert "](latest.png)" in written.markdown.read_text()
    data = json.loads(written.json.read_text())
    assert data["facts"]["hit_over_nginx"] == 0.5
    assert data["facts"]["results"] == "bench/results/latest.md"
    assert records.from_json(data) == a_run()


def test_write_replaces_the_previous_run_of_its_name(tmp_path: Path) -> None:
    report.write(a_run(host="first"), "latest", directory=tmp_path)
    report.write(a_run(host="second"), "latest", directory=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "latest.md", "latest.png"]
    assert json.loads((tmp_path / "latest.json").read_text())["host"] == "second"


def test_each_mode_has_its_latest_files() -> None:
    assert [report.results_name(m) for m in ("full", "quick", "custom")] == [
        "latest",
        "latest-quick",
        "latest-custom",
    ]


def test_write_quotes_the_soak_and_the_profile_beside_it(tmp_path: Path) -> None:
    soak = {
        "started": "2026-12-04T06:14:58+00:00",
        "workload": "fit512-jpeg-l",
        "concurrency": 4,
        "seconds": 600.0,
        "rss_start_mb": 187.4,
        "rss_end_mb": 190.2,
        "rss_peak_mb": 190.3,
        "drift_pct": 1.6,
        "drift_without_cache_pct": 2.5,
        "points": [],
    }
    (tmp_path / "latest-soak.json").write_text(json.dumps(soak))
    profile = {"workloads": {"fit512-jpeg": {"render_ms": 20, "decode_ms": 15, "encode_ms": 2}}}
    (tmp_path / "latest-profile.json").write_text(json.dumps(profile))
    cells = (cell("imgfleet-1p", 110), cell("ipx-1p", 100))
    run = a_run(cells=cells, workloads={"fit512-jpeg": "M JPEG → fit 512x512, JPEG q80"})
    written = report.write(run, "latest", directory=tmp_path)
    assert written.facts["soak"] == {
        "results": "bench/results/latest-soak.md",
        "workload": "fit512-jpeg-l",
        "concurrency": 4,
        "seconds": 600.0,
        "drift_pct": 1.6,
        "drift_without_cache_pct": 2.5,
        "rss_start_mb": 187,
        "rss_end_mb": 190,
        "rss_peak_mb": 190,
    }
    assert "decoding 15.0 (75 %)" in written.markdown.read_text()  # the profile, cited
    block = report.docs_block(run, written.facts, written.markdown.name)
    assert "soak ([results](../bench/results/latest-soak.md))" in block
    assert "([results](../bench/results/latest.md))" in block


def test_docs_block_has_the_soak_when_latest_has_one() -> None:
    run = a_run()
    soak = {
        "results": "bench/results/s.md",
        "workload": "fit512-jpeg-l",
        "concurrency": 4,
        "seconds": 600.0,
        "rss_start_mb": 200,
        "rss_end_mb": 210,
        "rss_peak_mb": 230,
        "drift_pct": 5.0,
        "drift_without_cache_pct": None,
    }
    block = report.docs_block(run, {**report.facts(run, "x"), "soak": soak}, "r.md")
    assert "10 min: RSS 200 → 210 MB (peak 230), drift +5.0 %" in block
    assert "soak" not in report.docs_block(run, report.facts(run, "x"), "r.md")
