"""Shrink-on-load factors: never fewer pixels than the plan resizes to."""

from __future__ import annotations

import pytest

from imgfleet.core.geometry import plan
from imgfleet.core.options import Crop, ImageFormat, ProcessingOptions, ResizingType
from imgfleet.core.shrink_on_load import jpeg_shrink, reduction, svg_scale, webp_scale
from imgfleet.core.source import SourceInfo


@pytest.mark.parametrize(
    ("factor", "shrink"),
    [(1.0, 1), (1.9, 1), (2.0, 2), (3.99, 2), (4, 4), (7.9, 4), (8, 8), (40, 8)],
)
def test_jpeg_shrink_leaves_at_least_the_pixels_needed(factor: float, shrink: int) -> None:
    assert jpeg_shrink(factor) == shrink


def test_webp_and_svg_scales() -> None:
    assert webp_scale(1.5) == 1.0
    assert webp_scale(5.5) == pytest.approx(1 / 5)
    info = SourceInfo(ImageFormat.SVG, 100, 100)
    assert svg_scale(0.25, info, 50e6) == pytest.approx(4.0)
    assert svg_scale(0.001, info, 1e6) == pytest.approx(10.0)  # capped by the pixel limit


def test_reduction_uses_the_crop_and_the_less_reduced_axis() -> None:
    fit = ProcessingOptions(width=500, height=500)
    assert reduction(plan(fit, 4000, 3000)) == 4000 / 500
    fill = ProcessingOptions(width=500, height=500, resizing_type=ResizingType.FILL)
    assert reduction(plan(fill, 4000, 3000)) == 4000 / 667  # the less-reduced axis
    cropped = ProcessingOptions(width=100, height=100, crop=Crop(1000, 800))
    assert reduction(plan(cropped, 4000, 3000)) == 10.0  # 1000 / 100: the crop, not 4000
