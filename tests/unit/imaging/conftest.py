"""Shared pieces for the imaging tests: an engine, hand-built plans, decoded results."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import pyvips

from imgfleet.core.encoding import EncoderConfig
from imgfleet.core.geometry import Box, Orientation, Plan
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.imaging import VipsEngine, configure_vips

configure_vips()


def make_plan(
    width: int,
    height: int,
    resize_width: int | None = None,
    resize_height: int | None = None,
    orientation: Orientation | None = None,
    **fields: Any,
) -> Plan:
    """A plan for a `width` x `height` stored source; the resize defaults to no resize."""
    o = orientation or Orientation()
    ow, oh = (height, width) if o.rotate % 180 else (width, height)
    base = Plan(
        orientation=o,
        oriented_width=ow,
        oriented_height=oh,
        crop=None,
        resize_width=resize_width or ow,
        resize_height=resize_height or oh,
        result_crop=None,
        smart_crop=False,
        canvas=None,
        padding=None,
        background=None,
    )
    return replace(base, **fields)


def decode(data: bytes) -> pyvips.Image:
    """The whole result, all frames for animations, decoded into memory."""
    image = pyvips.Image.new_from_buffer(data, "")
    if image.get("vips-loader") in ("gifload_buffer", "webpload_buffer"):
        image = pyvips.Image.new_from_buffer(data, "", n=-1)
    return image.copy_memory()


def loader(data: bytes) -> str:
    return str(pyvips.Image.new_from_buffer(data, "").get("vips-loader"))


def mean(image: pyvips.Image, box: Box | None = None) -> list[float]:
    """Mean of each band over `box` (the whole image by default)."""
    if box is not None:
        image = image.crop(box.left, box.top, box.width, box.height)
    return [image[i].avg() for i in range(image.bands)]


def close(a: list[float], b: list[float], tolerance: float = 25.0) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=False))


def dhash(image: pyvips.Image) -> int:
    """A 64-bit difference hash of the luminance: robust to codecs, not to content."""
    grey = image.flatten(background=[255, 255, 255]) if image.hasalpha() else image
    grey = grey.colourspace("b-w")[0]
    small = grey.resize(9 / grey.width, vscale=8 / grey.height, kernel="linear")
    rows = small.tolist()
    bits = 0
    for row in rows[:8]:
        for x in range(8):
            bits = (bits << 1) | int(row[x] > row[x + 1])
    return bits


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


@pytest.fixture
def engine() -> VipsEngine:
    return VipsEngine(EncoderConfig(), 50)


Render = Callable[..., bytes]


@pytest.fixture
def render(engine: VipsEngine) -> Render:
    """render(data, plan=None, fmt=PNG, quality=80, **options) with a 10 s deadline."""

    def run(
        data: bytes,
        plan: Plan | None = None,
        fmt: ImageFormat | str = ImageFormat.PNG,
        quality: int = 80,
        **options: Any,
    ) -> bytes:
        info = engine.probe(data)
        plan = plan or make_plan(info.width, info.height)
        opts = ProcessingOptions(**options)
        output = ImageFormat(fmt)
        return engine.render(data, info, plan, opts, output, quality, time.monotonic() + 10)

    return run
