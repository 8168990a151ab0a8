"""Load: decode the source with the loader the probe named, shrinking on load.

Shrink-on-load lets the decoder skip work: libjpeg decodes at 1/2, 1/4 or 1/8 scale from the
DCT coefficients, libwebp scales while decoding, librsvg renders at any scale. The factor is
the largest one that still leaves at least the pixels the plan resizes to, so the lanczos3
resize that follows only ever reduces (or enlarges when the plan asks to). Every later step
measures the loaded image against the plan's full-resolution boxes, so a shrink needs no
bookkeeping beyond the image's own size.
"""

from __future__ import annotations

import math

import pyvips

from imgfleet.core.geometry import Plan
from imgfleet.core.options import ImageFormat
from imgfleet.core.source import SourceInfo

ACCESS = "sequential"  # every step reads top to bottom, or works on a copy in memory
FAIL_ON = "error"  # truncated and corrupt data fail the render instead of grey pixels


def reduction(plan: Plan) -> float:
    """Source pixels per result pixel along the less-reduced axis (< 1 means enlarging)."""
    width, height = (
        (plan.crop.width, plan.crop.height)
        if plan.crop
        else (plan.oriented_width, plan.oriented_height)
    )
    return min(width / max(plan.resize_width, 1), height / max(plan.resize_height, 1))


def jpeg_shrink(factor: float) -> int:
    """The largest libjpeg scale denominator that keeps at least 1/`factor` of the pixels."""
    return next(s for s in (8, 4, 2, 1) if s <= factor or s == 1)


def webp_scale(factor: float) -> float:
    """libwebp decodes at any scale; keep an integer reduction so lanczos3 does the rest."""
    return 1.0 / math.floor(factor) if factor >= 2 else 1.0


def svg_scale(factor: float, info: SourceInfo, max_pixels: float) -> float:
    """Render vectors at the resize scale, capped so the whole canvas stays under the limit."""
    cap = math.sqrt(max_pixels / max(info.width * info.height, 1))
    return min(1.0 / max(factor, 1e-6), cap)


def open_source(data: bytes, **options: object) -> pyvips.Image:
    """`data` opened by the loader that recognises it, read where it lies.

    The `*load_buffer` loaders start with a copy of the whole source, which pyvips makes
    holding the interpreter lock, several times the cost of opening a memory source
    (docs/performance.md, design decisions: "Sources read in place"). A memory source is
    not copied, and the image keeps `data` alive for as long as it needs it.
    """
    return pyvips.Image.new_from_source(pyvips.Source.new_from_memory(data), "", **options)


def load(
    data: bytes, info: SourceInfo, plan: Plan, *, pages: int, max_pixels: float
) -> pyvips.Image:
    """Decode `data`; `pages` > 1 loads that many frames as one strip with page-height.

    The loader is the one the probe found (`open_source` recognises the same bytes the
    same way); the options are that loader's.
    """
    factor = reduction(plan)
    match info.format:
        case ImageFormat.JPEG:
            return open_source(data, shrink=jpeg_shrink(factor), access=ACCESS, fail_on=FAIL_ON)
        case ImageFormat.WEBP:
            scale = webp_scale(factor)
            return open_source(data, n=pages, scale=scale, access=ACCESS, fail_on=FAIL_ON)
        case ImageFormat.GIF:
            return open_source(data, n=pages, access=ACCESS, fail_on=FAIL_ON)
        case ImageFormat.PNG | ImageFormat.AVIF | ImageFormat.TIFF:
            return open_source(data, access=ACCESS, fail_on=FAIL_ON)
        case ImageFormat.SVG:
            scale = svg_scale(factor, info, max_pixels)
            return open_source(data, scale=scale, access=ACCESS, fail_on=FAIL_ON)
