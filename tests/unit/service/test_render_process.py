"""A render process: set up by `render_job.start_process`, it renders without the web shell."""

from __future__ import annotations

import asyncio
import functools
import time

from imgfleet.core.encoding import EncoderConfig
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
        deadline = time.monotonic() + 30
        job = render_job.prepare(
            VipsEngine(EncoderConfig(), 50).probe,
            imagegen.jpeg(80, 60),
            ProcessingOptions(width=40),
            ImageFormat.PNG,
            False,
            Limits(10_000_000, 50, 200, 50, 8192),
            EncoderConfig().qualities,
            deadline,
        )
        assert isinstance(job, RenderJob)
        result = await asyncio.wrap_future(
            workers.submit(render_job.run_in_process, job, deadline)
        )
        assert (result.media_type, result.format) == ("image/png", ImageFormat.PNG)
        modules = await asyncio.wrap_future(workers.submit(loaded_modules, None, deadline))
    finally:
        workers.shutdown()
    assert "imgfleet.imaging.engine" in modules and "imgfleet.service.render_job" in modules
    assert [m for m in modules if m.startswith(WEB_SHELL)] == []
