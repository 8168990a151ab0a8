"""Resource limits, checked from the image header before any pixel is decoded."""

from __future__ import annotations

from dataclasses import dataclass

from imgfleet.core.errors import OverLimit
from imgfleet.core.geometry import Plan
from imgfleet.core.options import SecurityOverrides
from imgfleet.core.source import SourceInfo


@dataclass(frozen=True, slots=True)
class Limits:
    max_src_bytes: int
    max_src_megapixels: float  # all frames summed
    max_frames: int
    max_frame_megapixels: float
    max_result_dimension: int

    def overridden(self, o: SecurityOverrides) -> Limits:
        """These limits with a request's permitted overrides applied."""
        return Limits(
            max_src_bytes=o.max_src_file_size or self.max_src_bytes,
            max_src_megapixels=o.max_src_resolution or self.max_src_megapixels,
            max_frames=o.max_animation_frames or self.max_frames,
            max_frame_megapixels=o.max_animation_frame_resolution or self.max_frame_megapixels,
            max_result_dimension=o.max_result_dimension or self.max_result_dimension,
        )


def check_source(info: SourceInfo, limits: Limits) -> None:
    """Refuse a source whose header promises more work than the limits allow."""
    if info.pages > limits.max_frames:
        raise OverLimit(
            f"source has {info.pages} frames; the limit max_frames is {limits.max_frames}"
        )
    frame_mp = info.width * info.height / 1_000_000
    if frame_mp > limits.max_frame_megapixels:
        raise OverLimit(
            f"source frame is {info.width}x{info.height} ({frame_mp:.1f} MP); the limit "
            f"max_frame_megapixels is {limits.max_frame_megapixels:g} MP"
        )
    if info.megapixels > limits.max_src_megapixels:
        raise OverLimit(
            f"source is {info.width}x{info.height}x{info.pages} ({info.megapixels:.1f} MP); "
            f"the limit max_src_megapixels is {limits.max_src_megapixels:g} MP"
        )


def check_result(plan: Plan, limits: Limits) -> None:
    """Refuse a rendition larger than the result limit on either side."""
    if max(plan.width, plan.height) > limits.max_result_dimension:
        raise OverLimit(
            f"result would be {plan.width}x{plan.height}; the limit max_result_dimension "
            f"is {limits.max_result_dimension}"
        )
