"""Effect steps: blur, sharpen and pixelate, applied to the resized image."""

from __future__ import annotations

import pyvips

from imgfleet.imaging.context import Context


def blur(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    sigma = ctx.options.blur
    if sigma <= 0:
        return image
    if not image.hasalpha():
        return image.gaussblur(sigma)
    return image.premultiply().gaussblur(sigma).unpremultiply().cast(image.format)


def sharpen(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    sigma = ctx.options.sharpen
    return image.sharpen(sigma=sigma) if sigma > 0 else image


def pixelate(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    size = ctx.options.pixelate
    if size <= 1:
        return image
    size = min(size, image.width, image.height)
    blocks = image.shrink(size, size).zoom(size, size)
    return blocks.embed(0, 0, image.width, image.height, extend="copy")
