"""Encoders through Pillow, for the images they write as well as libvips would, at less cost.

libvips' savers pull the pipeline through libvips' own thread pool, which two renders
saving at once in one process cannot keep busy. Pillow's encoders run in the calling thread
with the GIL released, so libvips only hands over the resized pixels:
- WebP: the same libwebp settings give byte-identical files, and two render threads keep
  both cores busy;
- AVIF: libavif drives the same aom encoder at the same speed, as faithfully, for less CPU;
- JPEG: Pillow's libjpeg-turbo optimises the Huffman tables in less CPU than `jpegsave`.
The figures: docs/performance.md, design decisions: "Encoders through Pillow" and "JPEG
encoded by Pillow, into a memfd".

Each encoder returns None for what it does not write: metadata to keep, an animation
strip, anything but 8-bit sRGB (RGB, and RGBA where the format has alpha)."""

from __future__ import annotations

import io
import os

import PIL
import PIL.features
import pyvips
from PIL import Image as PilImage

VERSION = f"pillow-{PIL.__version__}"
AVIF = bool(PIL.features.check("avif"))  # wheels carry libavif with aom; a build may not


def _pixels(image: pyvips.Image, keep: int, alpha: bool) -> PilImage.Image | None:
    """The image's pixels as a Pillow image, or None when Pillow cannot stand in."""
    if (
        keep != pyvips.ForeignKeep.NONE
        or image.bands not in ((3, 4) if alpha else (3,))
        or image.format != "uchar"
        or image.interpretation != "srgb"
        or image.get_page_height() != image.height  # an animation strip
    ):
        return None
    mode = "RGBA" if image.bands == 4 else "RGB"
    size = (image.width, image.height)
    return PilImage.frombuffer(mode, size, image.write_to_memory(), "raw", mode, 0, 1)


def _through_file(pixels: PilImage.Image, fmt: str, **params: object) -> bytes:
    """Encode into an in-memory file: every Pillow codec then runs with the GIL released.

    Into a BytesIO, Pillow's JPEG encoder holds the GIL for the whole encode, stalling the
    event loop and the other renders' Python; into a real file descriptor it lets go, and
    two threads encoding keep two cores busy instead of one (docs/performance.md, design
    decisions: "JPEG encoded by Pillow, into a memfd").
    """
    try:
        fd = os.memfd_create("imgfleet-encode", os.MFD_CLOEXEC)
    except (AttributeError, OSError):  # not Linux, or a sandbox that forbids it
        out = io.BytesIO()
        pixels.save(out, fmt, **params)
        return out.getvalue()
    with os.fdopen(fd, "w+b") as file:
        pixels.save(file, fmt, **params)
        file.seek(0)
        return file.read()


def jpeg(image: pyvips.Image, quality: int, keep: int, progressive: bool) -> bytes | None:
    """Baseline 4:2:0 JPEG with optimised Huffman tables, of 8-bit RGB keeping nothing.

    The same segments, quantisation, accurate DCT and size as libvips'
    `jpegsave(optimize_coding)` (equal SSIM, and smaller than fixed tables) in less CPU,
    the copy out of libvips included (docs/performance.md, design decisions: "JPEG encoded
    by Pillow, into a memfd").
    """
    pixels = None if progressive else _pixels(image, keep, alpha=False)
    if pixels is None:
        return None
    data = _through_file(pixels, "JPEG", quality=quality, subsampling=2, optimize=True)
    return _without_jfif(data)


def _without_jfif(data: bytes) -> bytes:
    """`data` without the JFIF segment libjpeg writes first, which libvips and sharp omit.

    Its 18 bytes hold a pixel density that says nothing on the web (decoders take three
    components as YCbCr without it). The slice copies the file once: microseconds.
    """
    if data[2:4] == b"\xff\xe0" and data[6:11] == b"JFIF\x00":
        return data[:2] + data[4 + int.from_bytes(data[4:6], "big") :]
    return data


def webp(image: pyvips.Image, quality: int, effort: int, keep: int) -> bytes | None:
    """Lossy WebP at `quality` and `effort` (libwebp's method), as `webpsave(Q, effort)`."""
    pixels = _pixels(image, keep, alpha=True)
    if pixels is None:
        return None
    return _through_file(pixels, "WEBP", quality=quality, method=effort)


def avif(image: pyvips.Image, quality: int, effort: int, keep: int, tune: str) -> bytes | None:
    """8-bit AV1 AVIF, as `heifsave(Q, compression="av1", effort, bitdepth=8)` would.

    Not the same bytes (libavif instead of libheif in front of aom), the same encoder
    settings: libvips runs aom at cpu-used 9 - effort, which is libavif's speed, and keeps
    4:4:4 chroma from Q 90; `tune` is aom's (`FormatSettings.avif_tune`). One encoder
    thread: the render pool already fills the cores.
    """
    pixels = _pixels(image, keep, alpha=True) if AVIF else None
    if pixels is None:
        return None
    subsampling = "4:4:4" if quality >= 90 else "4:2:0"
    return _through_file(
        pixels,
        "AVIF",
        quality=quality,
        speed=9 - effort,
        subsampling=subsampling,
        max_threads=1,
        advanced={"tune": tune},
    )
