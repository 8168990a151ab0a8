"""Failures: bad bytes are 4xx ImgfleetErrors, deadlines are 504, limits are 422."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import pyvips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgfleet.core.encoding import EncoderConfig
from imgfleet.core.errors import ImgfleetError, RenderTimeout, UnsupportedMedia
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.imaging import VipsEngine
from imgfleet.imaging.deadline import Deadline
from tests import imagegen

from .conftest import make_plan

SOURCES: dict[str, Callable[[], bytes]] = {
    "jpeg": lambda: imagegen.jpeg(200, 150),
    "progressive": lambda: imagegen.progressive_jpeg(200, 150),
    "png": lambda: imagegen.png(200, 150),
    "webp": lambda: imagegen.webp(200, 150),
    "avif": lambda: imagegen.avif(200, 150),
    "gif": lambda: imagegen.gif(200, 150),
    "gif-animated": lambda: imagegen.gif_animated(200, 150, 3),
    "tiff": lambda: imagegen.tiff(200, 150),
}


def attempt(engine: VipsEngine, data: bytes, fmt: ImageFormat = ImageFormat.PNG) -> bytes:
    """Probe and render a small fit, the way the service does."""
    info = engine.probe(data)
    scale = min(1.0, 32 / max(info.width, info.height))
    plan = make_plan(
        info.width,
        info.height,
        max(round(info.width * scale), 1),
        max(round(info.height * scale), 1),
    )
    return engine.render(data, info, plan, ProcessingOptions(), fmt, 80, time.monotonic() + 10)


@pytest.mark.parametrize("source", [s for s in SOURCES if s != "gif-animated"])
def test_truncated_sources_are_unsupported_media(engine: VipsEngine, source: str) -> None:
    data = imagegen.truncated(SOURCES[source]())
    with pytest.raises(UnsupportedMedia) as caught:
        attempt(engine, data, ImageFormat.JPEG)
    assert caught.value.status == 415
    assert caught.value.public_message.startswith("source")


def test_an_animation_cut_between_frames_keeps_its_whole_frames(engine: VipsEngine) -> None:
    data = imagegen.truncated(imagegen.gif_animated(200, 150, 3))
    info = engine.probe(data)
    assert info.pages == 2  # the frames libnsgif could read completely
    assert attempt(engine, data, ImageFormat.GIF).startswith(b"GIF")


@pytest.mark.parametrize("scale", [1, 4], ids=["libvips", "fast-path"])
def test_truncated_jpeg_message_names_the_format(engine: VipsEngine, scale: int) -> None:
    data = imagegen.truncated(imagegen.jpeg(200, 160))
    info = engine.probe(data)
    plan = make_plan(200, 160, 200 // scale, 160 // scale)
    with pytest.raises(UnsupportedMedia, match="jpeg image is corrupt or truncated"):
        engine.render(
            data, info, plan, ProcessingOptions(), ImageFormat.JPEG, 80, time.monotonic() + 9
        )


_VALID = [make() for make in SOURCES.values()]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    which=st.integers(0, len(_VALID) - 1),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
    cut=st.floats(0.05, 1.0),
)
def test_corrupted_bytes_raise_only_client_errors(
    which: int, edits: list[tuple[float, int]], cut: float
) -> None:
    engine = VipsEngine(EncoderConfig(), 4)
    data = bytearray(_VALID[which])
    for where, value in edits:
        data[int(where * len(data))] = value
    data = data[: max(int(len(data) * cut), 1)]
    try:
        attempt(engine, bytes(data))
    except ImgfleetError as exc:
        assert 400 <= exc.status < 500, exc
        assert not exc.is_fault


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_client_errors(data: bytes) -> None:
    engine = VipsEngine(EncoderConfig(), 4)
    try:
        attempt(engine, data)
    except ImgfleetError as exc:
        assert 400 <= exc.status < 500, exc


def test_a_deadline_in_the_past_is_a_render_timeout(engine: VipsEngine) -> None:
    data = imagegen.jpeg(64, 48)
    info = engine.probe(data)
    with pytest.raises(RenderTimeout) as caught:
        engine.render(
            data,
            info,
            make_plan(64, 48),
            ProcessingOptions(),
            ImageFormat.JPEG,
            80,
            time.monotonic() - 1,
        )
    assert caught.value.status == 504


def test_a_deadline_kills_libvips_work_in_progress(engine: VipsEngine) -> None:
    """A 3000x3000 blur with sigma 150 takes seconds; the deadline stops it inside libvips.

    libvips evaluates the blur lazily, inside the save: were it not killed, the render would
    finish after seconds and return bytes. How soon the kill comes is shown with an injected
    clock below, not with a wall-clock bound a busy shared machine could break.
    """
    data = imagegen.jpeg(3000, 3000)
    info = engine.probe(data)
    options = ProcessingOptions(blur=150)
    with pytest.raises(RenderTimeout):
        engine.render(
            data, info, make_plan(3000, 3000), options, ImageFormat.JPEG, 80, time.monotonic() + 0.2
        )


def test_a_deadline_kills_libvips_at_its_first_progress_report_past_the_deadline() -> None:
    looks = 0

    def clock() -> float:  # the deadline, at 1.0, passes at the fifth look
        nonlocal looks
        looks += 1
        return 0.0 if looks < 5 else 2.0

    deadline = Deadline(1.0, clock)
    image = pyvips.Image.black(2000, 2000) + 7
    deadline.watch(image)
    with pytest.raises(pyvips.Error, match="killed"):
        image.gaussblur(20).avg()  # reports its progress a few hundred times when not killed
    assert deadline.killed and deadline.passed
    assert looks == 5  # the clock was read at every report, and no report came after the kill


def test_svg_output_is_refused(engine: VipsEngine) -> None:
    data = imagegen.png(10, 10)
    with pytest.raises(UnsupportedMedia):
        engine.render(
            data,
            engine.probe(data),
            make_plan(10, 10),
            ProcessingOptions(),
            ImageFormat.SVG,
            80,
            time.monotonic() + 10,
        )
