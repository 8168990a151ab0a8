"""A fresh render process for memory measurements (bench/memory.py, bench/freed.py).

One function runs in a spawned process and sends its figures back; that process reads its
own resident memory from /proc (VmRSS, and the high-water mark VmHWM, which it can reset),
sets glibc's malloc as a render process does, and renders through the engine as
`render_job.run` does, with the options the server parses from a request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgfleet.imaging import VipsEngine
from imgfleet.settings import Settings
from imgfleet.wiring.config import encoder_config
from imgfleet.wiring.dependencies import open_dependencies

MB = 1_000_000
TIMEOUT = 1800.0  # s: what one spawned process may take
# glibc's mallopt, as the render processes set it (service/worker_processes.py).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
WORKER_MALLOPT = {M_TRIM_THRESHOLD: 16 * 1024 * 1024, M_MMAP_THRESHOLD: 32 * 1024 * 1024}


@dataclass(frozen=True, slots=True)
class Job:
    """One render, as a value a spawned process can take."""

    case: str
    path: Path
    warm_path: Path
    options: Any  # the parsed URL options (imgfleet's ProcessingOptions), pickled
    warm_options: Any
    quality: int
    concurrency: int
    worker_mallopt: bool = True  # glibc as the render processes set it, else its defaults


def status_kb(field_name: str) -> int:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field_name}")


def reset_high_water() -> None:
    """Start VmHWM again from the current VmRSS (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def set_mallopt(params: dict[int, int]) -> None:
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(name)
        for param, value in params.items():
            libc.mallopt(param, value)


def make_engine() -> VipsEngine:
    """The engine a render process makes, with the default settings."""
    settings = Settings()
    return VipsEngine(encoder_config(settings.formats), settings.limits.max_src_megapixels)


def render(engine: VipsEngine, data: bytes, options: Any, quality: int) -> tuple[Any, Any, bytes]:
    """(info, plan, body) of one render, as `render_job.run` does it."""
    info = engine.probe(data)
    plan = engine.plan(info, options)
    deadline = time.monotonic() + TIMEOUT
    return info, plan, engine.render(data, info, plan, options, options.format, quality, deadline)


def in_fresh_process(target: Any, *args: Any) -> Any:
    """Run `target(*args, conn)` in a spawned process; what it sends back."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe(duplex=False)
    process = context.Process(target=target, args=(*args, theirs))
    process.start()
    theirs.close()
    try:
        if not ours.poll(TIMEOUT):
            raise TimeoutError(f"{target.__name__}{args[:1]}: no answer in {TIMEOUT} s")
        return ours.recv()
    except EOFError:
        raise RuntimeError(f"{target.__name__}: the process died ({process.exitcode})") from None
    finally:
        process.join(timeout=60)
        if process.is_alive():
            process.kill()


def resolve(settings: Settings, paths: Sequence[str]) -> list[Any]:
    """The parsed options of each request path, as the server resolves them."""

    async def parse() -> list[Any]:
        async with open_dependencies(settings) as deps:
            return [deps.delivery.resolve(path).options for path in paths]

    return asyncio.run(parse())


def quality_of(settings: Settings, options: Any) -> int:
    """The quality the server saves `options.format` with."""
    fmt = options.format
    return int(options.quality_for(fmt, encoder_config(settings.formats).qualities.for_format(fmt)))
