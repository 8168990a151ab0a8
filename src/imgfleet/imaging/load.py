"""Load: decode the source with the loader the probe named, shrinking on load.

Shrink-on-load lets the decoder skip work (the factors: `core.shrink_on_load`). Every later
step measures the loaded image against the plan's full-resolution boxes, so a shrink needs
no bookkeeping beyond the image's own size.
"""

from __future__ import annotations

import pyvips

from imgfleet.core.geometry import Plan
from imgfleet.core.options import ImageFormat
from imgfleet.core.shrink_on_load import jpeg_shrink, reduction, svg_scale, webp_scale
from imgfleet.core.source import SourceInfo

ACCESS = "sequential"  # every step reads top to bottom, or works on a copy in memory
FAIL_ON = "error"  # truncated and corrupt data fail the render instead of grey pixels


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
