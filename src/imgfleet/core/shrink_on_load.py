"""Shrink-on-load: how small each decoder may decode a source for the plan's resize.

libjpeg decodes at 1/2, 1/4 or 1/8 scale from the DCT coefficients, libwebp scales while
decoding, librsvg renders at any scale. Each factor is the largest that still leaves at least
the pixels the plan resizes to, so the lanczos3 resize that follows only ever reduces (or
enlarges when the plan asks to). The loader (`imaging.load`) asks the decoders for these;
the memory estimate (`render_memory`) counts what they decode.
"""

from __future__ import annotations

import math

from imgfleet.core.geometry import Plan
from imgfleet.core.source import SourceInfo


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
