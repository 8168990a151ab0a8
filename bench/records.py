"""The records of a comparison run (bench/compare.py), as written to its JSON file.

A run holds cells (server x workload x concurrency, each with its measured windows), the
raw-library ceilings, the cache-hit cells and notes. A cell reports the median of its
windows; "best of" views pick a server family's fastest configuration per cell.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Rep:
    """One measured wrk window."""

    rate: float  # 2xx responses per second (refusals are counted in errors, not here)
    p50_ms: float  # latency percentiles of all responses, refusals included
    p95_ms: float
    p99_ms: float
    requests: int  # all responses
    errors: int  # non-2xx responses + socket errors and timeouts
    cpu_ms: float  # server process-tree CPU per 2xx response (refusals' cost included)
    peak_rss_mb: float  # of the server's process tree during the window
    capped: bool = False  # the URL list ran out before the time did
    other_cores: float = 0.0  # CPU used by other processes (and stolen), in cores, on average


@dataclass(frozen=True, slots=True)
class Summary:
    """The reps of a cell: medians, except errors (summed), RSS (max) and capped (any)."""

    rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float
    peak_rss_mb: float
    capped: bool


def summarise(reps: Sequence[Rep]) -> Summary:
    if not reps:
        raise ValueError("reps: expected at least one repetition")

    def median(name: str) -> float:
        return float(statistics.median(getattr(rep, name) for rep in reps))

    return Summary(
        rate=median("rate"),
        p50_ms=median("p50_ms"),
        p95_ms=median("p95_ms"),
        p99_ms=median("p99_ms"),
        errors=sum(rep.errors for rep in reps),
        cpu_ms=median("cpu_ms"),
        peak_rss_mb=max(rep.peak_rss_mb for rep in reps),
        capped=any(rep.capped for rep in reps),
    )


@dataclass(frozen=True, slots=True)
class Cell:
    server: str  # "<peer>-<processes>p": "imgfleet-1p", "thumbor-2p", "ipx-1p", "nginx-2p"
    workload: str
    concurrency: int
    reps: tuple[Rep, ...]
    mean_bytes: float | None = None  # over the sample outputs (same for every concurrency)
    ssim: float | None = None  # mean over the sample outputs

    @property
    def family(self) -> str:
        return family(self.server)

    @property
    def summary(self) -> Summary:
        return summarise(self.reps)


@dataclass(frozen=True, slots=True)
class Ceiling:
    library: str  # "pyvips" | "pillow"
    workload: str
    workers: int
    rate: float  # images per second, all workers
    mean_bytes: float
    ssim: float | None


@dataclass(frozen=True, slots=True)
class Run:
    mode: str  # "full" | "quick"
    started: str  # ISO 8601, UTC
    host: str
    command: str
    cores: int
    environment: dict[str, str]  # label -> text (machine, versions, revision)
    method: dict[str, Any]  # the plan: windows, repetitions, concurrency, servers
    workloads: dict[str, str]  # name -> label, in run order
    cells: tuple[Cell, ...] = ()
    ceilings: tuple[Ceiling, ...] = ()
    hits: tuple[Cell, ...] = ()  # workload "hit": imgfleet's hot rendition, nginx's file
    notes: tuple[str, ...] = ()
    commit: str | None = None  # bench/revision.py, at the start; None in runs before it


LABEL = re.compile(r"^(?P<family>.+)-(?P<processes>\d+)p$")


def server_label(name: str, processes: int) -> str:
    return f"{name}-{processes}p"


def family(server: str) -> str:
    """ "thumbor-2p" -> "thumbor"; a label without a process count is its own family."""
    found = LABEL.match(server)
    return found["family"] if found else server


def processes(server: str) -> str:
    """ "thumbor-2p" -> "2p"; "" without a process count."""
    found = LABEL.match(server)
    return f"{found['processes']}p" if found else ""


def best_cells(cells: Iterable[Cell]) -> dict[tuple[str, str, int], Cell]:
    """(family, workload, concurrency) -> that family's fastest configuration's cell."""
    best: dict[tuple[str, str, int], Cell] = {}
    for cell in cells:
        key = (cell.family, cell.workload, cell.concurrency)
        if key not in best or cell.summary.rate > best[key].summary.rate:
            best[key] = cell
    return best


def best_ceiling(ceilings: Iterable[Ceiling], workload: str) -> Ceiling | None:
    found = [c for c in ceilings if c.workload == workload]
    return max(found, key=lambda c: c.rate) if found else None


def to_json(run: Run) -> dict[str, Any]:
    data = asdict(run)
    for key in ("cells", "hits"):
        for raw, cell in zip(data[key], getattr(run, key), strict=True):
            raw["summary"] = asdict(cell.summary)
    return data


def from_json(data: Mapping[str, Any]) -> Run:
    def cell(raw: Mapping[str, Any]) -> Cell:
        reps = tuple(Rep(**rep) for rep in raw["reps"])
        return Cell(
            raw["server"], raw["workload"], raw["concurrency"], reps, raw["mean_bytes"], raw["ssim"]
        )

    return Run(
        mode=data["mode"],
        started=data["started"],
        host=data["host"],
        command=data["command"],
        cores=data["cores"],
        environment=dict(data["environment"]),
        method=dict(data["method"]),
        workloads=dict(data["workloads"]),
        cells=tuple(cell(raw) for raw in data["cells"]),
        ceilings=tuple(Ceiling(**raw) for raw in data["ceilings"]),
        hits=tuple(cell(raw) for raw in data["hits"]),
        notes=tuple(data["notes"]),
        commit=data.get("commit"),
    )
