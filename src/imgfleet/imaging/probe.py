"""Probe: what a source is, read from its header without decoding a pixel.

libvips opens images lazily, so opening a source parses only the header; a decompression
bomb (a few KB declaring 50,000 x 50,000) costs what its header costs. The format is the
loader that matched, never a file name or a media type; loaders outside `LOADERS` (matrix,
csv, vips, anything libvips may grow) are refused, and untrusted ones are blocked
process-wide by `configure_vips` (SVG's loader too, unless SVG input is enabled).
"""

from __future__ import annotations

from typing import Any

import pyvips

from imgfleet.core.errors import UnsupportedMedia
from imgfleet.core.options import ImageFormat
from imgfleet.core.source import SourceInfo
from imgfleet.imaging.load import open_source

LOADERS: dict[str, ImageFormat] = {
    "jpegload_source": ImageFormat.JPEG,
    "pngload_source": ImageFormat.PNG,
    "webpload_source": ImageFormat.WEBP,
    "heifload_source": ImageFormat.AVIF,
    "gifload_source": ImageFormat.GIF,
    "tiffload_source": ImageFormat.TIFF,
    "svgload_source": ImageFormat.SVG,
}

# Formats whose pages are animation frames; other multi-page sources (TIFF, HEIF
# collections) are rendered from their first page, so only these count all pages.
ANIMATED = frozenset({ImageFormat.GIF, ImageFormat.WEBP})

_SUPPORTED = "jpeg, png, webp, avif, gif or tiff"


def probe(data: bytes, *, svg_input: bool) -> SourceInfo:
    """Read format, size, frames, EXIF orientation, alpha and interlacing from `data`'s
    header."""
    if not data:
        raise UnsupportedMedia(f"source: expected a {_SUPPORTED} image, received 0 bytes")
    try:
        image = open_source(data)
        loader = str(image.get("vips-loader"))
    except pyvips.Error as exc:
        if not svg_input and b"<svg" in data[:4096]:
            raise UnsupportedMedia("source: SVG input is disabled on this server") from exc
        raise UnsupportedMedia(
            f"source: expected a {_SUPPORTED} image, received {len(data)} bytes "
            "in no format this server reads"
        ) from exc
    fmt = source_format(image, loader, svg_input=svg_input)
    pages = _int(image, "n-pages", 1) if fmt in ANIMATED else 1
    return SourceInfo(
        format=fmt,
        width=image.width,
        height=image.get_page_height() if pages > 1 else image.height,
        pages=max(pages, 1),
        exif_orientation=exif_orientation(image),
        has_alpha=bool(image.hasalpha()),
        interlaced=bool(_int(image, "interlaced", 0)),
    )


def source_format(image: pyvips.Image, loader: str, *, svg_input: bool) -> ImageFormat:
    fmt = LOADERS.get(loader)
    if fmt is None:
        name = loader.removesuffix("_source").removesuffix("load") or "unknown"
        raise UnsupportedMedia(f"source: expected a {_SUPPORTED} image, received {name}")
    if fmt is ImageFormat.SVG and not svg_input:
        raise UnsupportedMedia("source: SVG input is disabled on this server")
    if fmt is ImageFormat.AVIF:
        compression = str(_get(image, "heif-compression", "av1"))
        if compression != "av1":
            raise UnsupportedMedia(
                f"source: expected AVIF (AV1), received HEIF with {compression} compression"
            )
    return fmt


def exif_orientation(image: pyvips.Image) -> int:
    tag = _int(image, "orientation", 1)
    return tag if 1 <= tag <= 8 else 1


def _get(image: pyvips.Image, name: str, default: Any) -> Any:
    return image.get(name) if image.get_typeof(name) != 0 else default


def _int(image: pyvips.Image, name: str, default: int) -> int:
    value = _get(image, name, default)
    return value if isinstance(value, int) else default
