"""A faster JPEG decode through libjpeg-turbo, for a plain photo on its way to a resize.

libjpeg-turbo scales while decoding by any n/8, where libvips' jpegload offers 1/2, 1/4 and
1/8; decoding straight into memory through simplejpeg also skips libvips' streaming
machinery. It costs less CPU per image than `jpegload(shrink=)` at equal SSIM
(docs/performance.md, design decisions: "JPEG decoded by simplejpeg"). The rest of the
pipeline is unchanged: this only replaces the loader. (Encoding goes through Pillow:
`pillow_save`.)

It takes only what it can do exactly as libvips would: a 3-channel YCbCr JPEG with no ICC
profile, no copyright EXIF to keep, metadata stripped, no crop, trim or effect, and at least
a 2x reduction. simplejpeg is a dependency; its import is guarded so that a build without
it still works, with libvips loading everything.
"""

from __future__ import annotations

import pyvips

from imgfleet.core.errors import UnsupportedMedia
from imgfleet.core.geometry import Plan
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.core.shrink_on_load import reduction
from imgfleet.core.source import SourceInfo
from imgfleet.imaging.load import open_source
from imgfleet.imaging.metadata import COPYRIGHT_FIELDS
from imgfleet.imaging.transform import resize_target

try:
    import simplejpeg

    AVAILABLE = True
    VERSION = f"simplejpeg-{simplejpeg.__version__}"
except ImportError:  # pragma: no cover - the lock installs it
    AVAILABLE = False
    VERSION = "no-simplejpeg"


def applies(info: SourceInfo, plan: Plan, options: ProcessingOptions) -> bool:
    """Whether the job is a plain JPEG resize, judged without reading the data."""
    return (
        AVAILABLE
        and info.format is ImageFormat.JPEG
        and plan.crop is None
        and not plan.smart_crop
        and options.trim is None
        and not (options.blur or options.sharpen or options.pixelate)
        and options.strip_metadata
        and reduction(plan) >= 2
    )


def plain(header: pyvips.Image, options: ProcessingOptions) -> bool:
    """Whether the JPEG's header leaves nothing for libvips to honour."""
    fields = set(header.get_fields())
    return (
        header.bands == 3
        and str(header.interpretation) == "srgb"
        and "icc-profile-data" not in fields
        and not (options.keep_copyright and fields & COPYRIGHT_FIELDS)
    )


def decode_size(info: SourceInfo, width: int, height: int) -> tuple[int, int]:
    """The decoded size at the largest power-of-two reduction that keeps `width` x `height`.

    libjpeg-turbo decodes at any n/8, but its 1/2, 1/4 and 1/8 IDCTs are the fast ones: a
    nearer n/8 such as 3/8 costs more than 1/2, since entropy decoding, not the IDCT,
    dominates (docs/performance.md, design decisions: "JPEG decoded by simplejpeg").
    Asking for exactly this size makes simplejpeg pick that scale.
    """
    scale = next(
        s
        for s in (8, 4, 2, 1)
        if s == 1 or (-(-info.width // s) >= width and -(-info.height // s) >= height)
    )
    return -(-info.width // scale), -(-info.height // scale)


def decode(
    data: bytes, info: SourceInfo, plan: Plan, options: ProcessingOptions
) -> pyvips.Image | None:
    """The JPEG decoded at the smallest n/8 scale that keeps the plan's pixels, or None."""
    if not applies(info, plan, options):
        return None
    if not plain(open_source(data), options):
        return None
    min_width, min_height = decode_size(info, *resize_target(plan))
    try:
        pixels = simplejpeg.decode_jpeg(
            data, colorspace="RGB", min_width=min_width, min_height=min_height, strict=True
        )
    except ValueError as exc:
        raise UnsupportedMedia("source: the jpeg image is corrupt or truncated") from exc
    rows, columns = pixels.shape[0], pixels.shape[1]
    image = pyvips.Image.new_from_memory(pixels.data, columns, rows, 3, "uchar")
    return image.copy(interpretation="srgb")
