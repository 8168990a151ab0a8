"""The Engine port: one behaviour suite for libvips and the test kit's fake engine."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import pyvips
import thash

from imgfleet.core import geometry
from imgfleet.core.appearance import Appearance
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
    solid: Callable[[int, int, RGBA], bytes]  # a PNG of one colour (with alpha unless 255)
    animated: bytes  # an animated GIF whose first frame is FIRST_FRAME, the others not


RGBA = tuple[int, int, int, int]
FIRST_FRAME = imagegen.FRAME_COLOURS[0]


def _vips_image(width: int, height: int, fmt: ImageFormat) -> bytes:
    return imagegen.png(width, height) if fmt is ImageFormat.PNG else imagegen.jpeg(width, height)


def _vips_solid(width: int, height: int, colour: RGBA) -> bytes:
    bands = list(colour) if colour[3] < 255 else list(colour[:3])
    image = pyvips.Image.black(width, height, bands=len(bands)) + bands
    return bytes(image.cast("uchar").copy(interpretation="srgb").pngsave_buffer())


def _fake_solid(width: int, height: int, colour: RGBA) -> bytes:
    return fake_image(width, height, ImageFormat.PNG, color=list(colour))


@pytest.fixture(params=["vips", "fake"])
def case(request: pytest.FixtureRequest) -> Case:
    if request.param == "vips":
        configure_vips()
        return Case(
            VipsEngine(EncoderConfig(), 50),
            _vips_image,
            lambda: VipsEngine(EncoderConfig(), 50),
            imagegen.truncated(imagegen.png(400, 300)),
            _vips_solid,
            imagegen.gif_animated(32, 24, 3),
        )
    damaged = fake_image(400, 300, ImageFormat.PNG, warnings=["not enough data"], corrupt=True)
    animated = fake_image(32, 24, ImageFormat.GIF, pages=3, color=list(FIRST_FRAME))
    return Case(
        FakeEngine(),
        lambda w, h, f: fake_image(w, h, f),
        FakeEngine,
        damaged,
        _fake_solid,
        animated,
    )


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


def rgb(appearance: Appearance) -> tuple[int, int, int]:
    text = appearance.dominant_color
    assert len(text) == 7 and text[0] == "#" and text == text.lower()
    return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)


def placeholder(appearance: Appearance) -> tuple[int, int, np.ndarray]:
    """The placeholder decoded by the library that made it: width, height, mean RGBA."""
    width, height, pixels = thash.thumb_hash_to_rgba(base64.b64decode(appearance.placeholder))
    mean = np.frombuffer(pixels, dtype=np.uint8).reshape(-1, 4).mean(axis=0)
    return width, height, mean


def near(actual: object, expected: object, tolerance: float) -> bool:
    return bool(
        np.all(np.abs(np.asarray(actual, float) - np.asarray(expected, float)) <= tolerance)
    )


def test_a_solid_red_image_is_dominantly_red(case: Case) -> None:
    assert near(rgb(case.engine.describe(case.solid(120, 90, (255, 0, 0, 255)))), (255, 0, 0), 2)


@pytest.mark.parametrize("colour", [(30, 120, 200, 255), (240, 230, 20, 255), (0, 0, 0, 255)])
def test_the_placeholder_decodes_to_the_images_colour_and_shape(case: Case, colour: RGBA) -> None:
    described = case.engine.describe(case.solid(120, 90, colour))
    width, height, mean = placeholder(described)
    assert width > height  # landscape, as the source
    assert near(mean, colour, 8)
    assert near(rgb(described), colour[:3], 2)


def test_a_png_with_alpha_keeps_it_in_the_placeholder(case: Case) -> None:
    described = case.engine.describe(case.solid(64, 64, (20, 180, 20, 128)))
    _, _, mean = placeholder(described)
    assert near(mean[3], 128, 16)  # translucent, not opaque
    assert near(mean[:3], (20, 180, 20), 8)
    assert near(rgb(described), (20, 180, 20), 2)


def test_an_animation_is_described_by_its_first_frame(case: Case) -> None:
    described = case.engine.describe(case.animated)
    assert near(rgb(described), FIRST_FRAME, 4)
    assert near(placeholder(described)[2][:3], FIRST_FRAME, 10)


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n"])
def test_describe_refuses_what_probe_refuses_with_the_same_error(case: Case, data: bytes) -> None:
    with pytest.raises(UnsupportedMedia) as probed:
        case.engine.probe(data)
    with pytest.raises(UnsupportedMedia) as described:
        case.engine.describe(data)
    assert type(described.value) is type(probed.value)
    assert described.value.status == probed.value.status == 415
    assert str(described.value) == str(probed.value)


def test_describe_refuses_a_damaged_source(case: Case) -> None:
    with case.engine.captured_warnings(), pytest.raises(UnsupportedMedia) as refused:
        case.engine.describe(case.damaged)
    assert refused.value.status == 415
