"""Geometry: every size and position of a rendition, computed once before any pixel moves.

The engine executes a `Plan` literally; all of imgproxy's sizing rules live here.

Frames. The *oriented frame* is the source after EXIF orientation (when `auto_rotate`),
then the `rotate` option, then flips: the image as the viewer sees it. Every box in a
plan is in oriented-frame pixels of the full-resolution source (for `crop`) or in pixels of
the resized image (for `result_crop`), so an engine that shrinks on load just divides.

Steps, in imgproxy's order (its `processing/` pipeline):

1. orient: EXIF transform, then `rotate` (clockwise), then flips, folded into one of the
   eight `Orientation` values;
2. crop: `crop` sizes >= 1 are pixels (truncated), < 1 a fraction of the oriented side
   (rounded, at least 1), 0 the full side; clamped to the image and placed by the crop's
   gravity (else the main one; `sm` places it centred); offsets are not scaled by dpr;
3. scale: imgproxy's `calcScale` (fit/fill/fill-down/force/auto, `0` keeps the aspect,
   zoom, enlarge, dpr, min-width/min-height), sizes rounded half away from zero;
4. result crop: the scaled image is cut to the target size (`width`/`height` times the
   effective dpr and zoom) whenever it is larger; fill-down without enlarge shrinks the
   target to the requested aspect ratio instead; placed by the main gravity, offsets
   scaled by the effective dpr;
5. extend, then extend_aspect_ratio: the canvas grows to the target size (or to the
   requested aspect ratio) and the image is placed by that option's gravity;
6. padding, scaled by the effective dpr (rounded half to even).

Trim needs pixels: an engine that trims calls `plan()` again with the trimmed size, as
imgproxy recomputes its parameters after trimming.

Where this departs from imgproxy on purpose: the crop is placed in the oriented frame
(imgproxy places it on the stored pixels with a rotated gravity, which can move a centred
crop by a pixel and mirrors the wrong way for a flipped EXIF source rotated by 90/270);
a requested side that dpr and zoom shrink below half a pixel stays 1 pixel instead of
rounding to 0, which imgproxy reads as "not requested" and then skips that side's crop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from imgfleet.core.options import Color, Gravity, GravityType, ProcessingOptions, ResizingType


@dataclass(frozen=True, slots=True)
class Box:
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Orientation:
    """How to turn the decoded pixels into the oriented frame: rotate, then mirror."""

    rotate: int = 0  # clockwise degrees: 0, 90, 180, 270
    flip_horizontal: bool = False  # mirror left-right after rotating
    flip_vertical: bool = False  # mirror top-bottom after rotating


@dataclass(frozen=True, slots=True)
class Plan:
    orientation: Orientation
    oriented_width: int  # source size in the oriented frame
    oriented_height: int
    crop: Box | None  # before resizing, oriented frame, full-resolution pixels
    resize_width: int  # exact size the (cropped) image is resized to
    resize_height: int
    result_crop: Box | None  # after resizing (fill), in resized pixels
    smart_crop: bool  # choose result_crop's position by libvips attention, keep its size
    canvas: Box | None  # extend: final width/height, and where the image sits on it
    padding: tuple[int, int, int, int] | None  # top, right, bottom, left, added last
    background: Color | None

    @property
    def width(self) -> int:
        """Final width of the rendition."""
        w = self.canvas.width if self.canvas else (self.result_crop or _size(self)).width
        return w + (self.padding[1] + self.padding[3] if self.padding else 0)

    @property
    def height(self) -> int:
        """Final height of the rendition."""
        h = self.canvas.height if self.canvas else (self.result_crop or _size(self)).height
        return h + (self.padding[0] + self.padding[2] if self.padding else 0)


def _size(plan: Plan) -> Box:
    return Box(0, 0, plan.resize_width, plan.resize_height)


def exif_orientation(tag: int) -> Orientation:
    """The transform that displays pixels stored with EXIF orientation `tag` (1..8) upright."""
    return _EXIF.get(tag, Orientation())


_EXIF = {
    1: Orientation(),
    2: Orientation(0, True, False),
    3: Orientation(180),
    4: Orientation(0, False, True),
    5: Orientation(90, True, False),
    6: Orientation(90),
    7: Orientation(270, True, False),
    8: Orientation(270),
}


def plan(options: ProcessingOptions, width: int, height: int, exif_tag: int = 1) -> Plan:
    """Compute the plan for a source of `width` x `height` stored pixels."""
    orientation = _orientation(options, exif_tag)
    swapped = _matrix(orientation)[0] == 0
    oriented_w, oriented_h = (height, width) if swapped else (width, height)

    crop = _crop(options, oriented_w, oriented_h)
    in_w, in_h = (crop.width, crop.height) if crop else (oriented_w, oriented_h)

    sizes = _limit(options, in_w, in_h, _sizes(options, in_w, in_h, *_scales(options, in_w, in_h)))

    result_crop = _result_crop(options.gravity, sizes)
    out = result_crop or Box(0, 0, sizes.scaled_w, sizes.scaled_h)

    canvas = None
    if options.extend.enabled:
        extend = options.extend.gravity
        canvas = _extend(out, sizes.target_w, sizes.target_h, extend, sizes.dpr)
    # An extended image already has the requested aspect ratio: nothing left to add then.
    if canvas is None and options.extend_aspect_ratio.enabled and sizes.ear_w and sizes.ear_h:
        ear_gravity = options.extend_aspect_ratio.gravity
        canvas = _extend(out, sizes.ear_w, sizes.ear_h, ear_gravity, sizes.dpr)

    return Plan(
        orientation=orientation,
        oriented_width=oriented_w,
        oriented_height=oriented_h,
        crop=crop,
        resize_width=sizes.scaled_w,
        resize_height=sizes.scaled_h,
        result_crop=result_crop,
        smart_crop=result_crop is not None and options.gravity.type is GravityType.SMART,
        canvas=canvas,
        padding=_padding(options, sizes.dpr),
        background=options.background,
    )


# --- orientation -------------------------------------------------------------------------

# A transform of the pixel grid as a 2x2 integer matrix (a, b, c, d) acting on (x, y) with
# y pointing down: x' = a*x + b*y, y' = c*x + d*y. Composition is matrix product.
_Matrix = tuple[int, int, int, int]
_IDENTITY: _Matrix = (1, 0, 0, 1)
_ROTATE_90: _Matrix = (0, -1, 1, 0)  # clockwise on screen
_MIRROR_X: _Matrix = (-1, 0, 0, 1)
_MIRROR_Y: _Matrix = (1, 0, 0, -1)


def _mul(m: _Matrix, n: _Matrix) -> _Matrix:
    """`m` after `n`."""
    return (
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
    )


def _matrix(o: Orientation) -> _Matrix:
    m = _IDENTITY
    for _ in range(o.rotate // 90 % 4):
        m = _mul(_ROTATE_90, m)
    if o.flip_horizontal:
        m = _mul(_MIRROR_X, m)
    if o.flip_vertical:
        m = _mul(_MIRROR_Y, m)
    return m


# The eight EXIF values cover the eight rigid transforms of a rectangle exactly once.
_BY_MATRIX = {_matrix(o): o for o in _EXIF.values()}


def _orientation(options: ProcessingOptions, exif_tag: int) -> Orientation:
    """EXIF (when auto-rotating), then the `rotate` option, then the flip options."""
    exif = exif_orientation(exif_tag) if options.auto_rotate else Orientation()
    user = Orientation(options.rotate, options.flip_horizontal, options.flip_vertical)
    return _BY_MATRIX[_mul(_matrix(user), _matrix(exif))]


# --- integer arithmetic as imgproxy does it ---------------------------------------------


def _round(x: float) -> int:
    """Round half away from zero (Go's `math.Round`)."""
    t = math.trunc(x)
    return int(t + math.copysign(1.0, x)) if abs(x - t) >= 0.5 else int(t)


def _scale(a: int, factor: float) -> int:
    return 0 if a == 0 else _round(a * factor)


def _scale_even(a: int, factor: float) -> int:
    """Scale and round half to even (Python's `round`, Go's `math.RoundToEven`)."""
    return 0 if a == 0 else round(a * factor)


def _min_nonzero(a: int, b: int) -> int:
    return b if a == 0 else a if b == 0 else min(a, b)


# --- positions -----------------------------------------------------------------------------

_NORTH = {GravityType.NORTH, GravityType.NORTH_EAST, GravityType.NORTH_WEST}
_SOUTH = {GravityType.SOUTH, GravityType.SOUTH_EAST, GravityType.SOUTH_WEST}
_EAST = {GravityType.EAST, GravityType.NORTH_EAST, GravityType.SOUTH_EAST}
_WEST = {GravityType.WEST, GravityType.NORTH_WEST, GravityType.SOUTH_WEST}


def _offset(outer: int, value: float, dpr: float) -> int:
    """A gravity offset in pixels: |value| >= 1 is pixels (times dpr), else a fraction."""
    return round(value * dpr) if abs(value) >= 1.0 else _scale_even(outer, value)


def _position(
    outer_w: int, outer_h: int, inner_w: int, inner_h: int, gravity: Gravity, dpr: float
) -> tuple[int, int]:
    """Top-left of an `inner` box placed on `outer` by `gravity`, kept inside `outer`.

    Compass offsets push inwards from the named edge (or right/down from the centre);
    `fp` centres the box on the focus point; anything else (`ce`, `sm`) centres it.
    """
    if gravity.type is GravityType.FOCUS_POINT:
        left = _scale_even(outer_w, gravity.x) - inner_w // 2
        top = _scale_even(outer_h, gravity.y) - inner_h // 2
    else:
        off_x = _offset(outer_w, gravity.x, dpr)
        off_y = _offset(outer_h, gravity.y, dpr)
        left = round((outer_w - inner_w + 1) / 2) + off_x
        top = round((outer_h - inner_h + 1) / 2) + off_y
        if gravity.type in _NORTH:
            top = off_y
        if gravity.type in _SOUTH:
            top = outer_h - inner_h - off_y
        if gravity.type in _EAST:
            left = outer_w - inner_w - off_x
        if gravity.type in _WEST:
            left = off_x
    left = max(0, min(left, outer_w - inner_w))
    top = max(0, min(top, outer_h - inner_h))
    return left, top


# --- crop before resizing ----------------------------------------------------------------


def _crop_side(full: int, value: float) -> int:
    """One side of `crop`: >= 1 pixels (truncated), < 1 a fraction, 0 the whole side."""
    if value <= 0:
        return full
    side = int(value) if value >= 1.0 else max(1, _scale(full, value))
    return min(side, full)


def _crop(options: ProcessingOptions, width: int, height: int) -> Box | None:
    if options.crop is None:
        return None
    crop_w = _crop_side(width, options.crop.width)
    crop_h = _crop_side(height, options.crop.height)
    if crop_w >= width and crop_h >= height:
        return None
    gravity = options.crop.gravity or options.gravity
    if gravity.type is GravityType.SMART:
        gravity = Gravity()
    left, top = _position(width, height, crop_w, crop_h, gravity, 1.0)
    return Box(left, top, crop_w, crop_h)


# --- scale -----------------------------------------------------------------------------------


def _scales(options: ProcessingOptions, width: int, height: int) -> tuple[float, float, float]:
    """imgproxy's `calcScale`: horizontal and vertical scale factors and the effective dpr."""
    src_w, src_h = float(width), float(height)
    dst_w = float(options.width) or src_w
    dst_h = float(options.height) or src_h
    wshrink = 1.0 if dst_w == src_w else src_w / dst_w
    hshrink = 1.0 if dst_h == src_h else src_h / dst_h

    if wshrink != 1.0 or hshrink != 1.0:
        kind = options.resizing_type
        if kind is ResizingType.AUTO:
            same_orientation = (src_w - src_h >= 0) == (dst_w - dst_h >= 0)
            kind = ResizingType.FILL if same_orientation else ResizingType.FIT
        if options.width == 0 and kind is not ResizingType.FORCE:
            wshrink = hshrink
        elif options.height == 0 and kind is not ResizingType.FORCE:
            hshrink = wshrink
        elif kind is ResizingType.FIT:
            wshrink = hshrink = max(wshrink, hshrink)
        elif kind is not ResizingType.FORCE:  # fill, fill-down
            wshrink = hshrink = min(wshrink, hshrink)

    wshrink /= options.zoom_x
    hshrink /= options.zoom_y

    dpr = options.dpr
    if not options.enlarge:
        least = min(wshrink, hshrink)
        if least < 1.0:
            wshrink /= least
            hshrink /= least
            # Without extend, dpr is raised so the small image still fills the target;
            # with extend, the composition must not depend on dpr.
            if not options.extend.enabled:
                dpr /= least
        dpr = min(dpr, wshrink, hshrink)

    if options.min_width > 0:
        least = src_w / options.min_width
        if least < wshrink:
            hshrink /= wshrink / least
            wshrink = least
    if options.min_height > 0:
        least = src_h / options.min_height
        if least < hshrink:
            wshrink /= hshrink / least
            hshrink = least

    wshrink = min(wshrink / dpr, src_w)  # never below one pixel
    hshrink = min(hshrink / dpr, src_h)
    return 1.0 / wshrink, 1.0 / hshrink, dpr


@dataclass(frozen=True, slots=True)
class _Sizes:
    wscale: float
    hscale: float
    dpr: float  # effective dpr: scales targets, offsets and padding
    target_w: int  # requested size in output pixels; 0 when not requested
    target_h: int
    scaled_w: int  # the whole input after scaling
    scaled_h: int
    crop_w: int  # result crop; 0 means the whole side
    crop_h: int
    ear_w: int  # extend_aspect_ratio canvas; 0 when not needed
    ear_h: int


def _sizes(
    options: ProcessingOptions, width: int, height: int, wscale: float, hscale: float, dpr: float
) -> _Sizes:
    # A requested side stays requested even when dpr and zoom shrink it below half a pixel
    # (imgproxy would round it to 0, which reads as "not requested").
    target_w = max(1, _scale(options.width, dpr * options.zoom_x)) if options.width else 0
    target_h = max(1, _scale(options.height, dpr * options.zoom_y)) if options.height else 0
    scaled_w = _scale(width, wscale)
    scaled_h = _scale(height, hscale)

    crop_w, crop_h = target_w, target_h
    if options.resizing_type is ResizingType.FILL_DOWN and not options.enlarge:
        # Too small to fill the target: crop to the target's aspect ratio instead. A side
        # that rounds to 0 is kept at 1 pixel (imgproxy would read 0 as "whole side").
        diff_w = target_w / scaled_w
        diff_h = target_h / scaled_h
        if diff_w > diff_h and diff_w > 1.0:
            crop_w, crop_h = scaled_w, _scale(scaled_w, target_h / target_w)
            crop_h = max(1, crop_h) if target_h else 0
        elif diff_h > diff_w and diff_h > 1.0:
            crop_w, crop_h = _scale(scaled_h, target_w / target_h), scaled_h
            crop_w = max(1, crop_w) if target_w else 0

    ear_w = ear_h = 0
    if options.extend_aspect_ratio.enabled and target_w > 0 and target_h > 0:
        out_w = _min_nonzero(scaled_w, crop_w)
        out_h = _min_nonzero(scaled_h, crop_h)
        diff_w = target_w / out_w
        diff_h = target_h / out_h
        if diff_h > diff_w:
            ear_w, ear_h = out_w, _scale(out_w, target_h / target_w)
        elif diff_w > diff_h:
            ear_w, ear_h = _scale(out_h, target_w / target_h), out_h

    return _Sizes(
        wscale, hscale, dpr, target_w, target_h, scaled_w, scaled_h, crop_w, crop_h, ear_w, ear_h
    )


def _limit(options: ProcessingOptions, width: int, height: int, sizes: _Sizes) -> _Sizes:
    """Scale everything down so no side of the result exceeds `max_result_dimension`."""
    limit = options.security.max_result_dimension
    if limit is None or limit <= 0:
        return sizes
    out_w = _min_nonzero(sizes.scaled_w, sizes.crop_w)
    out_h = _min_nonzero(sizes.scaled_h, sizes.crop_h)
    if options.extend.enabled:
        out_w, out_h = max(out_w, sizes.target_w), max(out_h, sizes.target_h)
    elif options.extend_aspect_ratio.enabled:
        out_w, out_h = max(out_w, sizes.ear_w), max(out_h, sizes.ear_h)
    pad = _padding(options, sizes.dpr) or (0, 0, 0, 0)
    out_w += pad[1] + pad[3]
    out_h += pad[0] + pad[2]
    if out_w <= limit and out_h <= limit:
        return sizes
    down = limit / max(out_w, out_h)
    wscale = max(sizes.wscale * down, 1.0 / width)
    hscale = max(sizes.hscale * down, 1.0 / height)
    return _sizes(options, width, height, wscale, hscale, sizes.dpr * down)


# --- after resizing ---------------------------------------------------------------------------


def _result_crop(gravity: Gravity, sizes: _Sizes) -> Box | None:
    crop_w = _min_nonzero(sizes.crop_w, sizes.scaled_w)
    crop_h = _min_nonzero(sizes.crop_h, sizes.scaled_h)
    if crop_w >= sizes.scaled_w and crop_h >= sizes.scaled_h:
        return None
    crop_w, crop_h = min(crop_w, sizes.scaled_w), min(crop_h, sizes.scaled_h)
    left, top = _position(sizes.scaled_w, sizes.scaled_h, crop_w, crop_h, gravity, sizes.dpr)
    return Box(left, top, crop_w, crop_h)


def _extend(image: Box, width: int, height: int, gravity: Gravity, dpr: float) -> Box | None:
    """The canvas `image` is embedded in to reach `width` x `height`; None if it already does.

    A side of 0 keeps the image's side; the canvas never cuts the image.
    """
    if width <= image.width and height <= image.height:
        return None
    width = max(width, image.width)
    height = max(height, image.height)
    left, top = _position(width, height, image.width, image.height, gravity, dpr)
    return Box(left, top, width, height)


def _padding(options: ProcessingOptions, dpr: float) -> tuple[int, int, int, int] | None:
    if options.padding is None:
        return None
    p = options.padding
    sides = tuple(max(0, _scale_even(v, dpr)) for v in (p.top, p.right, p.bottom, p.left))
    return (sides[0], sides[1], sides[2], sides[3]) if any(sides) else None


__all__ = ["Box", "Gravity", "Orientation", "Plan", "exif_orientation", "plan"]
