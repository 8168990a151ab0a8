"""imgfleet's PNG writer: libvips' row filters, zlib-ng's deflate, a file any decoder reads."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
import pyvips
from PIL import Image as PilImage

from imgfleet.core.encoding import EncoderConfig
from imgfleet.core.options import ImageFormat
from imgfleet.imaging import png_save
from imgfleet.imaging.save import save
from tests import imagegen

from .conftest import decode

NONE = pyvips.ForeignKeep.NONE


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, each CRC checked."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + data)
        chunks.append((kind, data))
        at += 12 + length
    return chunks


def _scanlines(png: bytes) -> bytes:
    """The filtered rows: the inflated IDAT stream."""
    return zlib.decompress(b"".join(data for kind, data in _chunks(png) if kind == b"IDAT"))


def _image(bands: int) -> pyvips.Image:
    if bands >= 3:
        return imagegen.pattern(203, 75, bands=bands).copy_memory()
    grey = imagegen.pattern(203, 75).colourspace("b-w")
    return (grey if bands == 1 else grey.bandjoin((grey / 2).cast("uchar"))).copy_memory()


@pytest.mark.parametrize("bands", [1, 2, 3, 4])
def test_writes_the_pixels_with_libvips_row_filters(bands: int) -> None:
    image = _image(bands)
    data = png_save.png(image, 6, NONE)
    assert data is not None
    back = decode(data)
    assert (back.width, back.height, back.bands) == (203, 75, bands)
    assert (back == image).min() == 255  # lossless
    with PilImage.open(io.BytesIO(data)) as pil:  # a second, independent decoder
        pil.load()
        assert pil.mode == {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[bands]
    # Each row's filter is the one libspng picks, so the rows are byte for byte libvips'.
    unpacked = bytes(image.pngsave_buffer(compression=0, filter="all", keep=NONE))
    assert _scanlines(data) == _scanlines(unpacked)
    assert [kind for kind, _ in _chunks(data)] == [b"IHDR", b"IDAT", b"IEND"]


@pytest.mark.parametrize("size", [(1, 1), (1, 40), (40, 1), (7, 33)])
def test_writes_images_of_any_shape(size: tuple[int, int]) -> None:
    image = imagegen.pattern(*size, bands=4).copy_memory()
    data = png_save.png(image, 6, NONE)
    assert data is not None
    assert (decode(data) == image).min() == 255
    unpacked = bytes(image.pngsave_buffer(compression=0, filter="all", keep=NONE))
    assert _scanlines(data) == _scanlines(unpacked)


def test_splits_a_long_stream_into_several_idat_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png_save, "IDAT_BYTES", 1000)
    image = _image(3)
    data = png_save.png(image, 6, NONE)
    assert data is not None
    assert sum(kind == b"IDAT" for kind, _ in _chunks(data)) > 2
    assert (decode(data) == image).min() == 255


def test_follows_the_compression_level() -> None:
    image = _image(3)
    sizes = [len(png_save.png(image, level, NONE) or b"") for level in (0, 1, 9)]
    assert sizes[0] > sizes[1] > sizes[2]


@pytest.mark.parametrize("case", ["keep-exif", "16-bit", "cmyk", "animation"])
def test_declines_what_it_cannot_write(case: str) -> None:
    image = imagegen.pattern(64, 48)
    keep = pyvips.ForeignKeep.EXIF if case == "keep-exif" else NONE
    if case == "16-bit":
        image = image.colourspace("rgb16")
    elif case == "cmyk":
        image = image.bandjoin(0).copy(interpretation="cmyk")
    elif case == "animation":
        image = imagegen.frames_strip(64, 48, 3)
    assert png_save.png(image, 6, keep) is None


def test_save_writes_a_plain_png_here_and_the_rest_through_libvips(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used: list[str] = []
    libvips_save = pyvips.Image.pngsave_buffer

    def counted(self: pyvips.Image, **options: object) -> bytes:
        used.append("libvips")
        return bytes(libvips_save(self, **options))

    monkeypatch.setattr(pyvips.Image, "pngsave_buffer", counted)
    plain = imagegen.pattern(64, 48).copy_memory()
    assert decode(save(plain, ImageFormat.PNG, 0, EncoderConfig(), NONE)).width == 64
    assert used == []
    deep = plain.colourspace("rgb16")
    assert decode(save(deep, ImageFormat.PNG, 0, EncoderConfig(), NONE)).format == "ushort"
    assert used == ["libvips"]
