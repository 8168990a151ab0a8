"""Processing options: one immutable value per request.

The URL parser (`core.option_parser`) starts from the defaults built from settings and
applies each URL option in order, so a parsed value holds concrete settings everywhere
except where `None` genuinely means "not asked for" (no crop, no trim, negotiate the
format, per-format default quality, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ResizingType(StrEnum):
    FIT = "fit"
    FILL = "fill"
    FILL_DOWN = "fill-down"
    FORCE = "force"
    AUTO = "auto"


class GravityType(StrEnum):
    NORTH = "no"
    SOUTH = "so"
    EAST = "ea"
    WEST = "we"
    NORTH_EAST = "noea"
    NORTH_WEST = "nowe"
    SOUTH_EAST = "soea"
    SOUTH_WEST = "sowe"
    CENTER = "ce"
    SMART = "sm"
    FOCUS_POINT = "fp"


class ImageFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    AVIF = "avif"
    GIF = "gif"
    TIFF = "tiff"
    SVG = "svg"  # input only

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]

    @property
    def can_save(self) -> bool:
        return self is not ImageFormat.SVG


_MEDIA_TYPES = {
    ImageFormat.JPEG: "image/jpeg",
    ImageFormat.PNG: "image/png",
    ImageFormat.WEBP: "image/webp",
    ImageFormat.AVIF: "image/avif",
    ImageFormat.GIF: "image/gif",
    ImageFormat.TIFF: "image/tiff",
    ImageFormat.SVG: "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Gravity:
    """Where to anchor a crop or an extension.

    For the compass types `x`/`y` are offsets: pixels when |v| >= 1, else a fraction of the
    dimension. For `fp` they are the focus point as fractions 0..1. `sm` takes none.
    """

    type: GravityType = GravityType.CENTER
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True, slots=True)
class Color:
    r: int
    g: int
    b: int


@dataclass(frozen=True, slots=True)
class Extend:
    enabled: bool = False
    gravity: Gravity = Gravity()


@dataclass(frozen=True, slots=True)
class Crop:
    """Crop applied before resizing. Sizes >= 1 are pixels, < 1 a fraction, 0 the full side."""

    width: float
    height: float
    gravity: Gravity | None = None  # None: use the main gravity


@dataclass(frozen=True, slots=True)
class Trim:
    threshold: float
    color: Color | None = None  # None: detect from the top-left pixel
    equal_hor: bool = False
    equal_ver: bool = False


@dataclass(frozen=True, slots=True)
class Padding:
    top: int
    right: int
    bottom: int
    left: int


@dataclass(frozen=True, slots=True)
class SecurityOverrides:
    """Per-request limit overrides (msr, msfs, maf, mafr, mrd); None keeps the setting."""

    max_src_resolution: float | None = None  # megapixels
    max_src_file_size: int | None = None  # bytes
    max_animation_frames: int | None = None
    max_animation_frame_resolution: float | None = None  # megapixels
    max_result_dimension: int | None = None  # pixels


@dataclass(frozen=True, slots=True)
class ProcessingOptions:
    resizing_type: ResizingType = ResizingType.FIT
    width: int = 0  # 0: keep aspect ratio from the other side
    height: int = 0
    min_width: int = 0
    min_height: int = 0
    zoom_x: float = 1.0
    zoom_y: float = 1.0
    dpr: float = 1.0
    enlarge: bool = False
    extend: Extend = Extend()
    extend_aspect_ratio: Extend = Extend()
    gravity: Gravity = Gravity()
    crop: Crop | None = None
    trim: Trim | None = None
    padding: Padding | None = None
    auto_rotate: bool = True
    rotate: int = 0  # 0, 90, 180 or 270
    flip_horizontal: bool = False
    flip_vertical: bool = False
    background: Color | None = None  # None: keep transparency / white when flattening
    blur: float = 0.0  # gaussian sigma; 0 is off
    sharpen: float = 0.0  # sigma; 0 is off
    pixelate: int = 0  # block size; 0 is off
    strip_metadata: bool = True
    keep_copyright: bool = True
    strip_color_profile: bool = True
    enforce_thumbnail: bool = False
    quality: int | None = None  # None: the per-format default
    format_quality: tuple[tuple[ImageFormat, int], ...] = ()  # sorted by format
    max_bytes: int | None = None
    format: ImageFormat | None = None  # None: negotiate from Accept, else the source's
    skip_processing: frozenset[ImageFormat] = frozenset()
    raw: bool = False
    cachebuster: str | None = None
    expires: int | None = None  # unix seconds
    filename: str | None = None
    return_attachment: bool = False
    security: SecurityOverrides = field(default_factory=SecurityOverrides)

    def quality_for(self, fmt: ImageFormat, default: int) -> int:
        """The quality to save `fmt` with: `q`, else `fq` for the format, else `default`."""
        for f, q in self.format_quality:
            if f is fmt:
                return self.quality or q
        return self.quality or default
