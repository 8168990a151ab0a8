"""bench/history.py and bench/revision.py: a row per run, appended, with its commit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench import history, records, report, revision
from tests.bench.test_report import a_run

EPYC = "2 cores (AMD EPYC), 24 GB, Linux 6.18"
XEON = "2 cores (Intel(R) Xeon(R) Processor), 24 GB, Linux 6.18"


def test_a_row_holds_the_headline_ratios_and_where_the_run_was_made() -> None:
    run = a_run(environment={"machine": EPYC}, commit="1a2b3c4+dirty")
    row = history.row_of(run, report.facts(run, ""))
    assert history.line(row) == (
        "| 2026-11-24 01:00 | `1a2b3c4+dirty` | vm, AMD EPYC, 2 cores | full | 1.20x | 1.50x "
        "| 0.60x (pillow) | 0.50x |"
    )


def test_runs_before_the_commit_field_name_it_in_their_environment() -> None:
    old = {"machine": XEON, "imgfleet": "ca15405 (src/ digest 2d54932): imgfleet 0.1.0"}
    assert history.commit_of(a_run(environment=old)) == "ca15405"
    dirty = {"imgfleet": "04feb70 + uncommitted changes in src/ (src/ digest 79a9)"}
    assert history.commit_of(a_run(environment=dirty)) == "04feb70+dirty"
    assert history.commit_of(a_run(environment={})) == "-"
    assert history.machine_of(a_run(environment=old)) == "vm, Intel(R) Xeon(R) Processor, 2 cores"
    assert history.machine_of(a_run(environment={"machine": "2 cores"})) == "vm, 2 cores"


def test_a_quick_run_without_peers_has_dashes() -> None:
    run = a_run(mode="quick", cells=(), ceilings=(), hits=())
    line = history.line(history.row_of(run, report.facts(run, "")))
    assert line.endswith("| quick | - | - | - | - |")


def test_rows_are_appended_under_one_header(tmp_path: Path) -> None:
    table = tmp_path / "history.md"
    run = a_run()
    history.append([history.row_of(run, report.facts(run, ""))], table)
    history.append([history.row_of(run, report.facts(run, ""))], table)
    lines = table.read_text().splitlines()
    assert lines[0] == "# Comparison runs"
    assert sum(line.startswith("| date (UTC) |") for line in lines) == 1
    assert [line.startswith("| 2026-11-24 01:00 |") for line in lines[-3:]] == [False, True, True]


def test_the_command_appends_runs_oldest_first(tmp_path: Path) -> None:
    files = []
    for n, started in enumerate(("2026-12-04T05:00:00+00:00", "2026-11-24T01:00:00+00:00")):
        path = tmp_path / f"run{n}.json"
        path.write_text(json.dumps(records.to_json(a_run(started=started))))
        files.append(str(path))
    table = tmp_path / "history.md"
    history.main([*files, "--to", str(table)])
    dates = [line.split(" | ")[0] for line in table.read_text().splitlines()[-2:]]
    assert dates == ["| 2026-11-24 01:00", "| 2026-12-04 05:00"]


def test_the_commit_is_marked_dirty_with_uncommitted_changes(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    assert revision.commit(tmp_path) == "unknown"
    git("init", "-q")
    (tmp_path / "a").write_text("1")
    git("add", "a")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a")
    clean = revision.commit(tmp_path)
    assert len(clean) >= 7 and "+" not in clean
    (tmp_path / "a").write_text("2")
    assert revision.commit(tmp_path) == clean + "+dirty"
