"""A render's peak memory, measured in a fresh process, beside `core.render_memory`'s estimate.

Every case (a source, an operation, an output format) renders once in its own spawned
process through the engine (`imgfleet.imaging.VipsEngine`), set up as a render process is
(`configure_vips`, glibc's malloc set as `ProcessWorkers` sets it; `memory_probe`). The
process first renders a tiny image of the same source format to the same output format, so
that every codec is loaded; then it resets the kernel's high-water mark of its resident
memory (`/proc/self/clear_refs`), reads the source file and renders it. Measured: the
high-water mark (VmHWM) minus the resident memory before the read (VmRSS), so the source
file's bytes count, as they do in a render process. The estimate is `peak_bytes` of the
same probe and plan, with libvips' threads as the process has them. Then `bench.freed`:
what a process keeps of big renders' memory, with and without a trim after each.

    .venv/bin/python -m bench.memory               # grid and freed memory, ~1 h: writes
                                                   # bench/results/latest-memory.md
    .venv/bin/python -m bench.memory --only avif   # the cases whose name has "avif"
    .venv/bin/python -m bench.memory --no-freed --concurrency 1
    .venv/bin/python -m bench.memory --no-grid     # freed memory alone, ~15 min

Sources are generated (bench/corpus.py's photos: scikit-image's, tiled, with grain) into
bench/.corpus/memory/ and kept; nothing is downloaded. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pyvips

from bench.corpus import CORPUS_DIR, Manifest, Size, photo, save, source_dir
from bench.freed import freed, freed_table
from bench.memory_probe import (
    MB,
    WORKER_MALLOPT,
    Job,
    in_fresh_process,
    make_engine,
    quality_of,
    render,
    reset_high_water,
    resolve,
    set_mallopt,
    status_kb,
)
from bench.revision import commit
from imgfleet.core.render_memory import peak_bytes
from imgfleet.imaging import configure_vips
from imgfleet.settings import Settings

MEMORY_DIR = CORPUS_DIR / "memory"
RESULTS = Path(__file__).resolve().parent / "results" / "latest-memory.md"
GENERATOR_VERSION = 1
BIG = 100 * MB  # renders measured above this are the ones the estimate must track closely


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    options: str  # imgproxy options in the URL


STILL_OPERATIONS = (
    Operation("fit512", "rs:fit:512:512:0"),
    Operation("same", "rs:fit:0:0:0"),
    Operation("enlarge8192", "rs:fit:8192:8192:1"),  # max_result_dimension's largest result
)
ANIMATION_OPERATIONS = (
    Operation("fit256", "rs:fit:256:256:0"),
    Operation("same", "rs:fit:0:0:0"),
    Operation("enlarge1024", "rs:fit:1024:1024:1"),
    Operation("enlarge2048", "rs:fit:2048:2048:1"),
)
OUTPUTS = ("jpeg", "png", "webp", "avif", "gif")


@dataclass(frozen=True, slots=True)
class Source:
    name: str  # file stem in MEMORY_DIR
    format: str  # "jpeg" | "png" | "webp" | "gif" | "avif"
    width: int
    height: int  # of one frame
    frames: int = 1
    interlaced: bool = False  # progressive JPEG, Adam7 PNG
    alpha: bool = False
    operations: tuple[Operation, ...] = STILL_OPERATIONS

    @property
    def path(self) -> Path:
        return MEMORY_DIR / f"{self.name}.{self.format}"

    @property
    def warm_path(self) -> Path:
        return MEMORY_DIR / f"warm-{self.name}.{self.format}"

    @property
    def save_options(self) -> dict[str, Any]:
        options = dict(SAVE[self.format])
        if self.interlaced:
            options["interlace"] = True
        return options


SAVE: dict[str, dict[str, Any]] = {
    "jpeg": {"Q": 90, "subsample_mode": "on", "interlace": False},
    "png": {"compression": 6},
    "webp": {"Q": 90, "effort": 4},
    "gif": {"effort": 4},
    "avif": {"Q": 75, "compression": "av1", "effort": 0},
}
LOADING = STILL_OPERATIONS[:2]  # sources that differ in how they decode, not in the result
SOURCES = (
    Source("jpeg-2mp", "jpeg", 1728, 1152),
    Source("jpeg-12mp", "jpeg", 4240, 2832),
    Source("jpeg-50mp", "jpeg", 8640, 5760),  # max_src_megapixels (50) allows 49.8
    Source("png-12mp", "png", 4240, 2832),
    Source("webp-12mp", "webp", 4240, 2832),
    Source("gif-anim", "gif", 500, 500, frames=50, operations=ANIMATION_OPERATIONS),
    Source("webp-anim", "webp", 500, 500, frames=50, operations=ANIMATION_OPERATIONS),
    # Beyond the grid: the decoders that hold a whole image, and alpha.
    Source("jpeg-50mp-progressive", "jpeg", 8640, 5760, interlaced=True, operations=LOADING),
    Source("png-12mp-interlaced", "png", 4240, 2832, interlaced=True, operations=LOADING),
    Source("png-12mp-alpha", "png", 4240, 2832, alpha=True),
    Source("avif-12mp", "avif", 4240, 2832, operations=LOADING),
)


@dataclass(frozen=True, slots=True)
class Case:
    source: Source
    operation: Operation
    output: str

    @property
    def name(self) -> str:
        return f"{self.source.name} {self.operation.name} -> {self.output}"

    def path(self, stem: Path, options: str | None = None) -> str:
        """The request path (no keys: /insecure) of `stem` in the served folder."""
        options = self.operation.options if options is None else options
        return f"/insecure/{options}/plain/local:///{stem.name}@{self.output}"


FREED_BIG = Case(SOURCES[1], STILL_OPERATIONS[2], "avif")  # 12 MP JPEG -> 8192x5472 AVIF
FREED_SMALL = Case(SOURCES[1], STILL_OPERATIONS[0], "jpeg")  # 12 MP JPEG -> fit 512 JPEG


def grid() -> list[Case]:
    return [Case(s, op, out) for s in SOURCES for op in s.operations for out in OUTPUTS]


# --- sources ---------------------------------------------------------------------------


def _picture(source: Source, scale: float = 1.0) -> pyvips.Image:
    """The source's pixels: one corpus photo, or frames panning across one for animations;
    with alpha, opaque on the right fading to transparent on the left."""
    w, h = round(source.width * scale), round(source.height * scale)
    if source.frames == 1:
        image = photo(Size(f"memory-{source.name}", w, h), 1, source_dir())
        if source.alpha:
            ramp = pyvips.Image.xyz(w, h)[0] * (255.0 / max(w - 1, 1))
            image = image.bandjoin(ramp.cast("uchar")).copy(interpretation="srgb")
        return image
    frames = source.frames if scale == 1.0 else 3
    wide = photo(Size(f"memory-{source.name}", 3 * w, h + h // 4), 1, source_dir())
    step = (wide.width - w) / max(frames - 1, 1)
    pages = [wide.crop(round(i * step), h // 8, w, h) for i in range(frames)]
    strip = pyvips.Image.arrayjoin(pages, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", h)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [80] * frames)
    strip.set_type(pyvips.GValue.gint_type, "loop", 0)
    return strip


def write_sources(sources: Sequence[Source]) -> None:
    """Write each source and its tiny warm-up twin unless the manifest says they are fresh."""
    MEMORY_DIR.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(MEMORY_DIR)
    for source in sources:
        for path, scale in ((source.path, 1.0), (source.warm_path, 64 / source.width)):
            params = {
                "generator": GENERATOR_VERSION,
                "size": [source.width, source.height, source.frames],
                "alpha": source.alpha,
                "scale": scale,
                "options": {k: str(v) for k, v in source.save_options.items()},
            }
            if not manifest.fresh(path, params):
                print(f"writing {path.name}", file=sys.stderr)
                save(_picture(source, scale), path, source.save_options)
                manifest.record(path, params, source.width, source.height)


# --- one render in a fresh process, and its estimate -------------------------------------


@dataclass(frozen=True, slots=True)
class Measured:
    case: str
    source_mp: float  # all frames
    result: str  # width x height (x frames)
    measured: int  # bytes: VmHWM - VmRSS before the render
    estimated: int  # bytes
    seconds: float
    source_bytes: int
    output_bytes: int

    @property
    def ratio(self) -> float:
        return self.estimated / max(self.measured, 1)


def _measure(job: Job, conn: Connection) -> None:
    if job.worker_mallopt:
        set_mallopt(WORKER_MALLOPT)
    configure_vips(job.concurrency)
    engine = make_engine()
    render(engine, job.warm_path.read_bytes(), job.warm_options, job.quality)
    gc.collect()
    reset_high_water()
    before = status_kb("VmRSS")
    started = time.perf_counter()
    data = job.path.read_bytes()
    info, plan, body = render(engine, data, job.options, job.quality)
    seconds = time.perf_counter() - started
    peak = status_kb("VmHWM")
    estimate = peak_bytes(
        info,
        plan,
        job.options,
        job.options.format,
        job.quality,
        source_bytes=len(data),
        threads=pyvips.concurrency_get(),
    )
    animated = {"gif", "webp"}
    kept = info.format.value in animated and job.options.format.value in animated
    frames = info.pages if kept else 1
    result = f"{plan.width}x{plan.height}" + (f"x{frames}" if frames > 1 else "")
    conn.send(
        Measured(
            case=job.case,
            source_mp=info.megapixels,
            result=result,
            measured=(peak - before) * 1024,
            estimated=estimate,
            seconds=seconds,
            source_bytes=len(data),
            output_bytes=len(body),
        )
    )


def jobs(cases: Sequence[Case], concurrency: int, worker_mallopt: bool = True) -> list[Job]:
    settings = Settings()
    paths = [case.path(case.source.path) for case in cases]
    warm = [case.path(case.source.warm_path, "cb:warm") for case in cases]
    options = resolve(settings, paths + warm)
    return [
        Job(
            case=case.name,
            path=case.source.path,
            warm_path=case.source.warm_path,
            options=opts,
            warm_options=warm_opts,
            quality=quality_of(settings, opts),
            concurrency=concurrency,
            worker_mallopt=worker_mallopt,
        )
        for case, opts, warm_opts in zip(
            cases, options[: len(cases)], options[len(cases) :], strict=True
        )
    ]


# --- report ------------------------------------------------------------------------------------


def grid_table(rows: Sequence[Measured]) -> list[str]:
    lines = [
        "| case | source MP | result | measured MB | estimated MB | est / measured "
        "| s | source KB | output KB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.case} | {r.source_mp:.1f} | {r.result} | {r.measured / MB:.0f} "
            f"| {r.estimated / MB:.0f} | {r.ratio:.2f} | {r.seconds:.1f} "
            f"| {r.source_bytes / 1000:.0f} | {r.output_bytes / 1000:.0f} |"
        )
    return lines


def summary(rows: Sequence[Measured]) -> list[str]:
    """The estimate's range: it must stay above every measured peak, and near the big ones."""
    if not rows:
        return []
    low = min(rows, key=lambda r: r.ratio)
    big = [r for r in rows if r.measured >= BIG] or list(rows)
    high = max(big, key=lambda r: r.ratio)
    return [
        f"- estimate / measured: lowest {low.ratio:.2f} ({low.case}); highest among renders "
        f"of {BIG // MB} MB and more {high.ratio:.2f} ({high.case}); "
        f"{sum(r.ratio < 1 for r in rows)} of {len(rows)} cases below 1",
        "",
    ]


