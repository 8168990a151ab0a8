"""Pillow stands in for libvips' JPEG, WebP and AVIF savers only where it writes as well."""

from __future__ import annotations

import pytest
import pyvips
import simplejpeg

from imgfleet.core.encoding import AvifTune, EncoderConfig
from imgfleet.core.options import ImageFormat
from imgfleet.imaging import pillow_save
from imgfleet.imaging.save import save
from tests import imagegen

from .conftest import decode

NONE = pyvips.ForeignKeep.NONE


def _segments(jpeg: bytes) -> list[bytes]:
    """The marker segments before the scan, each with its marker (SOI and SOS excluded)."""
    segments, at = [], 2
    while jpeg[at + 1] != 0xDA:
        end = at + 2 + int.from_bytes(jpeg[at + 2 : at + 4], "big")
        segments.append(jpeg[at:end])
        at = end
    return segments


def test_jpeg_matches_libvips_jpegsave() -> None:
    image = imagegen.pattern(320, 200).copy_memory()
    fast = pillow_save.jpeg(image, 80, NONE, progressive=False)
    assert fast is not None
    slow = bytes(image.jpegsave_buffer(Q=80, subsample_mode="on", optimize_coding=True, keep=NONE))
    assert abs(len(fast) - len(slow)) <= 0.01 * len(slow)
    # libvips' layout: no JFIF segment, the same quantisation tables and frame header.
    fast_segments, slow_segments = _segments(fast), _segments(slow)
    assert [s[:2] for s in fast_segments] == [s[:2] for s in slow_segments]
    kept = (b"\xff\xdb", b"\xff\xc0")  # DQT, SOF0: Huffman tables are per-image optimal
    assert [s for s in fast_segments if s[:2] in kept] == [
        s for s in slow_segments if s[:2] in kept
    ]
    a, b = decode(fast), decode(slow)
    assert (a.width, a.height, a.bands) == (b.width, b.height, b.bands) == (320, 200, 3)
    assert (a - b).abs().avg() < 1.0  # same quantisation: only rounding differences
    assert simplejpeg.decode_jpeg_header(fast)[3] == "420"


@pytest.mark.parametrize("bands", [3, 4])
@pytest.mark.parametrize(("quality", "effort"), [(75, 4), (90, 0), (40, 6)])
def test_webp_is_byte_identical_to_libvips_webpsave(bands: int, quality: int, effort: int) -> None:
    image = imagegen.pattern(300, 180, bands=bands).copy_memory()
    fast = pillow_save.webp(image, quality, effort, NONE)
    assert fast == bytes(image.webpsave_buffer(Q=quality, effort=effort, keep=NONE))


def test_save_takes_pillow_for_a_plain_webp(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> bytes:
        raise AssertionError("libvips webpsave was used")

    monkeypatch.setattr(pyvips.Image, "webpsave_buffer", refuse)
    image = imagegen.pattern(64, 48).copy_memory()
    data = save(image, ImageFormat.WEBP, 75, EncoderConfig(), NONE)
    assert decode(data).width == 64


@pytest.mark.parametrize("case", ["keep-exif", "grey", "two-bands", "16-bit", "animation"])
def test_webp_declines_what_it_cannot_write(case: str) -> None:
    image = imagegen.pattern(64, 48)
    keep = pyvips.ForeignKeep.EXIF if case == "keep-exif" else NONE
    if case == "grey":
        image = image.colourspace("b-w")
    elif case == "two-bands":
        image = image.colourspace("b-w").bandjoin(255)
    elif case == "16-bit":
        image = image.colourspace("rgb16")
    elif case == "animation":
        image = imagegen.frames_strip(64, 48, 3)
    assert pillow_save.webp(image, 75, 4, keep) is None


@pytest.mark.parametrize("case", ["keep-exif", "progressive", "alpha", "grey"])
def test_jpeg_declines_what_it_cannot_write(case: str) -> None:
    image = imagegen.pattern(64, 48, bands=4 if case == "alpha" else 3)
    if case == "grey":
        image = image.colourspace("b-w")
    keep = pyvips.ForeignKeep.EXIF if case == "keep-exif" else NONE
    assert pillow_save.jpeg(image, 80, keep, progressive=case == "progressive") is None


@pytest.mark.parametrize("bands", [3, 4])
def test_avif_draws_what_libvips_heifsave_draws(bands: int) -> None:
    image = imagegen.pattern(240, 160, bands=bands).copy_memory()
    fast = pillow_save.avif(image, 65, 2, NONE, "ssim")
    assert fast is not None
    slow = bytes(image.heifsave_buffer(Q=65, compression="av1", effort=2, bitdepth=8, keep=NONE))
    a, b = decode(fast), decode(slow)
    assert (a.width, a.height, a.bands) == (b.width, b.height, b.bands) == (240, 160, bands)
    # Not the same bytes (aom tuned for SSIM): as faithful to the source, in no more bytes.
    error_fast, error_slow = (a - image).abs().avg(), (b - image).abs().avg()
    assert error_fast <= 1.1 * error_slow
    assert len(fast) <= 1.05 * len(slow)


@pytest.mark.parametrize("through_pillow", [True, False])
def test_avif_follows_the_tune_setting(
    monkeypatch: pytest.MonkeyPatch, through_pillow: bool
) -> None:
    monkeypatch.setattr(pillow_save, "AVIF", pillow_save.AVIF and through_pillow)
    image = imagegen.pattern(160, 120).copy_memory()
    outputs = {
        tune: save(image, ImageFormat.AVIF, 65, EncoderConfig(avif_tune=AvifTune(tune)), NONE)
        for tune in ("ssim", "iq")
    }
    assert outputs["ssim"] != outputs["iq"]
    assert all(decode(data).width == 160 for data in outputs.values())


def test_avif_keeps_full_chroma_from_quality_90() -> None:
    image = imagegen.pattern(64, 48).copy_memory()
    sizes = [len(pillow_save.avif(image, q, 2, NONE, "ssim") or b"") for q in (89, 90)]
    assert sizes[1] > sizes[0] * 1.2  # 4:4:4 carries four times the chroma samples


def test_avif_is_left_to_libvips_without_pillow_support(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pillow_save, "AVIF", False)
    image = imagegen.pattern(64, 48).copy_memory()
    assert pillow_save.avif(image, 65, 2, NONE, "ssim") is None
    assert decode(save(image, ImageFormat.AVIF, 65, EncoderConfig(), NONE)).width == 64


def test_encodes_without_memfd_where_the_system_forbids_it(monkeypatch: pytest.MonkeyPatch) -> None:
    image = imagegen.pattern(64, 48).copy_memory()
    expected = pillow_save.jpeg(image, 80, NONE, progressive=False)

    def forbidden(*_: object) -> int:
        raise PermissionError("memfd_create: operation not permitted")

    monkeypatch.setattr(pillow_save.os, "memfd_create", forbidden)
    assert pillow_save.jpeg(image, 80, NONE, progressive=False) == expected
