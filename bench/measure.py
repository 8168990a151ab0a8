"""Measuring servers: distinct-URL wrk windows, sample outputs, the ceiling, the hit path.

`Bench` runs what a `Plan` asks of each server configuration: per workload a fresh server
process, a sample fetch (output bytes and SSIM against bench/quality.py's references, not
timed), a warm-up, then per concurrency `repetitions` wrk windows (bench/cycle.lua) over URLs
that are never repeated, the servers of a workload taking turns window by window. Server
CPU and peak RSS are read from the server's process tree.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyvips

from bench import ceiling, quality, targets
from bench.corpus import CORPUS_DIR, CorpusImage
from bench.load import server_log_problems
from bench.peers import Peer
from bench.peers.imgfleet import Imgfleet
from bench.records import Ceiling, Cell, Rep, server_label
from bench.rss import RssSampler, tree_cpu_seconds, tree_rss_bytes
from bench.server import get
from bench.workloads import HEADLINE, WORKLOADS, Workload
from bench.wrk import run_wrk, write_paths

T = TypeVar("T")

RUN_DIR = CORPUS_DIR / "run" / "compare"  # URL lists and the hit file; ignored by git
SRC_DIR = Path(__file__).resolve().parents[1] / "src"
CORES = os.cpu_count() or 1
MB = 1024 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CONTENDED_CORES = 0.2  # other processes' CPU in a window above which a note says so
IDLE_CORES = 0.05  # a server using less CPU than this over SETTLE_STEP has finished its queue
SETTLE_STEP = 0.2  # seconds between two readings of a server's CPU while it settles
SETTLE_TIMEOUT = 60.0  # a server still busy after this long is named in the notes
PATHS_PER_SECOND = 1_000  # URLs written per second of window: far above any render rate
HIT_PATHS_PER_SECOND = 200_000  # the cap of a hit window (one URL, repeated)
MIME = {"jpeg": "image/jpeg", "webp": "image/webp", "avif": "image/avif", "png": "image/png"}


@dataclass(frozen=True, slots=True)
class ServerSpec:
    name: str  # a peer's name
    processes: int

    @property
    def label(self) -> str:
        return server_label(self.name, self.processes)


@dataclass(frozen=True, slots=True)
class Plan:
    mode: str  # "full" | "quick"
    workloads: tuple[Workload, ...]
    concurrency: tuple[int, ...]
    servers: tuple[ServerSpec, ...]
    warmup: float  # seconds, per server and workload
    seconds: float  # one measured window
    repetitions: int  # windows per cell; the median is reported
    libraries: tuple[str, ...]  # the raw-library ceiling; () for none
    ceiling_warmup: float
    ceiling_seconds: float
    hit_concurrency: int
    hit_seconds: float  # one hit window; 0 for no hit path
    hit_repetitions: int
    wrk_threads: int = 1


def encoding_of(workload: Workload) -> ceiling.Encoding:
    """The encoder settings of `workload`, for the raw libraries."""
    default = ceiling.Encoding()
    efforts = {"webp": default.webp_effort, "avif": default.avif_effort}
    if workload.out_format in efforts and workload.effort is not None:
        efforts[workload.out_format] = workload.effort
    png = default.png_compression if workload.compression is None else workload.compression
    return ceiling.Encoding(efforts["webp"], efforts["avif"], png)


def effort(out_format: str, fallback: int) -> int:
    """The effort the workload table states for `out_format` (every server gets it)."""
    return next((w.effort for w in WORKLOADS if w.out_format == out_format and w.effort), fallback)


def settle(
    read_cpu: Callable[[], float],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float | None:
    """Wait until a server has finished the requests still queued in it when wrk stopped,
    so that work does not land in the next server's window. `read_cpu` gives the server's
    CPU seconds; idle means below IDLE_CORES over one SETTLE_STEP. Returns the seconds
    waited, or None if it was still busy after SETTLE_TIMEOUT."""
    began = before = clock()
    cpu = read_cpu()
    while True:
        sleep(SETTLE_STEP)
        now, used = clock(), read_cpu()
        if used - cpu < IDLE_CORES * (now - before):
            return now - began
        if now - began >= SETTLE_TIMEOUT:
            return None
        before, cpu = now, used


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent in processes or stolen by the hypervisor (all cores),
    from /proc/stat. Interrupts are left out: loopback traffic is counted there, and it is
    the benchmark's own."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, steal = fields[0], fields[1], fields[2], fields[7]
    return (user + nice + system + steal) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    """This process's CPU and its reaped children's (wrk, once a run is over)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def source_fingerprint() -> str:
    """A digest of src/: other work may change imgfleet's code while a long run goes on."""
    digest = hashlib.sha256()
    for path in sorted(SRC_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(SRC_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def port_of(peer: Peer) -> int:
    return int(peer.base_url.rsplit(":", 1)[1])


def progress(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


class Bench:
    """Runs the cells of a plan; collects cells, ceilings, hits and notes."""

    def __init__(
        self,
        plan: Plan,
        corpus: list[CorpusImage],
        peers: dict[str, Peer],
        instances: Mapping[ServerSpec, Peer] | None = None,
    ) -> None:
        self.plan = plan
        self.corpus = corpus
        self.peers = peers  # by name: the hit path's imgfleet and nginx
        self.instances = instances or {}  # one per server of the plan: they run side by side
        self.unique = itertools.count(1)  # every URL of the run gets its own number
        self.notes: list[str] = []
        self.odd: dict[str, Counter[str]] = {}  # window label -> non-200 statuses, socket errors
        self.contended: dict[str, float] = {}  # window label -> most other-process CPU, cores
        self.source = source_fingerprint()

    def paths(self, peer: Peer, workload: Workload, inputs: list[CorpusImage], n: int) -> list[str]:
        w = workload
        return [
            peer.path(
                inputs[i % len(inputs)].path.name,
                w.op,
                w.width,
                w.height,
                w.out_format,
                w.quality or 0,  # PNG: no quality; every peer leaves it out
                next(self.unique),
            )
            for i in range(n)
        ]

    def window(
        self,
        peer: Peer,
        paths: list[str],
        connections: int,
        seconds: float,
        rss: RssSampler,
        label: str,
        max_requests: int | None = None,
    ) -> Rep:
        """One wrk run; server CPU and peak RSS from its process tree. Returns once the
        server has settled (see `settle`)."""
        paths_file = write_paths(RUN_DIR / f"{peer.name}.txt", paths)
        cpu, busy, ours = tree_cpu_seconds(peer.pid), machine_busy_seconds(), own_cpu_seconds()
        began = time.monotonic()
        rss.reset()
        result = run_wrk(
            peer.base_url,
            paths_file,
            connections=connections,
            seconds=seconds,
            threads=self.plan.wrk_threads,
            max_requests=max_requests,
        )
        ok = result.requests - result.non_2xx  # a fast refusal is not throughput
        server_cpu = tree_cpu_seconds(peer.pid) - cpu
        cpu_ms = server_cpu * 1000 / max(ok, 1)
        others = machine_busy_seconds() - busy - server_cpu - (own_cpu_seconds() - ours)
        other_cores = max(0.0, others / max(time.monotonic() - began, 1e-3))
        peak = max(rss.peak, tree_rss_bytes(peer.pid))
        if other_cores > CONTENDED_CORES:
            self.contended[label] = max(self.contended.get(label, 0.0), other_cores)
        if settle(lambda: tree_cpu_seconds(peer.pid)) is None:
            self.notes.append(f"{label}: still busy {SETTLE_TIMEOUT:.0f} s after wrk stopped")
        odd = self.odd.setdefault(label, Counter())
        odd.update({str(s): n for s, n in result.statuses.items() if s != 200})
        odd.update({"socket errors": result.socket_errors} if result.socket_errors else {})
        return Rep(
            rate=ok / result.seconds if result.seconds else 0.0,
            p50_ms=result.p50_ms,
            p95_ms=result.p95_ms,
            p99_ms=result.p99_ms,
            requests=result.requests,
            errors=result.non_2xx + result.socket_errors,
            cpu_ms=cpu_ms,
            peak_rss_mb=peak / MB,
            capped=result.capped,
            other_cores=round(other_cores, 3),
        )

    def sample(
        self, peer: Peer, workload: Workload, inputs: list[CorpusImage], label: str
    ) -> tuple[float | None, float | None]:
        """Mean output bytes and SSIM over one output per input image (not timed)."""
        sizes, scores = [], []
        for image, path in zip(
            inputs, self.paths(peer, workload, inputs, len(inputs)), strict=True
        ):
            status, headers, body = get(port_of(peer), path, timeout=120.0)
            if status != 200:
                self.notes.append(f"{label}: sample {image.name} answered {status}: {body[:120]!r}")
                continue
            mime = headers.get("content-type", "")
            if not mime.startswith(MIME[workload.out_format]):
                self.notes.append(f"{label}: sample {image.name} came back as {mime!r}")
            sizes.append(len(body))
            try:
                scored = quality.score(body, image, workload)
            except (quality.SizeMismatch, pyvips.Error) as error:
                self.notes.append(f"{label}: no SSIM for {image.name}: {error}")
                continue
            if scored.size_off:
                self.notes.append(
                    f"{label}: {image.name} came out {scored.width}x{scored.height} "
                    "(scored against a reference of that size)"
                )
            scores.append(scored.ssim)
        return mean(sizes), mean(scores)

    def workload(
        self, specs: Sequence[ServerSpec], workload: Workload
    ) -> tuple[list[Cell], list[Ceiling]]:
        """Every server on one workload, and the raw libraries: all started, then taking
        turns window by window.

        Each server gets a fresh process, a sample fetch and a warm-up; then per concurrency
        the repetitions go round the servers, each round starting with the next one, so the
        windows compared are seconds apart, not minutes: the machine's speed drifts by as
        much as the differences measured. At `ceiling_concurrency` the raw libraries take
        their turns in the same rounds. An idle server costs no CPU, and each window ends
        only once its server has finished what was queued in it; a window where other
        processes took CPU all the same says so in the notes.
        """
        plan, inputs = self.plan, workload.inputs(self.corpus)
        labels = {spec: f"{spec.label} {workload.name}" for spec in specs}
        cells: list[Cell] = []
        runs: dict[str, list[ceiling.CeilingResult]] = {}
        with contextlib.ExitStack() as running:
            rss: dict[ServerSpec, RssSampler] = {}
            for spec in specs:
                peer = self.instances[spec]
                self._note_changed_source(peer, labels[spec])
                peer.start(CORPUS_DIR, spec.processes)
                running.callback(self._stop, peer, labels[spec])
                rss[spec] = running.enter_context(RssSampler(peer.pid))
            samples = {}
            for spec in specs:
                peer, label = self.instances[spec], labels[spec]
                samples[spec] = self.sample(peer, workload, inputs, label)
                if plan.warmup > 0:
                    warm = self.paths(peer, workload, inputs, self.count(plan.warmup, CORES))
                    self.window(peer, warm, CORES, plan.warmup, rss[spec], f"{label} warm-up")
            for c in plan.concurrency:
                libraries = plan.libraries if c == ceiling_concurrency(plan) else ()
                members: tuple[ServerSpec | str, ...] = (*specs, *libraries)
                reps: dict[ServerSpec, list[Rep]] = {spec: [] for spec in specs}
                for round_ in rounds(members, plan.repetitions):
                    for member in round_:
                        if isinstance(member, str):
                            done = runs.setdefault(member, [])
                            done.append(self.ceiling_window(member, workload, outputs=not done))
                            continue
                        peer = self.instances[member]
                        paths = self.paths(peer, workload, inputs, self.count(plan.seconds, c))
                        label = f"{labels[member]} c={c}"
                        rep = self.window(peer, paths, c, plan.seconds, rss[member], label)
                        reps[member].append(rep)
                for spec in specs:
                    nbytes, ssim = samples[spec]
                    cell = Cell(spec.label, workload.name, c, tuple(reps[spec]), nbytes, ssim)
                    cells.append(cell)
                    s = cell.summary
                    progress(
                        f"{labels[spec]} c={c}: {s.rate:.1f} req/s, p99 {s.p99_ms:.0f} ms, "
                        f"{s.cpu_ms:.1f} CPU-ms/req, {s.errors} errors, "
                        f"{s.peak_rss_mb:.0f} MB, SSIM {ssim if ssim is None else round(ssim, 4)}"
                    )
        return cells, [self._ceiling_of(found, workload) for found in runs.values()]

    def _note_changed_source(self, peer: Peer, label: str) -> None:
        if isinstance(peer, Imgfleet) and source_fingerprint() != self.source:
            self.notes.append(
                f"{label}: src/ changed since the run began "
                f"(fingerprint {self.source} -> {source_fingerprint()}): other code ran"
            )

    def _stop(self, peer: Peer, label: str) -> None:
        peer.stop()
        if isinstance(peer, Imgfleet) and peer.log_path is not None:
            self.notes += [f"{label}: {p}" for p in server_log_problems(peer.log_path)]

    def window_notes(self) -> list[str]:
        """Per window label: anything but 200s; other processes' CPU beside the server."""
        return [
            f"{label}: not 200 (summed over its windows): {dict(counts)}"
            for label, counts in self.odd.items()
            if counts
        ] + [
            f"{label}: other processes (or the hypervisor) took up to {cores:.2f} cores "
            "during its windows: its figures are low"
            for label, cores in self.contended.items()
        ]

    def count(self, seconds: float, connections: int) -> int:
        """URLs for a window: more than any server can answer in it, so none repeats."""
        return int(seconds * PATHS_PER_SECOND) + connections

    def ceiling_window(
        self, library: str, workload: Workload, *, outputs: bool
    ) -> ceiling.CeilingResult:
        """One window of a raw library: the workload in-process, no HTTP, workers = cores;
        `outputs` for its first, whose outputs give the bytes and SSIM."""
        return ceiling.measure(
            library,
            [(image.path, workload) for image in workload.inputs(self.corpus)],  # type: ignore[misc]
            workers=CORES,
            seconds=self.plan.ceiling_seconds,
            warmup=self.plan.ceiling_warmup,
            encoding=encoding_of(workload),
            outputs=outputs,
        )

    def _ceiling_of(self, found: list[ceiling.CeilingResult], workload: Workload) -> Ceiling:
        """A library's windows on a workload: the median rate; bytes and SSIM of one pass."""
        first, inputs = found[0], workload.inputs(self.corpus)
        scores = [
            quality.score(out, image, workload).ssim
            for out, image in zip(first.outputs, inputs, strict=True)
        ]
        rate = statistics.median(x.rate for x in found)
        nbytes = statistics.fmean(map(len, first.outputs))
        x = Ceiling(first.library, workload.name, first.workers, rate, nbytes, mean(scores))
        ssim = None if x.ssim is None else round(x.ssim, 4)
        progress(f"ceiling {x.library} {workload.name}: {x.rate:.1f} img/s, SSIM {ssim}")
        return x

    def hits(self) -> list[Cell]:
        """imgfleet serving one hot rendition, then nginx serving its bytes from disk."""
        imgfleet, nginx = self.peers["imgfleet"], self.peers["nginx"]
        imgfleet.start(CORPUS_DIR, 1)
        try:
            hot = self.paths(imgfleet, HEADLINE, HEADLINE.inputs(self.corpus)[:1], 1)
            status, _, body = get(port_of(imgfleet), hot[0], timeout=60.0)
            if status != 200 or get(port_of(imgfleet), hot[0], timeout=60.0)[2] != body:
                raise SystemExit(f"hit path: the hot URL answered {status} or changed: {hot[0]}")
            cells = [self._hit_cell(imgfleet, hot, 1)]
        finally:
            imgfleet.stop()
        folder = RUN_DIR / "hit"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "hot.jpg").write_bytes(body)
        nginx.start(folder, CORES)
        try:
            path = nginx.path("hot.jpg", "fit", 0, 0, "jpeg", 0, 1)  # the file as it is
            cells.append(self._hit_cell(nginx, [path], CORES))
        finally:
            nginx.stop()
        return cells

    def _hit_cell(self, peer: Peer, paths: list[str], processes: int) -> Cell:
        plan, c = self.plan, self.plan.hit_concurrency
        label = f"hit {peer.name}"
        cap = int(plan.hit_seconds * HIT_PATHS_PER_SECOND)
        with RssSampler(peer.pid) as rss:
            self.window(peer, paths, c, 1.0, rss, f"{label} warm-up", cap)
            reps = tuple(
                self.window(peer, paths, c, plan.hit_seconds, rss, label, cap)
                for _ in range(plan.hit_repetitions)
            )
        cell = Cell(server_label(peer.name, processes), "hit", c, reps)
        s = cell.summary
        progress(f"{label} c={c}: {s.rate:,.0f} req/s, p99 {s.p99_ms:.2f} ms")
        return cell


def rounds(members: Sequence[T], repetitions: int) -> list[tuple[T, ...]]:
    """The order of one concurrency's windows: rounds over the servers (and raw libraries),
    each round starting with the next member, so none is always measured first (or right
    after its warm-up)."""
    n = len(members)
    return [(*members[r % n :], *members[: r % n]) for r in range(repetitions)]


def ceiling_concurrency(plan: Plan) -> int:
    """The concurrency whose rounds the raw libraries join: the one the leads are judged
    at (`targets.C`), or the plan's first if it has not that one."""
    return targets.C if targets.C in plan.concurrency else plan.concurrency[0]


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None
