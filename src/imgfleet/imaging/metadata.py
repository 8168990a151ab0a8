"""Metadata: what a rendition keeps of its source's EXIF, XMP, IPTC and ICC profile."""

from __future__ import annotations

import pyvips

from imgfleet.core.options import ProcessingOptions
from imgfleet.imaging.context import Context

COPYRIGHT_FIELDS = frozenset({"exif-ifd0-Copyright", "exif-ifd0-Artist"})


def tidy(ctx: Context, image: pyvips.Image) -> pyvips.Image:
    """Drop the orientation tag (the pixels are upright now) and EXIF that is stripped.

    Stripping with `keep_copyright` keeps only the copyright and artist EXIF fields; libvips
    rebuilds a minimal EXIF block around them when saving.
    """
    options = ctx.options
    fields = set(image.get_fields())
    drop = {"orientation"}
    if options.strip_metadata and options.keep_copyright:
        drop |= {n for n in fields if n.startswith("exif-") and n not in COPYRIGHT_FIELDS}
    drop &= fields
    if not drop:
        return image
    image = image.copy()
    for name in sorted(drop):
        image.remove(name)
    return image


def keep_flags(options: ProcessingOptions, image: pyvips.Image) -> int:
    """The `keep` flags for the saver, from the options and what `image` still carries."""
    keep = pyvips.ForeignKeep
    if not options.strip_metadata:
        flags = keep.ALL
    elif options.keep_copyright and any(n in COPYRIGHT_FIELDS for n in image.get_fields()):
        flags = keep.EXIF
    else:
        flags = keep.NONE
    if options.strip_color_profile:
        return flags & ~keep.ICC
    return flags | keep.ICC
