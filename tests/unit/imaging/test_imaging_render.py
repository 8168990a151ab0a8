"""Render: every format in and out, alpha, animation, colour, metadata and max_bytes."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import pytest
import pyvips

from imgfleet.core.encoding import EncoderConfig
from imgfleet.core.geometry import Box
from imgfleet.core.options import Color, ImageFormat, ProcessingOptions
from imgfleet.imaging import ENGINE_VERSION, VipsEngine
from tests import imagegen

from .conftest import Render, close, decode, dhash, hamming, loader, make_plan, mean

SOURCES: dict[str, Callable[[], bytes]] = {
    "jpeg": lambda: imagegen.jpeg(120, 90),
    "progressive": lambda: imagegen.progressive_jpeg(120, 90),
    "cmyk": lambda: imagegen.cmyk_jpeg(120, 90),
    "png": lambda: imagegen.png(120, 90),
    "png16": lambda: imagegen.png(120, 90, bits16=True),
    "webp": lambda: imagegen.webp(120, 90),
    "avif": lambda: imagegen.avif(120, 90),
    "tiff": lambda: imagegen.tiff(120, 90),
}
OUTPUTS = [f for f in ImageFormat if f.can_save]
LOADERS = {
    ImageFormat.JPEG: "jpegload_buffer",
    ImageFormat.PNG: "pngload_buffer",
    ImageFormat.WEBP: "webpload_buffer",
    ImageFormat.AVIF: "heifload_buffer",
    ImageFormat.GIF: "gifload_buffer",
    ImageFormat.TIFF: "tiffload_buffer",
}
SIZE = (60, 45)


def test_engine_version_names_libvips() -> None:
    major, minor = pyvips.version(0), pyvips.version(1)
    assert f"libvips-{major}.{minor}." in ENGINE_VERSION


@pytest.mark.parametrize("fmt", OUTPUTS, ids=[f.value for f in OUTPUTS])
@pytest.mark.parametrize("source", SOURCES, ids=list(SOURCES))
def test_every_format_renders_to_every_format(
    render: Render, source: str, fmt: ImageFormat
) -> None:
    data = SOURCES[source]()
    out = render(data, make_plan(120, 90, *SIZE), fmt)
    assert loader(out) == LOADERS[fmt]
    image = decode(out)
    assert (image.width, image.height) == SIZE
    assert image.bands in ((3, 4) if fmt is ImageFormat.GIF else (3,))
    assert image.format == "uchar"
    assert image.interpretation == "srgb"


def test_the_same_picture_in_every_format(render: Render) -> None:
    """Codecs differ in bytes, never in what the picture shows."""
    data = imagegen.jpeg(160, 120)
    hashes = {fmt: dhash(decode(render(data, make_plan(160, 120, 80, 60), fmt))) for fmt in OUTPUTS}
    for fmt, value in hashes.items():
        assert hamming(value, hashes[ImageFormat.PNG]) <= 6, fmt


def test_resize_may_scale_the_axes_separately(render: Render) -> None:
    image = decode(render(imagegen.jpeg(200, 100), make_plan(200, 100, 37, 91)))
    assert (image.width, image.height) == (37, 91)


@pytest.mark.parametrize("size", [(2000, 1500), (1999, 1333)])
def test_shrink_on_load_still_gives_the_exact_size(render: Render, size: tuple[int, int]) -> None:
    w, h = size
    for target in [(w // 8, h // 8), (w // 8 - 1, h // 8 - 1), (w // 3, h // 3), (97, 61)]:
        out = render(imagegen.jpeg(w, h), make_plan(w, h, *target), ImageFormat.JPEG)
        image = decode(out)
        assert (image.width, image.height) == target


def test_enlarging_resizes_up(render: Render) -> None:
    image = decode(render(imagegen.png(20, 10), make_plan(20, 10, 200, 100)))
    assert (image.width, image.height) == (200, 100)


@pytest.mark.parametrize(
    "fmt", [ImageFormat.PNG, ImageFormat.WEBP, ImageFormat.AVIF, ImageFormat.TIFF]
)
@pytest.mark.parametrize("source", ["png", "webp", "avif"])
def test_alpha_is_kept_where_the_format_has_it(
    render: Render, source: str, fmt: ImageFormat
) -> None:
    data = {
        "png": imagegen.png(80, 60, alpha=True),
        "webp": imagegen.webp(80, 60, alpha=True),
        "avif": imagegen.avif(80, 60, alpha=True),
    }[source]
    image = decode(render(data, make_plan(80, 60, 40, 30), fmt))
    assert image.bands == 4
    assert image[3].crop(0, 0, 2, 30).avg() < 60  # the left edge is transparent
    assert image[3].crop(37, 0, 3, 30).avg() > 200  # the right edge is opaque


def test_alpha_is_flattened_onto_white_for_jpeg(render: Render) -> None:
    image = decode(render(imagegen.png(80, 60, alpha=True), make_plan(80, 60, 40, 30), "jpeg"))
    assert image.bands == 3
    assert min(mean(image, Box(0, 0, 1, 30))) > 225  # transparent edge became white


def test_alpha_is_flattened_onto_the_background_when_given(render: Render) -> None:
    plan = make_plan(80, 60, 40, 30)
    image = decode(render(imagegen.png(80, 60, alpha=True), plan, background=Color(0, 0, 255)))
    assert image.bands == 3
    assert close(mean(image, Box(0, 0, 1, 30)), [0, 0, 255], 40)


@pytest.mark.parametrize("fmt", [ImageFormat.GIF, ImageFormat.WEBP])
@pytest.mark.parametrize("make", [imagegen.gif_animated, imagegen.webp_animated])
def test_animations_keep_their_frames(
    render: Render, make: Callable[..., bytes], fmt: ImageFormat
) -> None:
    data = make(40, 30, 4)
    out = render(data, make_plan(40, 30, 20, 15), fmt)
    image = decode(out)
    assert image.get_n_pages() == 4
    assert image.get_page_height() == 15
    assert (image.width, image.height) == (20, 60)
    assert list(image.get("delay")) == [100] * 4
    for i, colour in enumerate(imagegen.FRAME_COLOURS[:4]):
        frame = image.crop(0, 15 * i, 20, 15)
        assert close(mean(frame)[:3], list(colour), 30), i


def test_animation_frames_are_resized_one_by_one(render: Render) -> None:
    """No frame bleeds into the next: each frame's edge rows keep the frame's own colour."""
    image = decode(render(imagegen.gif_animated(40, 30, 3), make_plan(40, 30, 17, 13), "gif"))
    for i, colour in enumerate(imagegen.FRAME_COLOURS[:3]):
        for row in (13 * i, 13 * i + 12):
            assert close(mean(image.crop(0, row, 17, 1))[:3], list(colour), 30), (i, row)


@pytest.mark.parametrize("fmt", [ImageFormat.JPEG, ImageFormat.PNG, ImageFormat.AVIF])
def test_animations_become_their_first_frame_elsewhere(render: Render, fmt: ImageFormat) -> None:
    image = decode(render(imagegen.gif_animated(40, 30, 4), make_plan(40, 30, 20, 15), fmt))
    assert (image.width, image.height) == (20, 15)
    assert close(mean(image)[:3], list(imagegen.FRAME_COLOURS[0]), 30)


def test_cmyk_becomes_srgb_with_the_same_colours(render: Render) -> None:
    cmyk = decode(render(imagegen.cmyk_jpeg(80, 60), make_plan(80, 60, 40, 30)))
    assert (cmyk.bands, cmyk.interpretation) == (3, "srgb")
    # imagegen's CMYK inverts the pattern's RGB, so the colour ordering survives the profile
    rgb = decode(render(imagegen.jpeg(80, 60), make_plan(80, 60, 40, 30)))
    assert hamming(dhash(cmyk), dhash(rgb)) <= 12


def test_sixteen_bit_png_becomes_eight_bit(render: Render) -> None:
    out = render(imagegen.png(80, 60, alpha=True, bits16=True), make_plan(80, 60, 40, 30))
    image = decode(out)
    assert (image.format, image.bands, image.interpretation) == ("uchar", 4, "srgb")
    reference = decode(render(imagegen.png(80, 60, alpha=True), make_plan(80, 60, 40, 30)))
    assert close(mean(image), mean(reference), 2)


@pytest.mark.parametrize("interpretation", ["grey16", "rgb16"])
def test_sixteen_bit_grey_and_colour_become_eight_bit_srgb(
    render: Render, interpretation: str
) -> None:
    bands = 3 if interpretation == "rgb16" else 1
    sixteen = (imagegen.pattern(40, 30)[0:bands].cast("ushort") * 257).cast("ushort")
    data = bytes(sixteen.copy(interpretation=interpretation).pngsave_buffer())
    image = decode(render(data, make_plan(40, 30, 20, 15)))
    assert (image.format, image.bands, image.interpretation) == ("uchar", 3, "srgb")
    reference = imagegen.pattern(40, 30).resize(0.5)[0]
    assert abs(image[0].avg() - reference.avg()) < 3


def test_progressive_jpeg_in_and_out() -> None:
    engine = VipsEngine(EncoderConfig(jpeg_progressive=True), 50)
    data = imagegen.progressive_jpeg(120, 90)
    info = engine.probe(data)
    out = engine.render(
        data,
        info,
        make_plan(120, 90, 60, 45),
        ProcessingOptions(),
        ImageFormat.JPEG,
        80,
        time.monotonic() + 10,
    )
    image = pyvips.Image.new_from_buffer(out, "")
    assert image.get("jpeg-multiscan") == 1
    assert (image.width, image.height) == (60, 45)


def test_baseline_jpeg_by_default(render: Render) -> None:
    out = render(imagegen.jpeg(120, 90), make_plan(120, 90, 60, 45), ImageFormat.JPEG)
    assert pyvips.Image.new_from_buffer(out, "").get("jpeg-multiscan") == 0


def test_jpeg_is_subsampled_420_even_at_high_quality(render: Render) -> None:
    out = render(imagegen.jpeg(120, 90), make_plan(120, 90, 60, 45), ImageFormat.JPEG, 95)
    assert pyvips.Image.new_from_buffer(out, "").get("jpeg-chroma-subsample") == "4:2:0"


@pytest.mark.parametrize("fmt", [ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF])
def test_max_bytes_lowers_quality_until_the_result_fits(render: Render, fmt: ImageFormat) -> None:
    data = imagegen.jpeg(400, 300)
    plan = make_plan(400, 300)
    full = render(data, plan, fmt, 95)
    limit = len(full) // 3
    small = render(data, plan, fmt, 95, max_bytes=limit)
    assert len(small) <= limit
    image = decode(small)
    assert (image.width, image.height) == (400, 300)
    assert hamming(dhash(image), dhash(decode(full))) <= 8


def test_max_bytes_does_not_touch_lossless_formats(render: Render) -> None:
    data = imagegen.png(100, 80)
    assert render(data, max_bytes=10) == render(data)


def _exif_fields(data: bytes) -> set[str]:
    image = pyvips.Image.new_from_buffer(data, "")
    return {f for f in image.get_fields() if f.startswith("exif-")}


def _with_copyright(data: bytes) -> bytes:
    image = pyvips.Image.new_from_buffer(data, "").copy()
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Copyright", "ACME")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Make", "Camera Co")
    return bytes(image.jpegsave_buffer(Q=90))


def test_metadata_is_stripped_by_default(render: Render) -> None:
    data = imagegen.jpeg_with_orientation(6, 64, 48)
    out = render(data, make_plan(48, 64), ImageFormat.JPEG, keep_copyright=False)
    assert _exif_fields(out) == set()


def test_copyright_survives_stripping_when_asked(render: Render) -> None:
    data = _with_copyright(imagegen.jpeg(64, 48))
    out = render(data, make_plan(64, 48), ImageFormat.JPEG)
    image = pyvips.Image.new_from_buffer(out, "")
    fields = _exif_fields(out)
    assert "exif-ifd0-Copyright" in fields
    assert str(image.get("exif-ifd0-Copyright")).startswith("ACME")
    assert "exif-ifd0-Make" not in fields


def test_metadata_is_kept_when_not_stripped_with_orientation_reset(render: Render) -> None:
    data = _with_copyright(imagegen.jpeg_with_orientation(6, 64, 48))
    info_plan = make_plan(48, 64)
    out = render(data, info_plan, ImageFormat.JPEG, strip_metadata=False)
    image = pyvips.Image.new_from_buffer(out, "")
    assert "exif-ifd0-Make" in _exif_fields(out)
    assert image.get("orientation") == 1


def _p3_jpeg() -> bytes:
    base = pyvips.Image.new_from_buffer(imagegen.jpeg(64, 48), "")
    return bytes(base.icc_transform("p3").jpegsave_buffer(Q=95, keep=pyvips.ForeignKeep.ICC))


def test_colour_profile_is_applied_and_dropped_by_default(render: Render) -> None:
    data = _p3_jpeg()
    assert pyvips.Image.new_from_buffer(data, "").get_typeof("icc-profile-data") != 0
    out = render(data, make_plan(64, 48), ImageFormat.JPEG)
    image = pyvips.Image.new_from_buffer(out, "")
    assert image.get_typeof("icc-profile-data") == 0
    original = pyvips.Image.new_from_buffer(imagegen.jpeg(64, 48), "")
    assert close(mean(image), mean(original), 4)  # back in sRGB numbers


def test_colour_profile_is_kept_when_asked(render: Render) -> None:
    data = _p3_jpeg()
    out = render(data, make_plan(64, 48), ImageFormat.JPEG, strip_color_profile=False)
    image = pyvips.Image.new_from_buffer(out, "")
    assert image.get_typeof("icc-profile-data") != 0
    source = pyvips.Image.new_from_buffer(data, "")
    assert close(mean(image), mean(source), 3)  # pixels untouched, still P3 numbers


def test_svg_renders_when_enabled() -> None:
    engine = VipsEngine(EncoderConfig(svg_input=True), 50)
    try:
        data = imagegen.svg(64, 48)
        info = engine.probe(data)
        out = engine.render(
            data,
            info,
            make_plan(64, 48, 256, 192),
            ProcessingOptions(),
            ImageFormat.PNG,
            80,
            time.monotonic() + 10,
        )
        image = decode(out)
        assert (image.width, image.height) == (256, 192)
        assert close(mean(image, Box(0, 0, 60, 44))[:3], [220, 20, 20], 20)  # sharp corner
    finally:
        VipsEngine(EncoderConfig(), 50)  # block the SVG loader again


@pytest.mark.parametrize("name", ["jpeg", "png"])
def test_a_render_frees_its_images_without_the_cyclic_collector(render: Render, name: str) -> None:
    """Decoded images are megabytes each: a reference cycle would keep them until gc runs."""
    data = SOURCES[name]()
    gc.collect()
    gc.disable()
    try:
        before = _live_images()
        render(data, make_plan(120, 90, 60, 45), "jpeg")
        left = _live_images() - before
    finally:
        gc.enable()
    assert left == set()


def _live_images() -> set[int]:
    return {id(o) for o in gc.get_objects() if isinstance(o, pyvips.Image)}
