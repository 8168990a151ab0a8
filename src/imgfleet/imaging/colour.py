"""Colour steps: into 8-bit sRGB right after loading, and flattening alpha at the end.

CMYK and profiled sources are transformed to sRGB through their embedded ICC profile (CMYK
without one through libvips' built-in CMYK profile). With `strip_color_profile` off an RGB
source keeps its pixels and its profile; everything else still becomes sRGB, since no other
kind of pixel survives every output format. 16-bit sources become 8-bit.
"""

from __future__ import annotations

import pyvips

from imgfleet.core.options import ImageFormat
from imgfleet.imaging.context import Context

ICC_FIELD = "icc-profile-data"
WHITE = [255.0, 255.0, 255.0]


def to_srgb(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    interpretation = str(image.interpretation)
    profiled = image.get_typeof(ICC_FIELD) != 0
    rgb = interpretation in ("srgb", "rgb16") and image.bands in (3, 4)
    if rgb and profiled and not ctx.options.strip_color_profile:
        return _eight_bit(image)  # keep pixels and profile as they are
    if interpretation == "cmyk" or profiled:
        fallback = "cmyk" if interpretation == "cmyk" else "srgb"
        image = image.icc_transform(
            "srgb", embedded=True, input_profile=fallback, intent="perceptual", depth=8
        )
    image = _eight_bit(image)
    if image.get_typeof(ICC_FIELD) != 0:
        image = image.copy()
        image.remove(ICC_FIELD)
    return image


def _eight_bit(image: pyvips.Image) -> pyvips.Image:
    if str(image.interpretation) == "srgb" and str(image.format) == "uchar":
        return image
    if str(image.format) == "ushort":  # say so, or colourspace takes 16-bit for 8-bit
        image = image.copy(interpretation="rgb16" if image.bands >= 3 else "grey16")
    return image.colourspace("srgb").cast("uchar")


def flatten(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    """Blend alpha onto the background: always for JPEG, for any format given `bg`."""
    if not image.hasalpha():
        return image
    colour = ctx.background
    if colour is None and ctx.output is not ImageFormat.JPEG:
        return image
    fill = [float(colour.r), float(colour.g), float(colour.b)] if colour else WHITE
    return image.flatten(background=fill).cast("uchar")
