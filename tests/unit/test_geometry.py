"""Geometry plans, checked against imgproxy's documented and tested sizing behaviour.

Expected values come from imgproxy's docs (usage/processing) and the result sizes its own
processing tests assert (`test2.jpg` and `geometry.png` are both 200x100), worked through
by hand where a position is asserted.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgfleet.core.geometry import Box, Orientation, Plan, exif_orientation, plan
from imgfleet.core.options import (
    Color,
    Crop,
    Extend,
    Gravity,
    GravityType,
    Padding,
    ProcessingOptions,
    ResizingType,
    SecurityOverrides,
)

FIT, FILL, FILL_DOWN, FORCE, AUTO = (
    ResizingType.FIT,
    ResizingType.FILL,
    ResizingType.FILL_DOWN,
    ResizingType.FORCE,
    ResizingType.AUTO,
)
G = GravityType
LANDSCAPE, PORTRAIT, SQUARE = (200, 100), (100, 200), (100, 100)


def opts(**kw: Any) -> ProcessingOptions:
    return ProcessingOptions(**kw)


def final(p: Plan) -> tuple[int, int]:
    return p.width, p.height


def rs(kind: ResizingType, w: int, h: int, **kw: Any) -> ProcessingOptions:
    return opts(resizing_type=kind, width=w, height=h, **kw)


# --- every resizing type x landscape / portrait / square x width / height / both ---------

# (type, source, (width, height) requested, resized size, final size)
MATRIX = [
    (FIT, LANDSCAPE, (50, 0), (50, 25), (50, 25)),
    (FIT, LANDSCAPE, (0, 50), (100, 50), (100, 50)),
    (FIT, LANDSCAPE, (80, 60), (80, 40), (80, 40)),
    (FIT, PORTRAIT, (50, 0), (50, 100), (50, 100)),
    (FIT, PORTRAIT, (0, 50), (25, 50), (25, 50)),
    (FIT, PORTRAIT, (80, 60), (30, 60), (30, 60)),
    (FIT, SQUARE, (50, 0), (50, 50), (50, 50)),
    (FIT, SQUARE, (0, 50), (50, 50), (50, 50)),
    (FIT, SQUARE, (80, 60), (60, 60), (60, 60)),
    (FILL, LANDSCAPE, (50, 0), (50, 25), (50, 25)),
    (FILL, LANDSCAPE, (0, 50), (100, 50), (100, 50)),
    (FILL, LANDSCAPE, (80, 60), (120, 60), (80, 60)),
    (FILL, PORTRAIT, (50, 0), (50, 100), (50, 100)),
    (FILL, PORTRAIT, (0, 50), (25, 50), (25, 50)),
    (FILL, PORTRAIT, (80, 60), (80, 160), (80, 60)),
    (FILL, SQUARE, (50, 0), (50, 50), (50, 50)),
    (FILL, SQUARE, (0, 50), (50, 50), (50, 50)),
    (FILL, SQUARE, (80, 60), (80, 80), (80, 60)),
    (FILL_DOWN, LANDSCAPE, (50, 0), (50, 25), (50, 25)),
    (FILL_DOWN, LANDSCAPE, (0, 50), (100, 50), (100, 50)),
    (FILL_DOWN, LANDSCAPE, (80, 60), (120, 60), (80, 60)),
    (FILL_DOWN, PORTRAIT, (50, 0), (50, 100), (50, 100)),
    (FILL_DOWN, PORTRAIT, (0, 50), (25, 50), (25, 50)),
    (FILL_DOWN, PORTRAIT, (80, 60), (80, 160), (80, 60)),
    (FILL_DOWN, SQUARE, (50, 0), (50, 50), (50, 50)),
    (FILL_DOWN, SQUARE, (0, 50), (50, 50), (50, 50)),
    (FILL_DOWN, SQUARE, (80, 60), (80, 80), (80, 60)),
    # force: a side of 0 keeps the source's side
    (FORCE, LANDSCAPE, (50, 0), (50, 100), (50, 100)),
    (FORCE, LANDSCAPE, (0, 50), (200, 50), (200, 50)),
    (FORCE, LANDSCAPE, (80, 60), (80, 60), (80, 60)),
    (FORCE, PORTRAIT, (50, 0), (50, 200), (50, 200)),
    (FORCE, PORTRAIT, (0, 50), (100, 50), (100, 50)),
    (FORCE, PORTRAIT, (80, 60), (80, 60), (80, 60)),
    (FORCE, SQUARE, (50, 0), (50, 100), (50, 100)),
    (FORCE, SQUARE, (0, 50), (100, 50), (100, 50)),
    (FORCE, SQUARE, (80, 60), (80, 60), (80, 60)),
    # auto: fill when source and request have the same orientation, else fit
    (AUTO, LANDSCAPE, (50, 0), (50, 25), (50, 25)),
    (AUTO, LANDSCAPE, (0, 50), (100, 50), (100, 50)),
    (AUTO, LANDSCAPE, (80, 60), (120, 60), (80, 60)),
    (AUTO, LANDSCAPE, (60, 80), (60, 30), (60, 30)),
    (AUTO, PORTRAIT, (50, 0), (50, 100), (50, 100)),
    (AUTO, PORTRAIT, (0, 50), (25, 50), (25, 50)),
    (AUTO, PORTRAIT, (80, 60), (30, 60), (30, 60)),
    (AUTO, PORTRAIT, (60, 80), (60, 120), (60, 80)),
    (AUTO, SQUARE, (50, 0), (50, 50), (50, 50)),
    (AUTO, SQUARE, (0, 50), (50, 50), (50, 50)),
    (AUTO, SQUARE, (80, 60), (80, 80), (80, 60)),
    (AUTO, SQUARE, (60, 80), (60, 60), (60, 60)),
]


@pytest.mark.parametrize(("kind", "source", "request_", "resized", "out"), MATRIX)
def test_resizing_types(
    kind: ResizingType,
    source: tuple[int, int],
    request_: tuple[int, int],
    resized: tuple[int, int],
    out: tuple[int, int],
) -> None:
    p = plan(rs(kind, *request_), *source)
    assert (p.resize_width, p.resize_height) == resized
    assert final(p) == out
    assert p.crop is None and p.canvas is None and p.padding is None


def test_no_size_keeps_the_source() -> None:
    p = plan(opts(), 200, 100)
    assert (p.resize_width, p.resize_height) == (200, 100)
    assert p.result_crop is None and p.canvas is None and final(p) == (200, 100)


# --- imgproxy's own result-size tables (200x100 source) -------------------------------------

IMGPROXY_SIZES: dict[str, list[tuple[int, int, int, int]]] = {
    "fit": [
        (50, 50, 50, 25), (50, 20, 40, 20), (20, 50, 20, 10), (300, 300, 200, 100),
        (300, 50, 100, 50), (100, 300, 100, 50), (0, 50, 100, 50), (50, 0, 50, 25),
        (0, 200, 200, 100), (300, 0, 200, 100),
    ],
    "fit-enlarge": [
        (50, 50, 50, 25), (50, 20, 40, 20), (20, 50, 20, 10), (300, 300, 300, 150),
        (300, 125, 250, 125), (250, 300, 250, 125), (0, 50, 100, 50), (50, 0, 50, 25),
        (0, 200, 400, 200), (300, 0, 300, 150),
    ],
    "fit-extend": [
        (50, 50, 50, 50), (50, 20, 50, 20), (20, 50, 20, 50), (300, 300, 300, 300),
        (300, 125, 300, 125), (250, 300, 250, 300), (0, 50, 100, 50), (50, 0, 50, 25),
        (0, 200, 200, 200), (300, 0, 300, 100),
    ],
    "fit-exar": [
        (50, 50, 50, 50), (50, 20, 50, 20), (20, 50, 20, 50), (300, 300, 200, 200),
        (300, 125, 240, 100), (250, 500, 200, 400), (0, 50, 100, 50), (50, 0, 50, 25),
        (0, 200, 200, 100), (300, 0, 200, 100),
    ],
    "fill": [
        (50, 50, 50, 50), (50, 20, 50, 20), (20, 50, 20, 50), (300, 300, 200, 100),
        (300, 50, 200, 50), (100, 300, 100, 100), (0, 50, 100, 50), (50, 0, 50, 25),
        (0, 200, 200, 100), (300, 0, 200, 100),
    ],
    "fill-enlarge": [
        (50, 50, 50, 50), (50, 20, 50, 20), (20, 50, 20, 50), (300, 300, 300, 300),
        (300, 125, 300, 125), (250, 300, 250, 300), (0, 50, 100, 50), (50, 0, 50, 25),
        (0, 200, 400, 200), (300, 0, 300, 150),
    ],
    "fill-extend": [
        (50, 50, 50, 50), (50, 20, 50, 20), (20, 50, 20, 50), (300, 300, 300, 300),
        (300, 125, 300, 125), (250, 300, 250, 300), (300, 50, 300, 50), (100, 300, 100, 300),
        (0, 50, 100, 50), (50, 0, 50, 25), (0, 200, 200, 200), (300, 0, 300, 100),
    ],
    "fill-exar": [
        (50, 50, 50, 50), (50, 20, 50, 20), (20, 50, 20, 50), (300, 300, 200, 200),
        (300, 125, 240, 100), (250, 500, 200, 400), (300, 50, 300, 50), (100, 300, 100, 300),
        (0, 50, 100, 50), (50, 0, 50, 25), (0, 200, 200, 100), (300, 0, 200, 100),
    ],
    "fill-down": [
        (50, 50, 50, 50), (50, 20, 50, 20), (20, 50, 20, 50), (300, 300, 100, 100),
        (300, 125, 200, 83), (250, 300, 83, 100), (0, 50, 100, 50), (50, 0, 50, 25),
        (0, 200, 200, 100), (300, 0, 200, 100),
    ],
    "fill-down-enlarge": [
        (50, 50, 50, 50), (50, 20, 50, 20), (20, 50, 20, 50), (300, 300, 300, 300),
        (300, 125, 300, 125), (250, 300, 250, 300), (0, 50, 100, 50), (50, 0, 50, 25),
        (0, 200, 400, 200), (300, 0, 300, 150),
    ],
    "fill-down-extend": [
        (50, 50, 50, 50), (50, 20, 50, 20), (20, 50, 20, 50), (300, 300, 300, 300),
        (300, 125, 300, 125), (250, 300, 250, 300), (300, 50, 300, 50), (100, 300, 100, 300),
        (0, 50, 100, 50), (50, 0, 50, 25), (0, 200, 200, 200), (300, 0, 300, 100),
    ],
    "fill-down-exar": [
        (50, 50, 50, 50), (50, 20, 50, 20), (20, 50, 20, 50), (300, 300, 100, 100),
        (300, 125, 200, 83), (250, 300, 83, 100), (0, 50, 100, 50), (50, 0, 50, 25),
        (0, 200, 200, 100), (300, 0, 200, 100),
    ],
}  # fmt: skip

ON = Extend(enabled=True)


VARIANTS: dict[str, dict[str, Any]] = {
    "fit": {"resizing_type": FIT},
    "fit-enlarge": {"resizing_type": FIT, "enlarge": True},
    "fit-extend": {"resizing_type": FIT, "extend": ON},
    "fit-exar": {"resizing_type": FIT, "extend_aspect_ratio": ON},
    "fill": {"resizing_type": FILL},
    "fill-enlarge": {"resizing_type": FILL, "enlarge": True},
    "fill-extend": {"resizing_type": FILL, "extend": ON},
    "fill-exar": {"resizing_type": FILL, "extend_aspect_ratio": ON},
    "fill-down": {"resizing_type": FILL_DOWN},
    "fill-down-enlarge": {"resizing_type": FILL_DOWN, "enlarge": True},
    "fill-down-extend": {"resizing_type": FILL_DOWN, "extend": ON},
    "fill-down-exar": {"resizing_type": FILL_DOWN, "extend_aspect_ratio": ON},
}


@pytest.mark.parametrize(
    ("variant", "w", "h", "out_w", "out_h"),
    [(name, *row) for name, rows in IMGPROXY_SIZES.items() for row in rows],
)
def test_imgproxy_result_sizes(variant: str, w: int, h: int, out_w: int, out_h: int) -> None:
    assert final(plan(opts(width=w, height=h, **VARIANTS[variant]), 200, 100)) == (out_w, out_h)


# imgproxy's TestResultSizeLimit (max_result_dimension) on the 200x100 source
PAD = Padding(top=100, right=200, bottom=300, left=400)
LIMITS = [
    (1000, FIT, 100, 100, {}, (100, 50)),
    (50, FIT, 100, 100, {}, (50, 25)),
    (50, FIT, 0, 0, {}, (50, 25)),
    (100, FIT, 0, 100, {}, (100, 50)),
    (50, FIT, 150, 0, {}, (50, 25)),
    (100, FIT, 1000, 1000, {}, (100, 50)),
    (100, FIT, 1000, 1000, {"enlarge": True}, (100, 50)),
    (100, FIT, 1000, 2000, {"extend": ON}, (50, 100)),
    (100, FIT, 1000, 2000, {"extend_aspect_ratio": ON}, (50, 100)),
    (100, FIT, 100, 150, {"rotate": 90}, (50, 100)),
    (100, FIT, 0, 0, {"rotate": 90}, (50, 100)),
    (200, FIT, 100, 100, {"padding": PAD}, (200, 129)),
    (1000, FILL, 100, 100, {}, (100, 100)),
    (50, FILL, 100, 100, {}, (50, 50)),
    (50, FILL, 1000, 50, {}, (50, 13)),
    (50, FILL, 100, 1000, {}, (50, 50)),
    (50, FILL, 0, 0, {}, (50, 25)),
    (100, FILL, 0, 100, {}, (100, 50)),
    (50, FILL, 150, 0, {}, (50, 25)),
    (100, FILL, 1000, 1000, {}, (100, 50)),
    (100, FILL, 1000, 1000, {"enlarge": True}, (100, 100)),
    (100, FILL, 1000, 2000, {"extend": ON}, (50, 100)),
    (100, FILL, 1000, 2000, {"extend_aspect_ratio": ON}, (50, 100)),
    (100, FILL, 100, 150, {"rotate": 90}, (67, 100)),
    (100, FILL, 0, 0, {"rotate": 90}, (50, 100)),
    (200, FILL, 100, 100, {"padding": PAD}, (200, 144)),
    (1000, FILL_DOWN, 100, 100, {}, (100, 100)),
    (50, FILL_DOWN, 100, 100, {}, (50, 50)),
    (50, FILL_DOWN, 1000, 50, {}, (50, 3)),
    (50, FILL_DOWN, 100, 1000, {}, (5, 50)),
    (50, FILL_DOWN, 0, 0, {}, (50, 25)),
    (100, FILL_DOWN, 0, 100, {}, (100, 50)),
    (50, FILL_DOWN, 150, 0, {}, (50, 25)),
    (100, FILL_DOWN, 1000, 1000, {}, (100, 100)),
    (100, FILL_DOWN, 1000, 1000, {"enlarge": True}, (100, 100)),
    (100, FILL_DOWN, 1000, 2000, {"extend": ON}, (50, 100)),
    (100, FILL_DOWN, 1000, 2000, {"extend_aspect_ratio": ON}, (50, 100)),
    (100, FILL_DOWN, 1000, 1500, {"rotate": 90}, (67, 100)),
    (100, FILL_DOWN, 0, 0, {"rotate": 90}, (50, 100)),
    (200, FILL_DOWN, 100, 100, {"padding": PAD}, (200, 144)),
    (200, FILL_DOWN, 1000, 1000, {"padding": PAD}, (200, 144)),
]


@pytest.mark.parametrize(("limit", "kind", "w", "h", "extra", "out"), LIMITS)
def test_max_result_dimension(
    limit: int, kind: ResizingType, w: int, h: int, extra: dict[str, Any], out: tuple[int, int]
) -> None:
    security = SecurityOverrides(max_result_dimension=limit)
    assert final(plan(rs(kind, w, h, security=security, **extra), 200, 100)) == out


def test_no_limit_when_max_result_dimension_is_unset_or_zero() -> None:
    for limit in (None, 0):
        security = SecurityOverrides(max_result_dimension=limit)
        assert final(plan(opts(security=security), 4000, 3000)) == (4000, 3000)


# --- enlarge -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "enlarge", "resized", "out"),
    [
        (FIT, False, (100, 100), (100, 100)),
        (FIT, True, (150, 150), (150, 150)),
        (FILL, False, (100, 100), (100, 100)),
        (FILL, True, (200, 200), (200, 150)),
        # fill-down keeps the requested aspect ratio when it cannot fill the size
        (FILL_DOWN, False, (100, 100), (100, 75)),
        (FILL_DOWN, True, (200, 200), (200, 150)),
        # force without enlarge shrinks both sides by the factor that avoids enlarging
        (FORCE, False, (100, 75), (100, 75)),
        (FORCE, True, (200, 150), (200, 150)),
    ],
)
def test_enlarge(
    kind: ResizingType, enlarge: bool, resized: tuple[int, int], out: tuple[int, int]
) -> None:
    p = plan(rs(kind, 200, 150, enlarge=enlarge), 100, 100)
    assert (p.resize_width, p.resize_height) == resized
    assert final(p) == out


def test_enlarge_off_never_upscales_a_side_only_request() -> None:
    assert final(plan(rs(FIT, 400, 0), 200, 100)) == (200, 100)
    assert final(plan(rs(FIT, 400, 0, enlarge=True), 200, 100)) == (400, 200)


# --- extend --------------------------------------------------------------------------------

# 100x100 source, fit 200x150 without enlarge: image 100x100 on a 200x150 canvas
EXTEND_POSITIONS = [
    (Gravity(G.CENTER), (50, 26)),  # (200-100+1)/2 = 50.5 -> 50; 25.5 -> 26 (half to even)
    (Gravity(G.NORTH), (50, 0)),
    (Gravity(G.SOUTH), (50, 50)),
    (Gravity(G.EAST), (100, 26)),
    (Gravity(G.WEST), (0, 26)),
    (Gravity(G.NORTH_EAST), (100, 0)),
    (Gravity(G.NORTH_WEST), (0, 0)),
    (Gravity(G.SOUTH_EAST), (100, 50)),
    (Gravity(G.SOUTH_WEST), (0, 50)),
    (Gravity(G.EAST, 10, 0), (90, 26)),  # offsets push inwards from the edge
    (Gravity(G.NORTH, 0, 10), (50, 10)),
    (Gravity(G.SOUTH_WEST, 5, 5), (5, 45)),
    (Gravity(G.CENTER, 10, -10), (60, 16)),
    (Gravity(G.CENTER, 0.1, 0), (70, 26)),  # relative: 0.1 of the canvas width
    (Gravity(G.WEST, 500, 0), (100, 26)),  # clamped inside the canvas
    (Gravity(G.FOCUS_POINT, 0.25, 0.5), (0, 25)),
    (Gravity(G.FOCUS_POINT, 0.6, 0.9), (70, 50)),
]


@pytest.mark.parametrize(("gravity", "at"), EXTEND_POSITIONS)
def test_extend_gravity(gravity: Gravity, at: tuple[int, int]) -> None:
    p = plan(rs(FIT, 200, 150, extend=Extend(True, gravity)), 100, 100)
    assert (p.resize_width, p.resize_height) == (100, 100)
    assert p.canvas == Box(at[0], at[1], 200, 150)
    assert final(p) == (200, 150)


def test_extend_off_keeps_the_small_image() -> None:
    p = plan(rs(FIT, 200, 150), 100, 100)
    assert p.canvas is None and final(p) == (100, 100)


def test_extend_with_one_side_keeps_the_other() -> None:
    assert plan(rs(FIT, 300, 0, extend=ON), 200, 100).canvas == Box(50, 0, 300, 100)


def test_extend_not_needed_when_image_fills_the_request() -> None:
    assert plan(rs(FILL, 100, 50, extend=ON), 200, 100).canvas is None


def test_extend_offsets_scale_with_dpr() -> None:
    # geometry.png (200x100), extend 500x500 north with y offset 5: dpr 2 cannot enlarge
    ext = Extend(True, Gravity(G.NORTH, 0, 5))
    assert final(plan(opts(width=500, height=500, extend=ext, dpr=2), 200, 100)) == (500, 500)
    # dpr 0.5 halves everything, the offset included
    p = plan(opts(width=500, height=500, extend=ext, dpr=0.5), 200, 100)
    assert (p.resize_width, p.resize_height) == (100, 50)
    # (250-100+1)/2 = 75.5 -> 76 and 5 * 0.5 = 2.5 -> 2: both round half to even
    assert p.canvas == Box(76, 2, 250, 250)


@pytest.mark.parametrize(
    ("gravity", "canvas"),
    [
        (Gravity(G.CENTER), Box(0, 150, 200, 400)),
        (Gravity(G.NORTH), Box(0, 0, 200, 400)),
        (Gravity(G.SOUTH), Box(0, 300, 200, 400)),
        (Gravity(G.NORTH, 0, 5), Box(0, 5, 200, 400)),
    ],
)
def test_extend_aspect_ratio(gravity: Gravity, canvas: Box) -> None:
    # imgproxy: 200x100 source, 300x600 requested -> 200x400
    p = plan(opts(width=300, height=600, extend_aspect_ratio=Extend(True, gravity)), 200, 100)
    assert p.canvas == canvas and final(p) == (200, 400)


def test_extend_aspect_ratio_dpr() -> None:
    ear = Extend(True, Gravity(G.NORTH, 0, 5))
    assert final(plan(opts(width=300, height=600, extend_aspect_ratio=ear, dpr=0.5), 200, 100)) == (
        150,
        300,
    )
    assert final(plan(opts(width=300, height=600, extend_aspect_ratio=ear, dpr=2), 200, 100)) == (
        200,
        400,
    )


def test_extend_aspect_ratio_needs_both_sides_and_a_different_ratio() -> None:
    ear = Extend(True)
    assert plan(opts(width=300, extend_aspect_ratio=ear), 200, 100).canvas is None
    assert plan(opts(width=400, height=200, extend_aspect_ratio=ear), 200, 100).canvas is None


def test_extend_aspect_ratio_after_extend_is_a_no_op() -> None:
    p = plan(rs(FIT, 300, 300, extend=ON, extend_aspect_ratio=ON), 200, 100)
    assert p.canvas == Box(50, 100, 300, 300)


def test_extend_aspect_ratio_wider() -> None:
    p = plan(opts(width=300, height=125, extend_aspect_ratio=ON), 200, 100)
    assert p.canvas == Box(20, 0, 240, 100)


# --- fill: where the result crop sits ----------------------------------------------------


@pytest.mark.parametrize(
    ("source", "gravity", "at"),
    [
        # 200x100 -> fill 100x100: the horizontal position moves
        (LANDSCAPE, Gravity(G.CENTER), (50, 0)),
        (LANDSCAPE, Gravity(G.NORTH), (50, 0)),
        (LANDSCAPE, Gravity(G.SOUTH), (50, 0)),
        (LANDSCAPE, Gravity(G.EAST), (100, 0)),
        (LANDSCAPE, Gravity(G.WEST), (0, 0)),
        (LANDSCAPE, Gravity(G.NORTH_EAST), (100, 0)),
        (LANDSCAPE, Gravity(G.NORTH_WEST), (0, 0)),
        (LANDSCAPE, Gravity(G.SOUTH_EAST), (100, 0)),
        (LANDSCAPE, Gravity(G.SOUTH_WEST), (0, 0)),
        (LANDSCAPE, Gravity(G.WEST, 30, 0), (30, 0)),
        (LANDSCAPE, Gravity(G.EAST, 30, 0), (70, 0)),
        (LANDSCAPE, Gravity(G.CENTER, 30, 0), (80, 0)),
        (LANDSCAPE, Gravity(G.CENTER, -30, 0), (20, 0)),
        (LANDSCAPE, Gravity(G.CENTER, 0.1, 0), (70, 0)),
        (LANDSCAPE, Gravity(G.CENTER, -0.1, 0), (30, 0)),
        (LANDSCAPE, Gravity(G.CENTER, 200, 0), (100, 0)),
        (LANDSCAPE, Gravity(G.WEST, -20, 0), (0, 0)),
        (LANDSCAPE, Gravity(G.FOCUS_POINT, 0.6, 0.5), (70, 0)),
        (LANDSCAPE, Gravity(G.FOCUS_POINT, 0.75, 0.5), (100, 0)),
        (LANDSCAPE, Gravity(G.FOCUS_POINT, 0.1, 0.5), (0, 0)),
        # 100x200 -> fill 100x100: the vertical position moves
        (PORTRAIT, Gravity(G.CENTER), (0, 50)),
        (PORTRAIT, Gravity(G.NORTH), (0, 0)),
        (PORTRAIT, Gravity(G.SOUTH), (0, 100)),
        (PORTRAIT, Gravity(G.EAST), (0, 50)),
        (PORTRAIT, Gravity(G.WEST), (0, 50)),
        (PORTRAIT, Gravity(G.NORTH_EAST), (0, 0)),
        (PORTRAIT, Gravity(G.NORTH_WEST), (0, 0)),
        (PORTRAIT, Gravity(G.SOUTH_EAST), (0, 100)),
        (PORTRAIT, Gravity(G.SOUTH_WEST), (0, 100)),
        (PORTRAIT, Gravity(G.NORTH, 0, 15), (0, 15)),
        (PORTRAIT, Gravity(G.SOUTH, 0, 15), (0, 85)),
        (PORTRAIT, Gravity(G.CENTER, 0, 0.25), (0, 100)),
        (PORTRAIT, Gravity(G.FOCUS_POINT, 0.5, 0.3), (0, 10)),
    ],
)
def test_fill_gravity(source: tuple[int, int], gravity: Gravity, at: tuple[int, int]) -> None:
    p = plan(rs(FILL, 100, 100, gravity=gravity), *source)
    assert (p.resize_width, p.resize_height) == source
    assert p.result_crop == Box(at[0], at[1], 100, 100)
    assert not p.smart_crop
    assert final(p) == (100, 100)


def test_fill_centre_rounds_half_to_even() -> None:
    # a 3x1 strip from 300x300 scaled to 100x100: (100-50+1)/2 = 25.5 -> 26
    p = plan(rs(FILL, 100, 50), 300, 300)
    assert p.result_crop == Box(0, 26, 100, 50)


def test_fill_offsets_scale_with_dpr() -> None:
    p = plan(rs(FILL, 100, 100, dpr=2, gravity=Gravity(G.WEST, 30, 0)), 400, 200)
    assert (p.resize_width, p.resize_height) == (400, 200)
    assert p.result_crop == Box(60, 0, 200, 200)


def test_smart_gravity_keeps_the_size_and_flags_the_crop() -> None:
    p = plan(rs(FILL, 100, 100, gravity=Gravity(G.SMART)), 200, 100)
    assert p.smart_crop
    assert p.result_crop == Box(50, 0, 100, 100)
    assert not plan(rs(FIT, 100, 100, gravity=Gravity(G.SMART)), 200, 100).smart_crop


def test_fill_down_crops_to_the_requested_ratio() -> None:
    p = plan(rs(FILL_DOWN, 300, 125, gravity=Gravity(G.SOUTH)), 200, 100)
    assert (p.resize_width, p.resize_height) == (200, 100)
    assert p.result_crop == Box(0, 17, 200, 83)


# imgproxy's crop suite on geometry.png (200x100): fill sizes with dpr
@pytest.mark.parametrize(
    ("w", "h", "dpr", "gravity", "out"),
    [
        (100, 26, 1.0, Gravity(G.CENTER), (100, 26)),
        (100, 26, 2.0, Gravity(G.CENTER), (200, 52)),
        (100, 26, 0.5, Gravity(G.NORTH, 0, 5), (50, 13)),
        (100, 26, 2.0, Gravity(G.NORTH, 0, 5), (200, 52)),
        (26, 100, 0.5, Gravity(G.NORTH, 5, 0), (13, 50)),
        (26, 100, 2.0, Gravity(G.NORTH, 5, 0), (26, 100)),
        (100, 26, 0.5, Gravity(G.NORTH, 0, 0.1), (50, 13)),
        (100, 26, 2.0, Gravity(G.NORTH, 0, 0.1), (200, 52)),
    ],
)
def test_fill_with_dpr(w: int, h: int, dpr: float, gravity: Gravity, out: tuple[int, int]) -> None:
    assert final(plan(rs(FILL, w, h, dpr=dpr, gravity=gravity), 200, 100)) == out


# --- crop before resizing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("crop", "main", "box"),
    [
        (Crop(100, 50), Gravity(), Box(50, 26, 100, 50)),
        (Crop(0.5, 0.5), Gravity(), Box(50, 26, 100, 50)),
        (Crop(0.5, 0), Gravity(), Box(50, 0, 100, 100)),
        (Crop(0, 40), Gravity(), Box(0, 30, 200, 40)),
        (Crop(0.333, 1), Gravity(G.WEST), Box(0, 50, 67, 1)),
        (Crop(100.9, 50.9), Gravity(), Box(50, 26, 100, 50)),
        (Crop(100, 50, Gravity(G.NORTH_WEST)), Gravity(G.SOUTH), Box(0, 0, 100, 50)),
        (Crop(100, 50), Gravity(G.SOUTH), Box(50, 50, 100, 50)),
        (Crop(100, 50, Gravity(G.SOUTH_EAST)), Gravity(), Box(100, 50, 100, 50)),
        (Crop(100, 50, Gravity(G.CENTER, 10, 10)), Gravity(), Box(60, 36, 100, 50)),
        (Crop(100, 50, Gravity(G.CENTER, 0.1, 0.1)), Gravity(), Box(70, 36, 100, 50)),
        (Crop(100, 50, Gravity(G.FOCUS_POINT, 0.9, 0.1)), Gravity(), Box(100, 0, 100, 50)),
        (Crop(100, 50, Gravity(G.SMART)), Gravity(), Box(50, 26, 100, 50)),
        (Crop(100, 50), Gravity(G.SMART), Box(50, 26, 100, 50)),
        (Crop(300, 50), Gravity(), Box(0, 26, 200, 50)),
        (Crop(0.001, 0.001), Gravity(G.NORTH_WEST), Box(0, 0, 1, 1)),
    ],
)
def test_crop_before_resize(crop: Crop, main: Gravity, box: Box) -> None:
    p = plan(opts(crop=crop, gravity=main), 200, 100)
    assert p.crop == box
    assert (p.resize_width, p.resize_height) == (box.width, box.height)
    assert not p.smart_crop


@pytest.mark.parametrize(
    ("crop", "source"),
    [
        (Crop(0, 0), (200, 100)),
        (Crop(200, 100), (200, 100)),
        (Crop(500, 500), (200, 100)),
        (Crop(1, 0), (1, 100)),
        (Crop(0.9999, 0), (1, 100)),
    ],
)
def test_crop_covering_the_image_is_dropped(crop: Crop, source: tuple[int, int]) -> None:
    assert plan(opts(crop=crop), *source).crop is None


def test_crop_then_resize_uses_the_cropped_size() -> None:
    p = plan(rs(FIT, 50, 0, crop=Crop(100, 50)), 200, 100)
    assert (p.resize_width, p.resize_height) == (50, 25)
    p = plan(rs(FILL, 50, 50, crop=Crop(0.5, 0), gravity=Gravity(G.EAST)), 200, 100)
    assert p.crop == Box(100, 0, 100, 100)  # the main gravity guides both crops
    assert (p.resize_width, p.resize_height) == (50, 50) and p.result_crop is None


def test_crop_offsets_ignore_dpr() -> None:
    # imgproxy's crop suite: crop 50x50 with dpr 0.5 gives 25x25
    crop = Crop(50, 50, Gravity(G.CENTER, 10, 10))
    p = plan(opts(crop=crop, dpr=0.5), 200, 100)
    assert p.crop == Box(86, 36, 50, 50)
    assert final(p) == (25, 25)


def test_crop_is_in_the_oriented_frame() -> None:
    # stored 100x200 with EXIF 6 is a 200x100 landscape once upright
    p = plan(opts(crop=Crop(0.5, 0, Gravity(G.WEST))), 100, 200, exif_tag=6)
    assert (p.oriented_width, p.oriented_height) == (200, 100)
    assert p.crop == Box(0, 0, 100, 100)


# --- dpr and zoom -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "out"),
    [
        (rs(FIT, 50, 0, dpr=2), (100, 50)),
        (rs(FIT, 50, 0, dpr=3), (150, 75)),
        (rs(FIT, 100, 0, dpr=3), (200, 100)),  # dpr cannot enlarge
        (rs(FIT, 100, 0, dpr=3, enlarge=True), (300, 150)),
        (rs(FIT, 100, 0, dpr=0.5), (50, 25)),
        (rs(FIT, 400, 0, dpr=0.5), (200, 100)),  # too small for the request: kept
        (rs(FIT, 300, 0, dpr=0.5), (150, 75)),
        (opts(dpr=2), (200, 100)),
        (opts(dpr=2, enlarge=True), (400, 200)),
    ],
)
def test_dpr(options: ProcessingOptions, out: tuple[int, int]) -> None:
    assert final(plan(options, 200, 100)) == out


@pytest.mark.parametrize(
    ("options", "out"),
    [
        (opts(zoom_x=0.5, zoom_y=0.5), (100, 50)),
        (opts(zoom_x=0.5, zoom_y=0.25), (100, 25)),
        (rs(FIT, 100, 0, zoom_x=0.5, zoom_y=0.5), (50, 25)),
        (opts(zoom_x=2, zoom_y=2), (200, 100)),  # zoom cannot enlarge either
        (opts(zoom_x=2, zoom_y=2, enlarge=True), (400, 200)),
        (rs(FILL, 100, 100, zoom_x=0.5, zoom_y=0.5), (50, 50)),
        (rs(FIT, 50, 0, zoom_x=2, zoom_y=2, dpr=2), (200, 100)),
    ],
)
def test_zoom(options: ProcessingOptions, out: tuple[int, int]) -> None:
    assert final(plan(options, 200, 100)) == out


def test_zoom_does_not_scale_offsets_but_dpr_does() -> None:
    grav = Gravity(G.WEST, 10, 0)
    zoomed = plan(rs(FILL, 100, 100, gravity=grav, zoom_x=0.5, zoom_y=0.5), 200, 100)
    assert zoomed.result_crop == Box(10, 0, 50, 50)
    dpr = plan(rs(FILL, 100, 100, gravity=grav, dpr=0.5), 200, 100)
    assert dpr.result_crop == Box(5, 0, 50, 50)


def test_scale_rounds_half_away_from_zero() -> None:
    p = plan(rs(FIT, 0, 1), 5, 2)  # 5 / 2 = 2.5 -> 3, as Go's math.Round
    assert (p.resize_width, p.resize_height) == (3, 1)


def test_low_dpr_does_not_shrink_an_image_that_cannot_reach_the_target() -> None:
    # imgproxy divides dpr by the enlargement it refused, and the target grows with it
    assert final(plan(rs(FILL, 100, 100, zoom_x=3, zoom_y=3, dpr=0.25), 200, 100)) == (150, 75)
    assert final(plan(rs(FIT, 400, 400, dpr=0.5), 100, 100)) == (100, 100)
    # ... except with extend, where the composition must not depend on dpr
    p = plan(rs(FIT, 400, 400, dpr=0.5, extend=ON), 100, 100)
    assert (p.resize_width, p.resize_height) == (50, 50)
    assert p.canvas == Box(76, 76, 200, 200)


def test_requested_sides_that_round_to_zero_stay_requested() -> None:
    # imgproxy rounds these sides to 0 px and then skips the crop on that side
    assert final(plan(rs(FILL, 400, 1, dpr=0.25), 1000, 1000)) == (100, 1)
    assert final(plan(rs(FILL_DOWN, 1000, 1), 20, 20)) == (20, 1)
    assert final(plan(rs(FILL_DOWN, 1, 1000), 20, 20)) == (1, 20)


# --- min-width / min-height -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "resized", "out"),
    [
        # the scale grows until the minimum is met; any requested side is then cut back
        # to the request (imgproxy's warning on width + min-width)
        (rs(FIT, 0, 25, min_width=100), (100, 50), (100, 25)),
        (rs(FIT, 25, 0, min_height=50), (100, 50), (25, 50)),
        (rs(FIT, 0, 50, min_width=80), (100, 50), (100, 50)),  # already wide enough
        (rs(FIT, 50, 0, min_width=100), (100, 50), (50, 50)),
        (rs(FIT, 100, 100, min_height=100), (200, 100), (100, 100)),
        # min sizes apply even without enlarge
        (opts(min_width=400), (400, 200), (400, 200)),
        (opts(min_height=50), (200, 100), (200, 100)),
    ],
)
def test_min_sizes(
    options: ProcessingOptions, resized: tuple[int, int], out: tuple[int, int]
) -> None:
    p = plan(options, 200, 100)
    assert (p.resize_width, p.resize_height) == resized
    assert final(p) == out


# --- orientation ---------------------------------------------------------------------------


@pytest.mark.parametrize("tag", range(1, 9))
def test_exif_orientations(tag: int) -> None:
    p = plan(rs(FIT, 50, 0), 200, 100, exif_tag=tag)
    assert p.orientation == exif_orientation(tag)
    swapped = tag >= 5
    assert (p.oriented_width, p.oriented_height) == ((100, 200) if swapped else (200, 100))
    assert final(p) == ((50, 100) if swapped else (50, 25))


@pytest.mark.parametrize("tag", [0, 9, 42])
def test_unknown_exif_tags_are_upright(tag: int) -> None:
    assert plan(opts(), 200, 100, exif_tag=tag).orientation == Orientation()


def test_auto_rotate_off_ignores_exif() -> None:
    p = plan(opts(auto_rotate=False), 200, 100, exif_tag=6)
    assert p.orientation == Orientation()
    assert (p.oriented_width, p.oriented_height) == (200, 100)


@pytest.mark.parametrize(
    ("rotate", "oriented"),
    [(0, (200, 100)), (90, (100, 200)), (180, (200, 100)), (270, (100, 200)), (360, (200, 100))],
)
def test_rotate(rotate: int, oriented: tuple[int, int]) -> None:
    p = plan(opts(rotate=rotate), 200, 100)
    assert p.orientation == Orientation(rotate % 360)
    assert (p.oriented_width, p.oriented_height) == oriented
    assert final(p) == oriented


@pytest.mark.parametrize(
    ("exif", "rotate", "flip_h", "flip_v", "expected"),
    [
        (6, 270, False, False, Orientation()),
        (6, 90, False, False, Orientation(180)),
        (8, 90, False, False, Orientation()),
        (2, 90, False, False, Orientation(270, True)),  # mirror, then turn: transverse
        (2, 0, True, False, Orientation()),
        (1, 0, True, True, Orientation(180)),
        (1, 90, True, False, Orientation(90, True)),
        (1, 0, False, True, Orientation(0, False, True)),
        (5, 0, True, False, Orientation(90)),
        (3, 180, False, False, Orientation()),
    ],
)
def test_orientation_composition(
    exif: int, rotate: int, flip_h: bool, flip_v: bool, expected: Orientation
) -> None:
    options = opts(rotate=rotate, flip_horizontal=flip_h, flip_vertical=flip_v)
    assert plan(options, 200, 100, exif_tag=exif).orientation == expected


def test_rotated_request_is_in_the_oriented_frame() -> None:
    p = plan(rs(FILL, 50, 100, rotate=90), 200, 100)
    assert (p.oriented_width, p.oriented_height) == (100, 200)
    assert (p.resize_width, p.resize_height) == (50, 100) and p.result_crop is None


# --- padding and background -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpr", "out"),
    [(0.5, (120, 80)), (1.0, (240, 160)), (2.0, (480, 320))],
)
def test_padding_follows_dpr(dpr: float, out: tuple[int, int]) -> None:
    # imgproxy's padding suite: 200x100 with enlarge, left 10 top 20 right 30 bottom 40
    pad = Padding(top=20, right=30, bottom=40, left=10)
    p = plan(opts(padding=pad, dpr=dpr, enlarge=True), 200, 100)
    assert p.padding == tuple(round(v * dpr) for v in (20, 30, 40, 10))
    assert final(p) == out


def test_padding_is_added_after_extend() -> None:
    p = plan(rs(FIT, 300, 300, extend=ON, padding=Padding(1, 2, 3, 4)), 200, 100)
    assert final(p) == (306, 304)


def test_padding_rounds_half_to_even_and_drops_zeros() -> None:
    p = plan(opts(padding=Padding(5, 3, 1, 0), dpr=0.5, enlarge=True), 200, 100)
    assert p.padding == (2, 2, 0, 0)
    assert plan(opts(padding=Padding(0, 0, 0, 0)), 200, 100).padding is None
    assert plan(opts(padding=Padding(1, 0, 0, 0), dpr=0.1, enlarge=True), 200, 100).padding is None


def test_background_passes_through() -> None:
    assert plan(opts(background=Color(1, 2, 3)), 10, 10).background == Color(1, 2, 3)
    assert plan(opts(), 10, 10).background is None


# --- never zero -----------------------------------------------------------------------------


def test_sizes_never_reach_zero() -> None:
    p = plan(rs(FIT, 1, 0), 10_000, 1)
    assert (p.resize_width, p.resize_height) == (1, 1)
    p = plan(rs(FORCE, 1, 1, zoom_x=0.01, zoom_y=0.01), 50, 50)
    assert min(final(p)) >= 1 and min(p.resize_width, p.resize_height) >= 1
    p = plan(rs(FILL_DOWN, 1000, 1, dpr=0.01), 20, 20)
    assert min(final(p)) >= 1


def test_plan_is_deterministic_and_pure() -> None:
    options = rs(FILL, 120, 80, gravity=Gravity(G.SOUTH_EAST, 3, 4), dpr=1.5)
    assert plan(options, 640, 480, 6) == plan(options, 640, 480, 6)


# --- properties ---------------------------------------------------------------------------

GRAVITY_TYPES = [t for t in GravityType if t is not G.FOCUS_POINT]

offsets = st.one_of(
    st.just(0.0),
    st.floats(-0.9, 0.9, allow_nan=False),
    st.integers(-300, 300).map(float),
)
compass = st.builds(Gravity, st.sampled_from(GRAVITY_TYPES), offsets, offsets)
focus = st.builds(
    Gravity, st.just(G.FOCUS_POINT), st.floats(0, 1, allow_nan=False), st.floats(0, 1)
)
gravities = st.one_of(compass, focus)
crop_sides = st.one_of(
    st.just(0.0), st.floats(0.001, 0.999, allow_nan=False), st.integers(1, 5000).map(float)
)
crops = st.one_of(st.none(), st.builds(Crop, crop_sides, crop_sides, st.none() | gravities))
factors = st.floats(0.05, 5, allow_nan=False)
sides = st.integers(0, 3000)


@st.composite
def any_options(draw: st.DrawFn) -> ProcessingOptions:
    zoom = draw(factors)
    return ProcessingOptions(
        resizing_type=draw(st.sampled_from(list(ResizingType))),
        width=draw(sides),
        height=draw(sides),
        min_width=draw(st.sampled_from([0, 0, 1, 50, 700])),
        min_height=draw(st.sampled_from([0, 0, 1, 50, 700])),
        zoom_x=zoom,
        zoom_y=draw(st.sampled_from([zoom, zoom / 2, 1.0])),
        dpr=draw(factors),
        enlarge=draw(st.booleans()),
        extend=Extend(draw(st.booleans()), draw(gravities)),
        extend_aspect_ratio=Extend(draw(st.booleans()), draw(gravities)),
        gravity=draw(gravities),
        crop=draw(crops),
        padding=draw(st.none() | st.builds(Padding, *[st.integers(0, 50)] * 4)),
        auto_rotate=draw(st.booleans()),
        rotate=draw(st.sampled_from([0, 90, 180, 270])),
        flip_horizontal=draw(st.booleans()),
        flip_vertical=draw(st.booleans()),
        security=SecurityOverrides(max_result_dimension=draw(st.none() | st.integers(1, 4000))),
    )


sources = st.tuples(st.integers(1, 4000), st.integers(1, 4000), st.integers(0, 9))


def _inside(inner: Box, width: int, height: int) -> bool:
    return (
        inner.width > 0
        and inner.height > 0
        and inner.left >= 0
        and inner.top >= 0
        and inner.left + inner.width <= width
        and inner.top + inner.height <= height
    )


@settings(max_examples=300, deadline=None)
@given(any_options(), sources)
def test_plan_boxes_lie_inside_their_images(
    options: ProcessingOptions, source: tuple[int, int, int]
) -> None:
    width, height, tag = source
    p = plan(options, width, height, tag)
    assert {p.oriented_width, p.oriented_height} == {width, height}
    if p.crop:
        assert _inside(p.crop, p.oriented_width, p.oriented_height)
        assert (p.crop.width, p.crop.height) != (p.oriented_width, p.oriented_height)
    assert p.resize_width > 0 and p.resize_height > 0
    if p.result_crop:
        assert _inside(p.result_crop, p.resize_width, p.resize_height)
    image = p.result_crop or Box(0, 0, p.resize_width, p.resize_height)
    if p.canvas:
        placed = Box(p.canvas.left, p.canvas.top, image.width, image.height)
        assert _inside(placed, p.canvas.width, p.canvas.height)
    assert p.padding is None or (min(p.padding) >= 0 and max(p.padding) > 0)
    assert p.width > 0 and p.height > 0
    assert p.smart_crop <= (p.result_crop is not None)


@settings(max_examples=300, deadline=None)
@given(any_options(), sources)
def test_result_never_exceeds_the_request_without_enlarge_or_extend(
    options: ProcessingOptions, source: tuple[int, int, int]
) -> None:
    options = replace(
        options,
        enlarge=False,
        extend=Extend(),
        extend_aspect_ratio=Extend(),
        min_width=0,
        min_height=0,
        padding=None,
    )
    p = plan(options, *source)
    # Below dpr 1 imgproxy stops shrinking an image that cannot reach the target anyway
    # (it divides dpr by the missing enlargement), so there the bound is the dpr-1 request.
    dpr = max(options.dpr, 1.0)
    requested_w = math.floor(options.width * dpr * options.zoom_x + 0.5)
    requested_h = math.floor(options.height * dpr * options.zoom_y + 0.5)
    if options.width:
        assert p.width <= max(1, requested_w)
    if options.height:
        assert p.height <= max(1, requested_h)
    # and nothing is ever enlarged: at most the (cropped) source
    in_w, in_h = (p.crop.width, p.crop.height) if p.crop else (p.oriented_width, p.oriented_height)
    assert p.resize_width <= in_w and p.resize_height <= in_h
