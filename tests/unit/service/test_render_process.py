"""A render process: set up by `render_job.start_process`, it renders without the web shell."""

from __future__ import annotations

import asyncio
import functools
import time

import pytest

from imgfleet.core.encoding import EncoderConfig
from imgfleet.core.errors import UnsupportedMedia
from imgfleet.core.limits import Limits
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.imaging import VipsEngine
from imgfleet.service import render_job
from imgfleet.service.render_job import RenderJob
from imgfleet.service.worker_processes import ProcessWorkers
from tests import imagegen
from tests.process_probe import loaded_modules

WEB_SHELL = ("imgfleet.http", "imgfleet.wiring", "starlette", "fastapi", "uvicorn")


async def test_a_render_process_renders_and_never_imports_the_web_shell() -> None:
    make_engine = functools.partial(VipsEngine.for_process, EncoderConfig(), 50)
    workers = ProcessWorkers(1, render_job.start_process, (make_engine,))
    try:
        job = RenderJob(
            imagegen.jpeg(80, 60),
            ProcessingOptions(width=40),
            ImageFormat.PNG,
            False,
            Limits(10_000_000, 50, 200, 50, 8192),
            EncoderConfig().qualities,
            time.monotonic() + 30,
        )
        result = await asyncio.wrap_future(workers.submit(render_job.run_in_process, job))
        assert (result.media_type, result.format) == ("image/png", ImageFormat.PNG)
        modules = await asyncio.wrap_future(workers.submit(loaded_modules))
    finally:
        workers.shutdown()
    assert "imgfleet.imaging.engine" in modules and "imgfleet.service.render_job" in modules
    assert [m for m in modules if m.startswith(WEB_SHELL)] == []


async def test_a_render_process_returns_the_warnings_of_a_render_that_fails() -> None:
    """A truncated JPEG fails (415) after libvips warned from its worker threads: the
    warnings cross back to the server on the error."""
    make_engine = functools.partial(VipsEngine.for_process, EncoderConfig(), 50)
    workers = ProcessWorkers(1, render_job.start_process, (make_engine,))
    job = RenderJob(
        imagegen.truncated(imagegen.jpeg(400, 300)),
        ProcessingOptions(width=300),  # under 2x: libvips decodes it, not simplejpeg
        ImageFormat.PNG,
        False,
        Limits(10_000_000, 50, 200, 50, 8192),
        EncoderConfig().qualities,
        time.monotonic() + 30,
    )
    try:
        with pytest.raises(UnsupportedMedia) as failed:
            await asyncio.wrap_future(workers.submit(render_job.run_in_process, job))
    finally:
        workers.shutdown()
    warnings = failed.value.render_warnings
    assert warnings.count > 0 and any("error in tile" in m for m in warnings.messages)
