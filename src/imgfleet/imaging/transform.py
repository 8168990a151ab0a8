"""Geometry steps: crop, resize, orient, result crop, trim, extend and pad.

The plan's boxes live in the oriented frame. Cropping and resizing happen in the *stored*
frame instead (the crop box is mapped back through the orientation), and the small resized
image is oriented afterwards: the loader can then stream top to bottom and a rotation costs
what the result costs, not what the source costs.
"""

from __future__ import annotations

import pyvips

from imgfleet.core.geometry import Box, Orientation, Plan
from imgfleet.imaging.context import Context

KERNEL = "lanczos3"


def stored_box(box: Box, orientation: Orientation, width: int, height: int) -> Box:
    """Map `box` from the oriented frame (`width` x `height`) back to the stored pixels."""
    left, top, w, h = box.left, box.top, box.width, box.height
    if orientation.flip_horizontal:
        left = width - left - w
    if orientation.flip_vertical:
        top = height - top - h
    match orientation.rotate % 360:
        case 90:
            return Box(top, width - left - w, h, w)
        case 180:
            return Box(width - left - w, height - top - h, w, h)
        case 270:
            return Box(height - top - h, left, h, w)
        case _:
            return Box(left, top, w, h)


def stored_size(plan: Plan) -> tuple[int, int]:
    """The source's full-resolution stored width and height."""
    if plan.orientation.rotate % 180:
        return plan.oriented_height, plan.oriented_width
    return plan.oriented_width, plan.oriented_height


def resize_target(plan: Plan) -> tuple[int, int]:
    """The resize size in the stored frame."""
    if plan.orientation.rotate % 180:
        return plan.resize_height, plan.resize_width
    return plan.resize_width, plan.resize_height


def cut(image: pyvips.Image, box: Box) -> pyvips.Image:
    """Crop `box`, clamped to the image and at least one pixel."""
    left = min(max(box.left, 0), image.width - 1)
    top = min(max(box.top, 0), image.height - 1)
    width = min(max(box.width, 1), image.width - left)
    height = min(max(box.height, 1), image.height - top)
    if (left, top, width, height) == (0, 0, image.width, image.height):
        return image
    return image.crop(left, top, width, height)


def exact(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """Trim or edge-extend by the pixel that rounding in a resize may leave."""
    if (image.width, image.height) == (width, height):
        return image
    return image.embed(0, 0, width, height, extend="copy")


def crop(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    plan = ctx.plan
    if plan.crop is None:
        return image
    box = stored_box(plan.crop, plan.orientation, plan.oriented_width, plan.oriented_height)
    full_width, full_height = stored_size(plan)
    sx, sy = image.width / full_width, image.height / full_height
    x0, y0 = round(box.left * sx), round(box.top * sy)
    x1, y1 = round((box.left + box.width) * sx), round((box.top + box.height) * sy)
    return cut(image, Box(x0, y0, max(x1 - x0, 1), max(y1 - y0, 1)))


def resize(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    width, height = resize_target(ctx.plan)
    if (image.width, image.height) == (width, height):
        return image
    hscale, vscale = width / image.width, height / image.height
    if not image.hasalpha():
        return exact(image.resize(hscale, vscale=vscale, kernel=KERNEL), width, height)
    # Resample colour weighted by alpha, or transparent pixels bleed dark fringes.
    done = image.premultiply().resize(hscale, vscale=vscale, kernel=KERNEL).unpremultiply()
    return exact(done.cast(image.format), width, height)


def orient(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    o = ctx.plan.orientation
    if o.rotate % 360 or o.flip_vertical:
        image = ctx.materialize(image)  # both read the image out of order
    if o.rotate % 360:
        image = image.rot(f"d{o.rotate % 360}")
    if o.flip_horizontal:
        image = image.fliphor()
    if o.flip_vertical:
        image = image.flipver()
    return image


def crop_result(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    box = ctx.plan.result_crop
    if box is None:
        return image
    if ctx.plan.smart_crop and not ctx.frame:
        width, height = min(box.width, image.width), min(box.height, image.height)
        return ctx.materialize(image).smartcrop(width, height, interesting="attention")
    return cut(image, box)


def trim(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    """Cut away edges of the background colour (skipped per frame: frames must agree)."""
    spec = ctx.options.trim
    if spec is None or ctx.frame:
        return image
    image = ctx.materialize(image)
    if spec.color is not None:
        background = [float(spec.color.r), float(spec.color.g), float(spec.color.b)]
    else:
        background = list(image.getpoint(0, 0))[:3]
    left, top, width, height = image.find_trim(threshold=spec.threshold, background=background)
    if width <= 0 or height <= 0:
        return image  # all background: keep it rather than produce nothing
    if spec.equal_hor:
        left = min(left, image.width - left - width)
        width = image.width - 2 * left
    if spec.equal_ver:
        top = min(top, image.height - top - height)
        height = image.height - 2 * top
    return cut(image, Box(left, top, width, height))


def extend(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    canvas = ctx.plan.canvas
    if canvas is None:
        return image
    image, fill = _with_fill(ctx, image)
    return image.embed(
        canvas.left, canvas.top, canvas.width, canvas.height, extend="background", background=fill
    )


def pad(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    if not ctx.plan.padding or not any(ctx.plan.padding):
        return image
    top, right, bottom, left = ctx.plan.padding
    image, fill = _with_fill(ctx, image)
    width, height = image.width + left + right, image.height + top + bottom
    return image.embed(left, top, width, height, extend="background", background=fill)


def _with_fill(ctx: Context, image: pyvips.Image) -> tuple[pyvips.Image, list[float]]:
    """The colour new canvas gets: the background, else transparent (alpha is added)."""
    colour = ctx.background
    if colour is None:
        if not image.hasalpha():
            image = image.bandjoin_const([255])
        return image, [0.0] * image.bands
    fill = [float(colour.r), float(colour.g), float(colour.b)]
    return image, [*fill, 255.0] if image.hasalpha() else fill
