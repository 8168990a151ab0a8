"""A render's peak memory, estimated from the source header and the plan before it runs.

Provisional model (to be calibrated): a fixed base, plus the decoded source and the
result held as 4 bytes per pixel per frame, the encoder's buffers on top of the result.
"""

from __future__ import annotations

from imgfleet.core.geometry import Plan
from imgfleet.core.options import ImageFormat
from imgfleet.core.source import SourceInfo

MB = 1024 * 1024
BASE = 32 * MB


def peak_bytes(info: SourceInfo, plan: Plan, fmt: ImageFormat) -> int:
    frames = info.pages if fmt in (ImageFormat.GIF, ImageFormat.WEBP) else 1
    source = info.width * info.height * frames * 4
    result = plan.width * plan.height * frames * 4
    encoder = 4 if fmt is ImageFormat.AVIF else 1
    return BASE + source + result * (1 + encoder)
