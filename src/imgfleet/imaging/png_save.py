"""PNG written with numpy row filters and zlib-ng: libvips' filtered rows, without its pool.

libvips (libspng) picks each row's filter by the least sum of its bytes' absolute values,
as signed bytes, and deflates with zlib-ng; its saver pulls the pipeline through libvips'
thread pool, which two renders saving at once cannot keep busy (see `pillow_save`). This
writer makes the same choice (the same filtered rows, byte for byte) in numpy, a block of
rows at a time, in the calling thread, and deflates with zlib-ng's default strategy
(libspng asks for `Z_FILTERED`, which zlib-ng applies from level 7 on). A little less CPU
per encode in one thread, more cores kept busy by two threads encoding at once, and files a
little smaller (docs/performance.md, design decisions: "PNG written by imgfleet").

`png` returns None for what it does not write: metadata to keep, anything but 8-bit grey
or sRGB with or without alpha, an animation strip. It writes no pHYs chunk (libvips writes
a fixed resolution; Pillow writes none).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pyvips
from zlib_ng import zlib_ng

VERSION = f"zlib-ng-{zlib_ng.ZLIBNG_VERSION}"
SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # bands -> grey, grey+alpha, RGB, RGBA
INTERPRETATIONS = {1: "b-w", 2: "b-w", 3: "srgb", 4: "srgb"}
BLOCK_ROWS = 32  # rows filtered at once: five candidates of a block stay in cache
IDAT_BYTES = 1 << 20  # the zlib stream is cut into chunks of this size


def png(image: pyvips.Image, compression: int, keep: int) -> bytes | None:
    """`image` as a PNG at zlib-ng `compression` (0-9), or None when libvips must write it."""
    if (
        keep != pyvips.ForeignKeep.NONE
        or image.format != "uchar"
        or INTERPRETATIONS.get(image.bands) != image.interpretation
        or image.get_page_height() != image.height
    ):
        return None
    bands = image.bands
    header = struct.pack(">IIBBBBB", image.width, image.height, 8, COLOUR_TYPES[bands], 0, 0, 0)
    # The pixels are let go once filtered, the scanlines once deflated: at most two copies
    # of the image are held at a time, like Pillow's encoders' pixels and output.
    # memLevel 9, as Pillow asks: a hair smaller than zlib's default 8 on photos
    # (docs/performance.md, design decisions: "PNG written by imgfleet").
    deflate = zlib_ng.compressobj(compression, zlib_ng.DEFLATED, 15, 9)
    stream = memoryview(deflate.compress(filtered(_rows(image), bands)) + deflate.flush())
    step = IDAT_BYTES
    idat = [_chunk(b"IDAT", stream[i : i + step]) for i in range(0, len(stream), step)]
    return b"".join((SIGNATURE, _chunk(b"IHDR", header), *idat, _chunk(b"IEND", b"")))


def _rows(image: pyvips.Image) -> np.ndarray:
    pixels = np.frombuffer(image.write_to_memory(), np.uint8)
    return pixels.reshape(image.height, image.width * image.bands)


def filtered(rows: np.ndarray, bpp: int) -> np.ndarray:
    """PNG scanlines: each row led by the filter (none, sub, up, average, Paeth) whose
    output has the least sum of absolute values as signed bytes, as libpng and libspng
    choose; `bpp` is bytes per pixel."""
    height, width = rows.shape
    out = np.empty((height, width + 1), np.uint8)
    index = np.arange(BLOCK_ROWS)
    for top in range(0, height, BLOCK_ROWS):
        x = rows[top : top + BLOCK_ROWS]
        count = x.shape[0]
        if top:
            b = rows[top - 1 : top + count - 1]
        else:  # the first row's "above" is zeros
            b = np.vstack((np.zeros((1, width), np.uint8), x[:-1]))
        a = np.zeros_like(x)
        a[:, bpp:] = x[:, :-bpp]
        c = np.zeros_like(x)
        c[:, bpp:] = b[:, :-bpp]
        candidates = np.empty((5, count, width), np.uint8)  # uint8 arithmetic wraps mod 256
        candidates[0] = x
        np.subtract(x, a, out=candidates[1])
        np.subtract(x, b, out=candidates[2])
        np.subtract(x, (a >> 1) + (b >> 1) + (a & b & 1), out=candidates[3])
        np.subtract(x, _paeth(a, b, c), out=candidates[4])
        cost = np.abs(candidates.view(np.int8).astype(np.int16)).sum(axis=2)
        best = cost.argmin(axis=0)
        out[top : top + count, 0] = best
        out[top : top + count, 1:] = candidates[best, index[:count]]
    return out


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The Paeth predictor of left `a`, above `b` and upper-left `c`, per byte."""
    a16, b16, c16 = a.astype(np.int16), b.astype(np.int16), c.astype(np.int16)
    pa, pb, pc = np.abs(b16 - c16), np.abs(a16 - c16), np.abs(a16 + b16 - 2 * c16)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _chunk(kind: bytes, data: bytes | memoryview) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return b"".join((struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)))
