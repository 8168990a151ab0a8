"""Test images, generated in memory: every function returns the encoded bytes.

Nothing is downloaded and nothing is committed: each image is built with pyvips from a
deterministic pattern (a diagonal gradient with a little texture) so that encoders behave as
they do on photos, and the same call always returns an image of the same content.

Orientation-checkable images carry a red block in the corner that is top-left *when the
image is displayed upright* (see `jpeg_with_orientation`).

    jpeg(w, h)                   baseline JPEG q90, 3 bands
    progressive_jpeg(w, h)       progressive JPEG
    cmyk_jpeg(w, h)              4-band CMYK JPEG (Adobe), no ICC profile
    jpeg_with_orientation(tag)   EXIF orientation 1..8, red block top-left when displayed
    png(w, h, alpha, bits16)     RGB/RGBA PNG, 8 or 16 bits per sample
    webp(w, h, alpha)            lossy WebP
    avif(w, h, alpha)            AV1 HEIF (AVIF)
    tiff(w, h)                   uncompressed RGB TIFF
    gif(w, h)                    a still GIF of the pattern (palette-quantised)
    gif_animated(w, h, frames)   GIF, one colour per frame, 100 ms delays, loop forever
    webp_animated(w, h, frames)  animated WebP, same frames
    svg(w, h)                    an SVG document with a red rectangle
    truncated(data)              the first half of `data`
    png_bomb(w, h)               a few-KB PNG whose header declares w x h (50,000 squared)
"""

from __future__ import annotations

import struct
import zlib

import pyvips

RED = (220, 20, 20)
FRAME_COLOURS = ((220, 20, 20), (20, 180, 20), (20, 20, 220), (220, 220, 20), (20, 200, 200))


def pattern(w: int, h: int, bands: int = 3) -> pyvips.Image:
    """A deterministic photo-like 8-bit image: diagonal gradient plus a fine texture."""
    xy = pyvips.Image.xyz(w, h)
    x = xy[0]
    y = xy[1]
    r = x * (200.0 / max(w, 1)) + 30
    g = y * (200.0 / max(h, 1)) + 30
    b = ((x + y) * 7 % 64) + (x * y % 13) * 4 + 60
    image = r.bandjoin([g, b])
    if bands == 4:
        image = image.bandjoin(x * (255.0 / max(w, 1)))  # alpha: transparent left edge
    return image.cast("uchar").copy(interpretation="srgb")


def marked(w: int, h: int) -> pyvips.Image:
    """`pattern` with a red block (a quarter of each side) in the top-left corner."""
    block = pyvips.Image.black(max(w // 4, 1), max(h // 4, 1), bands=3) + list(RED)
    return pattern(w, h).insert(block.cast("uchar"), 0, 0).copy(interpretation="srgb")


def jpeg(w: int = 64, h: int = 48, q: int = 90) -> bytes:
    return bytes(pattern(w, h).jpegsave_buffer(Q=q))


def progressive_jpeg(w: int = 64, h: int = 48) -> bytes:
    return bytes(pattern(w, h).jpegsave_buffer(Q=90, interlace=True))


def cmyk_jpeg(w: int = 64, h: int = 48) -> bytes:
    rgb = pattern(w, h)
    k = 255 - rgb.bandmean()
    cmyk = (rgb * -1 + 255).bandjoin(k).cast("uchar")
    return bytes(cmyk.copy(interpretation="cmyk").jpegsave_buffer(Q=90))


def jpeg_with_orientation(tag: int, w: int = 64, h: int = 48) -> bytes:
    """A JPEG that displays as `w` x `h` with the red block top-left under EXIF `tag`.

    The stored pixels are the displayed image put through the inverse of the tag's
    transform (undo the mirror, then rotate back), so a viewer that honours the tag sees the
    block top-left; one that ignores it sees it elsewhere.
    """
    rotate, flip_h, flip_v = {
        1: (0, False, False),
        2: (0, True, False),
        3: (180, False, False),
        4: (0, False, True),
        5: (90, True, False),
        6: (90, False, False),
        7: (270, True, False),
        8: (270, False, False),
    }[tag]
    stored = marked(w, h)
    if flip_h:
        stored = stored.fliphor()
    if flip_v:
        stored = stored.flipver()
    back = {0: None, 90: "d270", 180: "d180", 270: "d90"}[rotate]
    if back:
        stored = stored.rot(back)
    stored = stored.copy()
    stored.set_type(pyvips.GValue.gint_type, "orientation", tag)
    return bytes(stored.jpegsave_buffer(Q=95, keep="exif"))


def png(w: int = 64, h: int = 48, alpha: bool = False, bits16: bool = False) -> bytes:
    image = pattern(w, h, 4 if alpha else 3)
    if bits16:
        image = (image.cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16")
    return bytes(image.pngsave_buffer(compression=1))


def webp(w: int = 64, h: int = 48, alpha: bool = False) -> bytes:
    return bytes(pattern(w, h, 4 if alpha else 3).webpsave_buffer(Q=85))


def avif(w: int = 64, h: int = 48, alpha: bool = False) -> bytes:
    image = pattern(w, h, 4 if alpha else 3)
    return bytes(image.heifsave_buffer(compression="av1", Q=70, effort=0))


def tiff(w: int = 64, h: int = 48) -> bytes:
    return bytes(pattern(w, h).tiffsave_buffer())


def frames_strip(w: int, h: int, frames: int) -> pyvips.Image:
    """`frames` solid frames stacked vertically, with page-height, delays and loop set."""
    pages = [
        (pyvips.Image.black(w, h, bands=3) + list(FRAME_COLOURS[i % len(FRAME_COLOURS)]))
        for i in range(frames)
    ]
    strip = pyvips.Image.arrayjoin(pages, across=1).cast("uchar").copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", h)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [100] * frames)
    strip.set_type(pyvips.GValue.gint_type, "loop", 0)
    return strip


def gif(w: int = 64, h: int = 48) -> bytes:
    return bytes(pattern(w, h).gifsave_buffer())


def gif_animated(w: int = 32, h: int = 24, frames: int = 3) -> bytes:
    return bytes(frames_strip(w, h, frames).gifsave_buffer())


def webp_animated(w: int = 32, h: int = 24, frames: int = 3) -> bytes:
    return bytes(frames_strip(w, h, frames).webpsave_buffer(Q=90))


def svg(w: int = 64, h: int = 48) -> bytes:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">'
        f'<rect width="{w}" height="{h}" fill="#2050c0"/>'
        f'<rect width="{w // 4}" height="{h // 4}" fill="#dc1414"/></svg>'
    ).encode()


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def png_bomb(w: int = 50_000, h: int = 50_000) -> bytes:
    """A valid-looking 8-bit grey PNG declaring `w` x `h`; its IDAT holds only a few rows."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    rows = min(h, 64)
    idat = zlib.compress(b"\0" * ((w + 1) * rows), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
