"""A render process: set up by `render_job.start_process`, it renders without the web shell."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator

import pytest

from imgfleet.core.encoding import EncoderConfig
from imgfleet.core.errors import RenderTimeout, UnsupportedMedia
from imgfleet.core.limits import Limits
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.imaging import VipsEngine
from imgfleet.service import render_job
from imgfleet.service.render_job import RenderJob, RenderResult
from imgfleet.service.worker_processes import ProcessWorkers
from tests import imagegen
from tests.process_probe import loaded_modules

WEB_SHELL = ("imgfleet.http", "imgfleet.wiring", "starlette", "fastapi", "uvicorn")


@pytest.fixture
async def workers() -> AsyncIterator[ProcessWorkers]:
    make_engine = functools.partial(VipsEngine.for_process, EncoderConfig(), 50)
    pool = ProcessWorkers(1, render_job.start_process, (make_engine,), grace=0.5)
    yield pool
    pool.shutdown()


def prepared(
    data: bytes, options: ProcessingOptions, fmt: ImageFormat, seconds: float = 30
) -> RenderJob:
    job = render_job.prepare(
        VipsEngine(EncoderConfig(), 50).probe,
        data,
        options,
        fmt,
        False,
        Limits(10_000_000, 50, 200, 50, 8192),
        EncoderConfig().qualities,
        time.monotonic() + seconds,
        threads=2,
    )
    assert isinstance(job, RenderJob)
    return job


async def run(workers: ProcessWorkers, job: RenderJob) -> RenderResult:
    return await asyncio.wrap_future(workers.submit(render_job.run_in_process, job, job.deadline))


async def test_a_render_process_renders_and_never_imports_the_web_shell(
    workers: ProcessWorkers,
) -> None:
    result = await run(
        workers, prepared(imagegen.jpeg(80, 60), ProcessingOptions(width=40), ImageFormat.PNG)
    )
    assert (result.media_type, result.format) == ("image/png", ImageFormat.PNG)
    modules = await asyncio.wrap_future(workers.submit(loaded_modules, None, time.monotonic() + 30))
    assert "imgfleet.imaging.engine" in modules and "imgfleet.service.render_job" in modules
    assert [m for m in modules if m.startswith(WEB_SHELL)] == []


async def test_a_render_process_returns_the_warnings_of_a_render_that_fails(
    workers: ProcessWorkers,
) -> None:
    """A truncated JPEG fails (415) after libvips warned from its worker threads: the
    warnings cross back to the server on the error."""
    job = prepared(
        imagegen.truncated(imagegen.jpeg(400, 300)),
        ProcessingOptions(width=300),  # under 2x: libvips decodes it, not simplejpeg
        ImageFormat.PNG,
    )
    with pytest.raises(UnsupportedMedia) as failed:
        await run(workers, job)
    warnings = failed.value.render_warnings
    assert warnings.count > 0 and any("error in tile" in m for m in warnings.messages)


async def test_an_enlargement_is_stopped_at_its_deadline(workers: ProcessWorkers) -> None:
    """An 8192 x 8192 GIF, which the GIF encoder cannot be stopped in, takes tens of seconds:
    its 504 comes at the deadline plus the grace at most, and the next render runs."""
    big = prepared(
        imagegen.jpeg(1600, 1200),
        ProcessingOptions(width=8192, height=8192, enlarge=True),
        ImageFormat.GIF,
        seconds=1.0,
    )
    started = time.monotonic()
    with pytest.raises(RenderTimeout):
        await run(workers, big)
    assert time.monotonic() - started < 1.0 + 0.5 + 1.0  # deadline + grace + slack
    small = prepared(imagegen.jpeg(80, 60), ProcessingOptions(width=40), ImageFormat.PNG)
    assert (await run(workers, small)).format is ImageFormat.PNG
