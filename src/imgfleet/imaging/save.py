"""Save: per-format encoder options, and lowering quality until `max_bytes` fits."""

from __future__ import annotations

import math

import pyvips

from imgfleet.core.encoding import EncoderConfig
from imgfleet.core.errors import UnsupportedMedia
from imgfleet.core.options import ImageFormat
from imgfleet.imaging import pillow_save, png_save
from imgfleet.imaging.context import Context

LOSSY = frozenset({ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF})
MIN_QUALITY = 10


def save(
    image: pyvips.Image, fmt: ImageFormat, quality: int, encoder: EncoderConfig, keep: int
) -> bytes:
    """Encode `image`; an animation strip carries its page-height, delays and loop."""
    match fmt:
        case ImageFormat.JPEG:
            fast = pillow_save.jpeg(image, quality, keep, encoder.jpeg_progressive)
            if fast is not None:
                return fast
            # 4:2:0 at every quality (libvips' "auto" drops subsampling from Q 90 up).
            return image.jpegsave_buffer(
                Q=quality,
                interlace=encoder.jpeg_progressive,
                optimize_coding=True,
                subsample_mode="on",
                keep=keep,
            )
        case ImageFormat.PNG:
            fast = png_save.png(image, encoder.png_compression, keep)
            if fast is not None:
                return fast
            # Adaptive row filters: photos markedly smaller than with none, for more encode
            # time (docs/performance.md, design decisions: "PNG with adaptive row filters").
            return image.pngsave_buffer(
                compression=encoder.png_compression, filter="all", keep=keep
            )
        case ImageFormat.WEBP:
            fast = pillow_save.webp(image, quality, encoder.webp_effort, keep)
            if fast is not None:
                return fast
            return image.webpsave_buffer(Q=quality, effort=encoder.webp_effort, keep=keep)
        case ImageFormat.AVIF:
            tune = encoder.avif_tune.value
            fast = pillow_save.avif(image, quality, encoder.avif_effort, keep, tune)
            if fast is not None:
                return fast
            return image.heifsave_buffer(
                Q=quality,
                compression="av1",
                effort=encoder.avif_effort,
                bitdepth=8,
                tune=tune,
                keep=keep,
            )
        case ImageFormat.GIF:
            return image.gifsave_buffer(keep=keep)
        case ImageFormat.TIFF:
            return image.tiffsave_buffer(compression="deflate", predictor="horizontal", keep=keep)
        case ImageFormat.SVG:
            raise UnsupportedMedia(
                "format: expected jpeg, png, webp, avif, gif or tiff, received svg"
            )


def encode(
    ctx: Context, image: pyvips.Image, quality: int, encoder: EncoderConfig, keep: int
) -> bytes:
    """Save at `quality`; over `max_bytes` (lossy formats), retry at lower qualities.

    Each retry re-encodes the same pixels from memory; when even `MIN_QUALITY` does not
    fit, that last (smallest) attempt is returned rather than an error.
    """
    limit = ctx.options.max_bytes
    if not limit or ctx.output not in LOSSY:
        return save(image, ctx.output, quality, encoder, keep)
    image = ctx.materialize(image)
    while True:
        data = save(image, ctx.output, quality, encoder, keep)
        if len(data) <= limit or quality <= MIN_QUALITY:
            return data
        ctx.deadline.check("re-encoding to fit max_bytes")
        quality = lower_quality(quality, len(data), limit)


def lower_quality(quality: int, size: int, limit: int) -> int:
    """The next quality to try: bytes shrink roughly with the square of quality."""
    guess = round(quality * math.sqrt(max(limit / size, 0.25)))
    return max(MIN_QUALITY, min(quality - 5, guess))