def header(concurrency: int, worker_mallopt: bool, argv: Sequence[str]) -> list[str]:
    vips = ".".join(str(pyvips.version(i)) for i in range(3))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    malloc = "as the render processes set it" if worker_mallopt else "with its defaults"
    return [
        f"# A render's peak memory: {time.strftime('%Y-%m-%dT%H:%M', time.gmtime())} UTC",
        "",
        "```",
        " ".join([".venv/bin/python -m bench.memory", *argv]).rstrip(),
        "```",
        "",
        f"- imgfleet {commit()}, libvips {vips}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {memory:.0f} GB, {platform.system()} {platform.release()}",
        f"- libvips threads per render: {concurrency}; default settings (AVIF effort 2, "
        f"WebP effort 2, PNG level 6); glibc's malloc {malloc}",
        "- measured: VmHWM - VmRSS of a fresh process around one render (source file read "
        "included), after a warm-up render of a tiny image of the same formats; MB = 10^6 B",
        "",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", help="the grid cases whose name contains this")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--glibc-defaults",
        action="store_true",
        help="grid: leave glibc's malloc as it is (as a server rendering in threads does)",
    )
    parser.add_argument("--no-grid", action="store_true", help="skip the grid")
    parser.add_argument("--no-freed", action="store_true", help="skip the freed-memory runs")
    parser.add_argument("--rounds", type=int, default=5, help="freed: big renders in a row")
    parser.add_argument("--small-rounds", type=int, default=40, help="freed: small renders")
    parser.add_argument("--idle", type=float, default=5.0, help="freed: seconds idle")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"write the tables here (default: {RESULTS.name} for a whole run, "
        "nowhere for a partial one)",
    )
    args = parser.parse_args(argv)
    whole = not (args.only or args.no_grid or args.no_freed or args.glibc_defaults)
    cases = [] if args.no_grid else [c for c in grid() if not args.only or args.only in c.name]
    freed_cases = [] if args.no_freed else [FREED_BIG, FREED_SMALL]
    write_sources(sorted({c.source for c in cases + freed_cases}, key=SOURCES.index))
    worker_mallopt = not args.glibc_defaults
    lines = header(args.concurrency, worker_mallopt, sys.argv[1:] if argv is None else argv)
    if cases:
        rows = []
        for job in jobs(cases, args.concurrency, worker_mallopt):
            measured = in_fresh_process(_measure, job)
            print(grid_table([measured])[-1], file=sys.stderr)
            rows.append(measured)
        lines += ["## Peak per render", "", *summary(rows), *grid_table(rows), ""]
    if freed_cases:
        big, small = jobs(freed_cases, args.concurrency)
        found = freed(big, small, args.rounds, args.small_rounds, args.idle)
        lines += [
            f"## Freed memory: {FREED_BIG.name}, {args.rounds} in a row, then "
            f"{args.idle:g} s idle, then {args.small_rounds} x {FREED_SMALL.name}",
            "",
            *freed_table(found),
            "",
        ]
    text = "\n".join(lines)
    print(text)
    out = args.out or (RESULTS if whole else None)
    if out:
        out.write_text(text)


if __name__ == "__main__":
    main()
