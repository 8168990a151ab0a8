"""The Engine port: one behaviour suite for libvips and the test kit's fake engine."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from imgfleet.core import geometry
from imgfleet.core.encoding import EncoderConfig
from imgfleet.core.errors import RenderTimeout, UnsupportedMedia
from imgfleet.core.options import ImageFormat, ProcessingOptions, ResizingType
from imgfleet.core.render_warnings import NO_WARNINGS
from imgfleet.imaging import VipsEngine, configure_vips
from imgfleet.ports import Engine
from imgfleet.testing import FakeEngine, fake_image
from tests import imagegen


@dataclass
class Case:
    engine: Engine
    make: Callable[[int, int, ImageFormat], bytes]  # an image this engine reads
    again: Callable[[], Engine]  # another engine configured alike
    damaged: bytes  # a source whose header reads but whose render warns, then fails


def _vips_image(width: int, height: int, fmt: ImageFormat) -> bytes:
    return imagegen.png(width, height) if fmt is ImageFormat.PNG else imagegen.jpeg(width, height)


@pytest.fixture(params=["vips", "fake"])
def case(request: pytest.FixtureRequest) -> Case:
    if request.param == "vips":
        configure_vips()
        return Case(
            VipsEngine(EncoderConfig(), 50),
            _vips_image,
            lambda: VipsEngine(EncoderConfig(), 50),
            imagegen.truncated(imagegen.png(400, 300)),
        )
    damaged = fake_image(400, 300, ImageFormat.PNG, warnings=["not enough data"], corrupt=True)
    return Case(FakeEngine(), lambda w, h, f: fake_image(w, h, f), FakeEngine, damaged)


FIT_64 = ProcessingOptions(resizing_type=ResizingType.FIT, width=64, height=64)


def render(case: Case, data: bytes, fmt: ImageFormat, deadline: float) -> bytes:
    info = case.engine.probe(data)
    plan = geometry.plan(FIT_64, info.width, info.height)
    return case.engine.render(data, info, plan, FIT_64, fmt, 80, deadline)


@pytest.mark.parametrize("fmt", [ImageFormat.JPEG, ImageFormat.PNG])
def test_probe_reads_format_and_size(case: Case, fmt: ImageFormat) -> None:
    info = case.engine.probe(case.make(120, 90, fmt))
    assert (info.format, info.width, info.height, info.pages) == (fmt, 120, 90, 1)


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n"])
def test_probe_refuses_what_is_not_an_image(case: Case, data: bytes) -> None:
    with pytest.raises(UnsupportedMedia) as refused:
        case.engine.probe(data)
    assert refused.value.status == 415


@pytest.mark.parametrize("fmt", [ImageFormat.WEBP, ImageFormat.PNG])
def test_render_gives_the_planned_size_in_the_asked_format(case: Case, fmt: ImageFormat) -> None:
    out = render(case, case.make(120, 90, ImageFormat.JPEG), fmt, time.monotonic() + 30)
    info = case.engine.probe(out)
    assert (info.format, info.width, info.height) == (fmt, 64, 48)


def test_a_render_past_its_deadline_times_out(case: Case) -> None:
    with pytest.raises(RenderTimeout) as late:
        render(case, case.make(120, 90, ImageFormat.JPEG), ImageFormat.PNG, time.monotonic() - 1)
    assert late.value.status == 504


def test_the_version_names_the_configuration(case: Case) -> None:
    assert case.engine.version and case.engine.version == case.again().version


def test_a_damaged_sources_warnings_are_captured_not_logged(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING),
        case.engine.captured_warnings() as captured,
        pytest.raises(UnsupportedMedia),
    ):
        render(case, case.damaged, ImageFormat.PNG, time.monotonic() + 30)
    assert captured.warnings.count > 0 and "not enough data" in captured.warnings.messages
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_sound_render_warns_nothing(case: Case) -> None:
    with case.engine.captured_warnings() as captured:
        render(case, case.make(120, 90, ImageFormat.JPEG), ImageFormat.PNG, time.monotonic() + 30)
    assert captured.warnings == NO_WARNINGS


def test_memory_can_be_released_between_renders(case: Case) -> None:
    case.engine.release_memory()
    test_render_gives_the_planned_size_in_the_asked_format(case, ImageFormat.PNG)
