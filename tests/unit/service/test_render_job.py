"""A render job: prepared from the header, it keeps what the engine warned, on its result
or on the error it raises."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from imgfleet.core.encoding import Qualities
from imgfleet.core.errors import UnsupportedMedia
from imgfleet.core.limits import Limits
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.core.render_warnings import NO_WARNINGS, RenderWarnings
from imgfleet.service import render_job
from imgfleet.service.render_job import RenderJob
from imgfleet.testing import FakeEngine, fake_image


def job(data: bytes) -> RenderJob:
    prepared = render_job.prepare(
        FakeEngine().probe,
        data,
        ProcessingOptions(width=40),
        ImageFormat.PNG,
        False,
        Limits(10_000_000, 50, 200, 50, 8192),
        Qualities(),
        time.monotonic() + 30,
        threads=2,
    )
    assert isinstance(prepared, RenderJob)
    return prepared


def test_a_render_that_warns_returns_its_warnings() -> None:
    warned = fake_image(80, 60, warnings=["a", "b", "a"])
    result = render_job.run(FakeEngine(), job(warned))
    assert result.warnings == RenderWarnings(3, ("a", "b"))
    assert render_job.run(FakeEngine(), job(fake_image(80, 60))).warnings == NO_WARNINGS


def test_a_render_that_fails_keeps_its_warnings_on_the_error() -> None:
    corrupt = fake_image(80, 60, warnings=["error in tile 0 x 8"], corrupt=True)
    with pytest.raises(UnsupportedMedia) as failed:
        render_job.run(FakeEngine(), job(corrupt))
    assert failed.value.render_warnings == RenderWarnings(1, ("error in tile 0 x 8",))


def test_a_render_that_needed_much_memory_releases_it_after() -> None:
    engine = FakeEngine()
    small = job(fake_image(80, 60))
    render_job.run(engine, small)
    assert small.memory < render_job.RELEASE_ABOVE and engine.releases == 0
    big = replace(small, memory=render_job.RELEASE_ABOVE)
    render_job.run(engine, big)
    assert engine.releases == 1
    with pytest.raises(UnsupportedMedia):  # released after a failure too
        render_job.run(engine, replace(big, data=fake_image(80, 60, corrupt=True)))
    assert engine.releases == 2
