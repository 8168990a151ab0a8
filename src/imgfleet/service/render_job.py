"""One render, as a value that can cross into a worker thread or a worker process.

A miss is split in two: `prepare`, in the server, reads the source's header, checks the
limits and computes the plan, cheaply and before any worker is taken (a bomb or an
impossible plan is refused without one, and the plan is what admission weighs the render's
memory by); `run`, on a worker, renders it. The job and its result are plain values, so a
process can carry them. A render process starts with `start_process` and renders with
`run_in_process`: it imports this module and its engine's, never the web shell.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from imgfleet.core import geometry, limits
from imgfleet.core.appearance import Appearance
from imgfleet.core.encoding import Qualities
from imgfleet.core.errors import ImgfleetError
from imgfleet.core.geometry import Plan
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.core.render_memory import peak_bytes
from imgfleet.core.render_warnings import NO_WARNINGS, RenderWarnings
from imgfleet.core.source import SourceInfo
from imgfleet.ports import Engine

# After a render estimated to need this much, freed memory goes back to the system: a few
# ms against a render of half a second or more, and the hundreds of MB render threads would
# keep (docs/memory.md, "Freed memory").
RELEASE_ABOVE = 256_000_000


@dataclass(frozen=True, slots=True)
class RenderJob:
    data: bytes
    info: SourceInfo
    plan: Plan
    options: ProcessingOptions
    format: ImageFormat
    quality: int
    deadline: float  # time.monotonic(), which every process on the host shares
    memory: int  # estimated peak bytes: what admission counts, and whether to release after


@dataclass(frozen=True, slots=True)
class RenderResult:
    body: bytes
    media_type: str
    format: ImageFormat | None  # None: the source was served unchanged
    seconds: float  # time spent in the engine's render
    warnings: RenderWarnings = NO_WARNINGS  # what the engine warned, collected by `run`


def prepare(
    probe: Callable[[bytes], SourceInfo],
    data: bytes,
    options: ProcessingOptions,
    target: ImageFormat | None,  # None: the source's own format
    negotiated: bool,
    lim: limits.Limits,
    qualities: Qualities,
    deadline: float,
    threads: int,
) -> RenderJob | RenderResult:
    """The render of `data` to run, or the source itself when it is served unchanged;
    `threads` is libvips' threads per render, which the memory estimate counts."""
    info = probe(data)
    limits.check_source(info, lim)
    if options.raw or info.format in options.skip_processing:
        return RenderResult(data, info.format.media_type, None, 0.0)
    fmt = output_format(target, negotiated, info)
    if info.format is ImageFormat.SVG:
        options = replace(options, enlarge=True)  # vectors scale up losslessly (imgproxy)
    plan = geometry.plan(options, info.width, info.height, info.exif_orientation)
    limits.check_result(plan, lim)
    quality = options.quality_for(fmt, qualities.for_format(fmt))
    memory = peak_bytes(info, plan, options, fmt, quality, source_bytes=len(data), threads=threads)
    return RenderJob(data, info, plan, options, fmt, quality, deadline, memory)


def run(engine: Engine, job: RenderJob) -> RenderResult:
    """`_render`, with what the engine warned during it on the result, or on the
    ImgfleetError it raised (`render_warnings`: a damaged source mostly fails, and the error
    pickles with it out of a render process), instead of in the log."""
    try:
        with engine.captured_warnings() as captured:
            result = _render(engine, job)
    except ImgfleetError as error:
        error.render_warnings = captured.warnings
        raise
    finally:
        if job.memory >= RELEASE_ABOVE:
            engine.release_memory()
    return replace(result, warnings=captured.warnings)


def _render(engine: Engine, job: RenderJob) -> RenderResult:
    started = time.monotonic()
    body = engine.render(
        job.data, job.info, job.plan, job.options, job.format, job.quality, job.deadline
    )
    return RenderResult(body, job.format.media_type, job.format, time.monotonic() - started)


def output_format(target: ImageFormat | None, negotiated: bool, info: SourceInfo) -> ImageFormat:
    """The format to save: negotiated AVIF becomes WebP for animations, which keep frames."""
    fmt = target or info.format
    if negotiated and fmt is ImageFormat.AVIF and info.pages > 1:
        return ImageFormat.WEBP
    return fmt if fmt.can_save else ImageFormat.PNG


_process_engine: Engine | None = None  # a render process's one engine


def start_process(make_engine: Callable[[], Engine]) -> None:
    """Initializer of a render process: make the engine its jobs run on."""
    global _process_engine
    _process_engine = make_engine()


def run_in_process(job: RenderJob) -> RenderResult:
    if _process_engine is None:
        raise RuntimeError("start_process did not run in this process")
    return run(_process_engine, job)


def describe(engine: Engine, data: bytes) -> Appearance:
    return engine.describe(data)


def describe_in_process(data: bytes) -> Appearance:
    """An upload's placeholder and dominant colour, on a render process's engine."""
    if _process_engine is None:
        raise RuntimeError("start_process did not run in this process")
    return _process_engine.describe(data)
