"""What a source is: the parsed reference in a URL and the facts read from its header."""

from __future__ import annotations

from dataclasses import dataclass

from imgfleet.core.options import ImageFormat


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Read from the image header, before any pixel is decoded."""

    format: ImageFormat
    width: int
    height: int  # of one page (frame) for animations
    pages: int = 1
    exif_orientation: int = 1  # 1..8
    has_alpha: bool = False
    interlaced: bool = False  # progressive JPEG, Adam7 PNG: decoded whole, not streamed

    @property
    def megapixels(self) -> float:
        """Pixels to decode, all frames summed, in millions."""
        return self.width * self.height * self.pages / 1_000_000
