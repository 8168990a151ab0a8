"""Appearance: an image's ThumbHash placeholder and dominant colour, from one small copy.

libvips' `thumbnail` makes the copy, at most 100 x 100 (ThumbHash's own limit): it shrinks
while decoding where the format allows (JPEG's DCT scaling, WebP's scaled decode), turns the
image upright by its EXIF orientation, reads only the first frame of an animation and keeps
alpha, which ThumbHash encodes too. Both results are read from the copy's few thousand
pixels: `describe` of a 2-megapixel JPEG took 13 ms here, most of it the JPEG decode.

The dominant colour is the most populated cell of a coarse RGB histogram (8 levels a
channel, 512 cells), each pixel weighted by its alpha so that transparent pixels do not
count, reported as the mean colour of the pixels in that cell. Not the mean of the image:
half red and half blue averages to purple, a colour nobody sees in it; the winning cell's
mean is a colour the image has, exact for flat areas (#ff0000 for a red square, where the
cell's centre would say #f01010). The histogram is numpy's rather than libvips'
(`hist_find_ndim`), because that one cannot weight pixels by alpha; on 10,000 pixels either
costs well under a millisecond.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyvips
import thash

from imgfleet.core.appearance import Appearance, appearance

SIZE = 100  # ThumbHash encodes images of at most 100 x 100
LEVEL_BITS = 3  # 8 levels a channel in the histogram
_SHIFT = 8 - LEVEL_BITS


def describe(data: bytes) -> Appearance:
    """The appearance of `data`, an image the probe accepted; raises `pyvips.Error` when it
    fails to decode (the engine maps that)."""
    rgba = small_rgba(data)
    height, width = rgba.shape[:2]
    return appearance(thash.rgba_to_thumb_hash(width, height, rgba), dominant_color(rgba))


def small_rgba(data: bytes) -> npt.NDArray[np.uint8]:
    """`data` upright, first frame, shrunk to fit 100 x 100, as 8-bit sRGB and alpha pixels
    (height x width x 4)."""
    image = pyvips.Image.thumbnail_source(
        pyvips.Source.new_from_memory(data),
        SIZE,
        height=SIZE,
        size="down",
        # The loader's option, as `load` sets it: with thumbnail's own `fail_on` (libvips
        # 8.18) a truncated PNG still gave pixels, black where the data ran out.
        option_string="fail_on=error",
    )
    srgb = str(image.interpretation) == "srgb" and str(image.format) == "uchar"
    if not srgb or image.bands < 3:
        image = image.colourspace("srgb").cast("uchar")  # grey, 16-bit, CMYK, Lab ...
    pixels = image.numpy()
    if image.hasalpha():
        alpha = pixels[:, :, -1:]
    else:
        alpha = np.full((*pixels.shape[:2], 1), 255, dtype=np.uint8)
    return np.concatenate([pixels[:, :, :3], alpha], axis=2)


def dominant_color(rgba: npt.NDArray[np.uint8]) -> tuple[float, float, float]:
    """The mean colour of the most populated cell of a coarse histogram (alpha-weighted)."""
    pixels = rgba.reshape(-1, 4).astype(np.int64)
    weights = pixels[:, 3].astype(np.float64)
    if not weights.any():  # wholly transparent: the colours are all there is
        weights = np.ones_like(weights)
    levels = pixels[:, :3] >> _SHIFT
    cells = (levels[:, 0] << 2 * LEVEL_BITS) | (levels[:, 1] << LEVEL_BITS) | levels[:, 2]
    best = np.bincount(cells, weights=weights, minlength=1 << 3 * LEVEL_BITS).argmax()
    chosen = cells == best
    red, green, blue = np.average(pixels[chosen, :3], axis=0, weights=weights[chosen])
    return float(red), float(green), float(blue)
