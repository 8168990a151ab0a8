"""The history table, bench/results/history.md: one row per comparison run, oldest first.

bench/results/ keeps only the latest run of each kind; this table keeps a line of every run
(when, at which commit, on which machine, full or quick, and the headline ratios), so a
trend can be read without the files, which git history keeps. `bench.compare` appends its
run's row; `python -m bench.history RUN.json ...` appends rows for run files kept elsewhere
(a run's JSON from git history, say), oldest first.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report
from bench.records import Run, from_json

HISTORY_FILE = report.RESULTS_DIR / "history.md"
HEADER = """# Comparison runs

One row per `python -m bench.compare` run, appended by the run itself (bench/history.py).
The headline cell is M JPEG → fit 512x512, JPEG q80 at c = 2; "raw" is the faster raw
library's in-process ceiling (no HTTP), "hits" imgfleet's hot rendition against nginx
serving its bytes at c = 16. The latest run's files are `latest.*` (full) and
`latest-quick.*` beside this table; earlier runs' files are in git history
(`git log --diff-filter=D --name-only -- bench/results/` lists them). Compare ratios
within a row: machines of one kind differ by more than most changes (docs/performance.md).

"""
COLUMNS = (
    "date (UTC)",
    "commit",
    "machine",
    "mode",
    "imgfleet / thumbor",
    "imgfleet / ipx",
    "imgfleet / raw",
    "hits / nginx",
)
TABLE_HEAD = "| " + " | ".join(COLUMNS) + " |\n" + "|---" * len(COLUMNS) + "|\n"
# How runs before `Run.commit` named their commit: first in their environment's imgfleet line.
OLD_REVISION = re.compile(r"^(?P<commit>[0-9a-f]{7,40})(?P<dirty> \+ uncommitted changes)?")
CPU_MODEL = re.compile(r"^\d+ cores \((?P<model>.*)\), \d+ GB")  # `compare.machine()`


@dataclass(frozen=True, slots=True)
class Row:
    started: str  # ISO 8601, UTC
    commit: str
    machine: str
    mode: str
    over_thumbor: float | None
    over_ipx: float | None
    over_ceiling: float | None
    ceiling_library: str | None
    hit_over_nginx: float | None


def commit_of(run: Run) -> str:
    """The run's commit, "+dirty" if the tree was not clean; "-" if it was not recorded."""
    if run.commit:
        return run.commit
    found = OLD_REVISION.match(run.environment.get("imgfleet", ""))
    if found is None:
        return "-"
    return found["commit"] + ("+dirty" if found["dirty"] else "")


def machine_of(run: Run) -> str:
    """Host, CPU model and cores."""
    found = CPU_MODEL.match(run.environment.get("machine", ""))
    model = f", {found['model']}" if found and found["model"] else ""
    return f"{run.host}{model}, {run.cores} cores"


def row_of(run: Run, facts: Mapping[str, Any]) -> Row:
    """A run's row; `facts` are its headline facts (`report.facts`)."""
    return Row(
        started=run.started,
        commit=commit_of(run),
        machine=machine_of(run),
        mode=run.mode,
        over_thumbor=facts.get("imgfleet_over_thumbor"),
        over_ipx=facts.get("imgfleet_over_ipx"),
        over_ceiling=facts.get("imgfleet_over_ceiling"),
        ceiling_library=facts.get("ceiling_library"),
        hit_over_nginx=facts.get("hit_over_nginx"),
    )


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def line(row: Row) -> str:
    raw = _ratio(row.over_ceiling)
    if row.over_ceiling is not None and row.ceiling_library:
        raw += f" ({row.ceiling_library})"
    cells = [
        row.started[:16].replace("T", " "),
        f"`{row.commit}`",
        row.machine,
        row.mode,
        _ratio(row.over_thumbor),
        _ratio(row.over_ipx),
        raw,
        _ratio(row.hit_over_nginx),
    ]
    return "| " + " | ".join(cells) + " |"


def append(rows: Sequence[Row], path: Path = HISTORY_FILE) -> None:
    """Add `rows` at the end of the table (written with its header when missing)."""
    text = path.read_text() if path.exists() else HEADER + TABLE_HEAD
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text + "".join(line(row) + "\n" for row in rows))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Append the rows of runs' JSON files.")
    parser.add_argument("json_files", nargs="+", type=Path)
    parser.add_argument("--to", type=Path, default=HISTORY_FILE, help="(%(default)s)")
    args = parser.parse_args(argv)
    runs = [from_json(json.loads(path.read_text())) for path in args.json_files]
    runs.sort(key=lambda run: run.started)
    append([row_of(run, report.facts(run, "")) for run in runs], args.to)
    print(f"appended {len(runs)} rows to {args.to}")


if __name__ == "__main__":
    main()
