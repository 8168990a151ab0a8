"""`VipsEngine.plan`: the geometry a miss computes, asked of the engine (the benchmark's way)."""

from __future__ import annotations

import time

from imgfleet.core import geometry
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.imaging import VipsEngine
from tests import imagegen

from .conftest import decode


def test_the_engine_plans_as_a_miss_does_and_renders_its_plan(engine: VipsEngine) -> None:
    data = imagegen.jpeg_with_orientation(6, 64, 48)  # stored 48 x 64, shown 64 x 48
    info = engine.probe(data)
    options = ProcessingOptions(width=32)
    plan = engine.plan(info, options)
    assert plan == geometry.plan(options, info.width, info.height, info.exif_orientation)
    assert (plan.resize_width, plan.resize_height) == (32, 24)
    body = engine.render(data, info, plan, options, ImageFormat.PNG, 80, time.monotonic() + 10)
    image = decode(body)
    assert (image.width, image.height) == (32, 24)
