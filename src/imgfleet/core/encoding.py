"""How renditions are encoded: default qualities per format and the encoder's knobs.

One immutable value built from settings at start. Everything in `EncoderConfig` that changes
a rendition's bytes without changing its URL goes into its fingerprint, which joins the
engine version in every cache key, so renditions made under other encoder settings are never
served as these.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum

from imgfleet.core.options import ImageFormat


class AvifTune(StrEnum):
    """What aom tunes AVIF for."""

    SSIM = "ssim"
    IQ = "iq"
    PSNR = "psnr"


@dataclass(frozen=True, slots=True)
class Qualities:
    """Default quality of lossy formats: one for all, and per-format overrides (None: unset)."""

    default: int = 80
    jpeg: int | None = None
    webp: int | None = None
    avif: int | None = 65

    def for_format(self, fmt: ImageFormat) -> int:
        override = {ImageFormat.JPEG: self.jpeg, ImageFormat.WEBP: self.webp}.get(fmt)
        if fmt is ImageFormat.AVIF:
            override = self.avif
        return override or self.default


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    qualities: Qualities = field(default_factory=Qualities)
    jpeg_progressive: bool = False
    webp_effort: int = 2  # 0 fast .. 6 slow
    avif_effort: int = 2  # 0 fast .. 9 slow
    avif_tune: AvifTune = AvifTune.SSIM
    png_compression: int = 6  # deflate level, 0 .. 9
    strip_metadata: bool = True
    keep_copyright: bool = True
    strip_color_profile: bool = True
    svg_input: bool = False  # accept SVG sources (rasterised)

    def fingerprint(self) -> str:
        """12 hex digits naming the fields that change bytes but not URLs.

        Qualities are resolved into each cache key on their own, and `svg_input` only
        decides whether a source is accepted, so neither is part of it.
        """
        fields = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("qualities", "svg_input")
        }
        blob = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]
