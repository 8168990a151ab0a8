"""Probe: header facts per format, refusals, and a decompression bomb in milliseconds."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from imgfleet.core.encoding import EncoderConfig
from imgfleet.core.errors import UnsupportedMedia
from imgfleet.core.options import ImageFormat
from imgfleet.imaging import VipsEngine
from tests import imagegen

CASES: list[tuple[str, Callable[[], bytes], ImageFormat, bool]] = [
    ("jpeg", lambda: imagegen.jpeg(64, 48), ImageFormat.JPEG, False),
    ("progressive", lambda: imagegen.progressive_jpeg(64, 48), ImageFormat.JPEG, False),
    ("cmyk", lambda: imagegen.cmyk_jpeg(64, 48), ImageFormat.JPEG, False),
    ("png", lambda: imagegen.png(64, 48), ImageFormat.PNG, False),
    ("png-alpha-16", lambda: imagegen.png(64, 48, True, True), ImageFormat.PNG, True),
    ("webp", lambda: imagegen.webp(64, 48), ImageFormat.WEBP, False),
    ("webp-alpha", lambda: imagegen.webp(64, 48, alpha=True), ImageFormat.WEBP, True),
    ("avif", lambda: imagegen.avif(64, 48), ImageFormat.AVIF, False),
    ("avif-alpha", lambda: imagegen.avif(64, 48, alpha=True), ImageFormat.AVIF, True),
    ("tiff", lambda: imagegen.tiff(64, 48), ImageFormat.TIFF, False),
]


@pytest.mark.parametrize(("name", "make", "fmt", "alpha"), CASES, ids=[c[0] for c in CASES])
def test_probe_reads_format_size_and_alpha(
    engine: VipsEngine, name: str, make: Callable[[], bytes], fmt: ImageFormat, alpha: bool
) -> None:
    info = engine.probe(make())
    assert (info.format, info.width, info.height, info.pages) == (fmt, 64, 48, 1)
    assert info.has_alpha is alpha
    assert info.exif_orientation == 1


@pytest.mark.parametrize(
    ("data", "interlaced"),
    [
        (imagegen.progressive_jpeg(64, 48), True),
        (imagegen.jpeg(64, 48), False),
        (bytes(imagegen.pattern(64, 48).pngsave_buffer(interlace=True)), True),
        (imagegen.png(64, 48), False),
        (imagegen.webp(64, 48), False),
    ],
    ids=["progressive-jpeg", "baseline-jpeg", "adam7-png", "png", "webp"],
)
def test_probe_reads_interlacing(engine: VipsEngine, data: bytes, interlaced: bool) -> None:
    """A progressive JPEG or an Adam7 PNG is decoded whole: the memory estimate needs it."""
    assert engine.probe(data).interlaced is interlaced


@pytest.mark.parametrize(
    ("make", "fmt"),
    [(imagegen.gif_animated, ImageFormat.GIF), (imagegen.webp_animated, ImageFormat.WEBP)],
)
def test_probe_counts_animation_frames_and_gives_one_frame_height(
    engine: VipsEngine, make: Callable[..., bytes], fmt: ImageFormat
) -> None:
    info = engine.probe(make(32, 24, 5))
    assert (info.format, info.width, info.height, info.pages) == (fmt, 32, 24, 5)
    assert info.megapixels == pytest.approx(32 * 24 * 5 / 1e6)


@pytest.mark.parametrize("tag", range(1, 9))
def test_probe_reads_exif_orientation(engine: VipsEngine, tag: int) -> None:
    info = engine.probe(imagegen.jpeg_with_orientation(tag, 64, 48))
    assert info.exif_orientation == tag
    # stored pixels are turned for tags 5..8: the header reports what is stored
    assert (info.width, info.height) == ((48, 64) if tag >= 5 else (64, 48))


def test_svg_is_refused_unless_enabled(engine: VipsEngine) -> None:
    with pytest.raises(UnsupportedMedia, match="SVG"):
        engine.probe(imagegen.svg())
    enabled = VipsEngine(EncoderConfig(svg_input=True), 50)
    info = enabled.probe(imagegen.svg(64, 48))
    assert (info.format, info.width, info.height) == (ImageFormat.SVG, 64, 48)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        b"%PDF-1.4\n1 0 obj << >> endobj\n",
        b"P6\n4 4\n255\n" + bytes(48),  # PPM: a format libvips knows but we do not serve
        b"1 2 3\n4 5 6\n",  # CSV/matrix: untrusted loaders are refused
    ],
    ids=["empty", "text", "pdf", "ppm", "csv"],
)
def test_probe_refuses_what_is_not_a_served_image(engine: VipsEngine, data: bytes) -> None:
    with pytest.raises(UnsupportedMedia) as caught:
        engine.probe(data)
    assert caught.value.status == 415
    assert "source" in caught.value.public_message


def test_probe_of_a_decompression_bomb_is_fast(engine: VipsEngine) -> None:
    bomb = imagegen.png_bomb(50_000, 50_000)
    assert len(bomb) < 16_000
    started = time.perf_counter()
    info = engine.probe(bomb)
    elapsed = time.perf_counter() - started
    assert (info.width, info.height) == (50_000, 50_000)
    assert info.megapixels == 2_500
    # The header alone is read: about a millisecond. Decoding the 2.5 gigapixels would take
    # tens of seconds (and 7.5 GB); 5 s tells the two apart however busy the shared machine.
    assert elapsed < 5.0
