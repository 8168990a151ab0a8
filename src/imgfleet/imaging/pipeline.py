"""The render pipeline: one fixed order of small steps, the deadline checked between them.

Every step is `(Context, Image) -> Image` and returns its input when it has nothing to do.
Animations run the whole pipeline once per frame (see `engine`).
"""

from __future__ import annotations

import pyvips

from imgfleet.imaging.colour import flatten, to_srgb
from imgfleet.imaging.context import Context, Step
from imgfleet.imaging.effects import blur, pixelate, sharpen
from imgfleet.imaging.metadata import tidy
from imgfleet.imaging.transform import crop, crop_result, extend, orient, pad, resize, trim

PIPELINE: tuple[Step, ...] = (
    to_srgb,  # 8-bit sRGB (ICC, CMYK, 16-bit) before anything counts bands
    crop,  # plan.crop, in the stored frame, scaled to the shrunk-on-load size
    resize,  # exactly to the plan's size, lanczos3, separate x/y scales
    orient,  # EXIF orientation + rotate + flip, on the small image
    crop_result,  # fill crop after resizing, or libvips attention when smart
    trim,
    blur,
    sharpen,
    pixelate,
    extend,  # canvas with gravity, background or transparent
    pad,
    flatten,  # alpha onto the background: JPEG, or any format given a background
    tidy,  # orientation tag and stripped EXIF
)


def run(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    for step in PIPELINE:
        ctx.deadline.check(step.__name__)
        image = step(ctx, image)
    return image
