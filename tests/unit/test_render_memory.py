"""The memory estimate: above what was measured, ordered as measured, and monotonic.

The measured figures are bench/memory.py's (docs/memory.md): peak RSS growth of a fresh
process around one render, libvips with 2 threads.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from imgfleet.core.geometry import Plan, plan
from imgfleet.core.options import (
    Color,
    Crop,
    Extend,
    Gravity,
    GravityType,
    ImageFormat,
    Padding,
    ProcessingOptions,
    ResizingType,
    Trim,
)
from imgfleet.core.render_memory import peak_bytes
from imgfleet.core.shrink_on_load import jpeg_shrink, reduction, svg_scale, webp_scale
from imgfleet.core.source import SourceInfo

F = ImageFormat
MB = 1_000_000
THREADS = 2


def estimate(
    info: SourceInfo,
    fmt: ImageFormat,
    *,
    quality: int = 80,
    source_bytes: int = 0,
    threads: int = THREADS,
    **options: Any,
) -> int:
    """The estimate for `options` (fit, by default) applied to `info`, rendered as `fmt`."""
    opts = ProcessingOptions(**options)
    the_plan = plan(opts, info.width, info.height, info.exif_orientation)
    return peak_bytes(
        info, the_plan, opts, fmt, quality, source_bytes=source_bytes, threads=threads
    )


SAME: dict[str, Any] = {}
FIT512: dict[str, Any] = {"width": 512, "height": 512}
ENLARGE: dict[str, Any] = {"width": 8192, "height": 8192, "enlarge": True}
FIT256: dict[str, Any] = {"width": 256, "height": 256}
JPEG_12MP = SourceInfo(F.JPEG, 4240, 2832)
JPEG_50MP = SourceInfo(F.JPEG, 8640, 5760)
PNG_12MP = SourceInfo(F.PNG, 4240, 2832)
PNG_12MP_ALPHA = SourceInfo(F.PNG, 4240, 2832, has_alpha=True)
GIF_ANIMATION = SourceInfo(F.GIF, 500, 500, pages=50, has_alpha=True)
WEBP_ANIMATION = SourceInfo(F.WEBP, 500, 500, pages=50)

# (source, its bytes, options, format, quality, measured MB): the calibration's extremes.
MEASURED = [
    (JPEG_12MP, 3_718_000, ENLARGE, F.AVIF, 65, 1249),
    (JPEG_50MP, 15_068_000, SAME, F.AVIF, 65, 1414),
    (PNG_12MP, 31_436_000, SAME, F.AVIF, 65, 584),  # content aom takes for screen content
    (JPEG_50MP, 15_068_000, SAME, F.GIF, 80, 661),
    (JPEG_50MP, 15_068_000, SAME, F.WEBP, 80, 532),
    (JPEG_50MP, 15_068_000, SAME, F.JPEG, 80, 390),
    (JPEG_50MP, 15_068_000, SAME, F.PNG, 80, 352),
    (PNG_12MP, 31_436_000, FIT512, F.JPEG, 80, 59),  # a streamed resize's window
    (PNG_12MP_ALPHA, 43_784_000, SAME, F.WEBP, 80, 340),
    (PNG_12MP_ALPHA, 43_784_000, FIT512, F.PNG, 80, 157),
    (PNG_12MP_ALPHA, 43_784_000, ENLARGE, F.AVIF, 65, 1456),
    (SourceInfo(F.JPEG, 8640, 5760, interlaced=True), 13_849_000, FIT512, F.JPEG, 80, 163),
    (SourceInfo(F.PNG, 4240, 2832, interlaced=True), 32_054_000, FIT512, F.WEBP, 80, 88),
    (SourceInfo(F.AVIF, 4240, 2832), 2_572_000, FIT512, F.AVIF, 65, 201),
    (SourceInfo(F.WEBP, 4240, 2832), 3_494_000, ENLARGE, F.GIF, 80, 672),
    (GIF_ANIMATION, 10_547_000, FIT256, F.WEBP, 80, 241),
    (GIF_ANIMATION, 10_547_000, {"width": 2048, "height": 2048, "enlarge": True}, F.GIF, 80, 619),
    (WEBP_ANIMATION, 4_916_000, {"width": 2048, "height": 2048, "enlarge": True}, F.GIF, 80, 362),
]


@pytest.mark.parametrize(
    ("info", "source_bytes", "options", "fmt", "quality", "measured"),
    MEASURED,
    ids=[
        f"{m[0].format}-{m[0].width}x{m[0].height}x{m[0].pages}-{m[3]}-{m[5]}MB" for m in MEASURED
    ],
)
def test_above_the_measured_peak_and_within_about_twice_it(
    info: SourceInfo,
    source_bytes: int,
    options: dict[str, Any],
    fmt: ImageFormat,
    quality: int,
    measured: int,
) -> None:
    got = estimate(info, fmt, quality=quality, source_bytes=source_bytes, **options) / MB
    assert 1.1 * measured <= got <= 2.1 * measured


def test_small_renders_cost_a_fixed_base() -> None:
    got = estimate(SourceInfo(F.JPEG, 1728, 1152), F.JPEG, source_bytes=724_000, **FIT512)
    assert 8 * MB < got < 20 * MB  # measured: 2 MB


def test_formats_are_ordered_as_measured() -> None:
    """AVIF > GIF > WebP > PNG, JPEG at every size (PNG is given room for noisy output)."""
    for options in (SAME, ENLARGE):
        by = {fmt: estimate(JPEG_12MP, fmt, quality=65, **options) for fmt in F if fmt.can_save}
        assert by[F.AVIF] > by[F.GIF] > by[F.WEBP] > max(by[F.PNG], by[F.JPEG])
        assert estimate(JPEG_12MP, F.AVIF, quality=90, **options) > by[F.AVIF]  # 4:4:4


def test_alpha_costs_more_where_the_encoder_keeps_it() -> None:
    rgb = SourceInfo(F.PNG, 2000, 1500)
    rgba = SourceInfo(F.PNG, 2000, 1500, has_alpha=True)
    for fmt in (F.PNG, F.WEBP, F.AVIF):
        assert estimate(rgba, fmt) > estimate(rgb, fmt)
    # flattened: only the premultiplied resize costs more
    assert estimate(rgba, F.JPEG, width=1000) > estimate(rgb, F.JPEG, width=1000)
    assert estimate(rgba, F.JPEG) == estimate(rgb, F.JPEG)


def test_a_transparent_canvas_adds_alpha_and_a_background_removes_it() -> None:
    info = SourceInfo(F.JPEG, 2000, 1500)
    canvas = {"width": 3000, "height": 3000, "extend": Extend(True)}
    plain = estimate(info, F.WEBP, **canvas)
    assert estimate(info, F.WEBP, **canvas, background=Color(0, 0, 0)) < plain
    padded = estimate(info, F.WEBP, padding=Padding(10, 10, 10, 10))
    assert padded > estimate(info, F.WEBP)
    rgba = SourceInfo(F.PNG, 2000, 1500, has_alpha=True)
    assert estimate(rgba, F.WEBP, background=Color(9, 9, 9)) < estimate(rgba, F.WEBP)


@pytest.mark.parametrize("fmt", [F.GIF, F.WEBP])
def test_every_frame_of_a_kept_animation_counts(fmt: ImageFormat) -> None:
    def frames(pages: int, **options: Any) -> int:
        info = SourceInfo(F.GIF, 500, 500, pages=pages, has_alpha=True)
        return estimate(info, fmt, **options)

    for options in (FIT256, SAME, {"width": 1024, "height": 1024, "enlarge": True}):
        per_frame = frames(11, **options) - frames(10, **options)
        assert per_frame > 0
        assert frames(50, **options) - frames(10, **options) == pytest.approx(40 * per_frame, 1e-6)
    # a resize keeps a float copy of every frame: measured 241 MB, against 49 unresized
    assert frames(50, **FIT256) > 2 * frames(50)


def test_an_animation_saved_as_a_still_counts_its_first_frame() -> None:
    one = estimate(SourceInfo(F.GIF, 500, 500, pages=1), F.JPEG, **FIT256)
    assert estimate(SourceInfo(F.GIF, 500, 500, pages=50), F.JPEG, **FIT256) == one


def test_interlaced_sources_are_decoded_whole() -> None:
    for fmt in (F.JPEG, F.PNG):
        streamed = estimate(SourceInfo(fmt, 8640, 5760), F.JPEG, **FIT512)
        whole = estimate(SourceInfo(fmt, 8640, 5760, interlaced=True), F.JPEG, **FIT512)
        assert whole > streamed + 8640 * 5760 * 2
    alpha = SourceInfo(F.PNG, 4000, 3000, interlaced=True, has_alpha=True)
    assert estimate(alpha, F.JPEG) > estimate(
        SourceInfo(F.PNG, 4000, 3000, interlaced=True), F.JPEG
    )


def test_decoders_that_hold_the_source_whole() -> None:
    """libheif, libwebp, nsgif, librsvg and TIFF hold the decoded source; PNG streams."""
    streamed = estimate(SourceInfo(F.PNG, 4000, 3000), F.JPEG, **FIT512)
    for fmt in (F.AVIF, F.WEBP, F.GIF, F.TIFF):
        assert estimate(SourceInfo(fmt, 4000, 3000), F.JPEG, width=4000) > estimate(
            SourceInfo(F.PNG, 4000, 3000), F.JPEG, width=4000
        )
    # libwebp and librsvg decode at the resize's scale, libheif cannot
    assert estimate(SourceInfo(F.WEBP, 4000, 3000), F.JPEG, **FIT512) < streamed
    assert estimate(SourceInfo(F.AVIF, 4000, 3000), F.JPEG, **FIT512) > 4000 * 3000 * 16
    svg = SourceInfo(F.SVG, 400, 300)
    assert estimate(svg, F.PNG, width=4000, enlarge=True) > estimate(svg, F.PNG, width=400) + (
        4000 * 3000 * 8
    )


def test_simplejpeg_holds_what_it_decodes_and_libvips_streams_a_crop() -> None:
    info = SourceInfo(F.JPEG, 8000, 6000)
    whole = estimate(info, F.JPEG, width=900)  # decoded at 1/8 by simplejpeg: 1000x750
    streamed = estimate(info, F.JPEG, width=900, crop=Crop(7900, 5925))  # also at 1/8
    assert whole - streamed == 1000 * 750 * 3


def test_options_that_hold_an_image() -> None:
    info = SourceInfo(F.JPEG, 4000, 3000)
    base = estimate(info, F.WEBP, **FIT512)
    assert estimate(info, F.WEBP, **FIT512, trim=Trim(10.0)) > base + 4000 * 3000 * 4
    assert estimate(info, F.WEBP, **FIT512, max_bytes=10_000) > base
    assert estimate(info, F.PNG, **FIT512, max_bytes=10_000) == estimate(info, F.PNG, **FIT512)
    assert estimate(info, F.WEBP, **FIT512, rotate=90) > base
    assert estimate(info, F.WEBP, **FIT512, flip_vertical=True) > base
    assert estimate(info, F.WEBP, **FIT512, flip_horizontal=True) == base
    smart = {"resizing_type": ResizingType.FILL, "gravity": Gravity(GravityType.SMART)}
    fill = {"resizing_type": ResizingType.FILL}
    assert estimate(info, F.WEBP, **FIT512, **smart) > estimate(info, F.WEBP, **FIT512, **fill)
    assert estimate(info, F.WEBP, **FIT512, blur=10.0) > base
    assert estimate(info, F.WEBP, **FIT512, sharpen=1.0) > base
    # an animation's frames are cut where the plan says, and not trimmed
    animation = SourceInfo(F.GIF, 500, 500, pages=10)
    frames = estimate(animation, F.GIF, **FIT256, **fill)
    assert estimate(animation, F.GIF, **FIT256, **smart) == frames
    assert estimate(animation, F.GIF, **FIT256, trim=Trim(10.0)) == estimate(
        animation, F.GIF, **FIT256
    )


def test_more_threads_more_memory() -> None:
    counts = [estimate(JPEG_50MP, F.JPEG, threads=n, **ENLARGE) for n in (1, 2, 4, 8)]
    assert counts == sorted(counts) and len(set(counts)) == 4


def test_svg_is_never_saved_but_costs_what_png_would() -> None:
    assert estimate(JPEG_12MP, F.SVG, **FIT512) == estimate(JPEG_12MP, F.PNG, **FIT512)


def test_exif_rotation_is_counted_in_the_stored_frame() -> None:
    """A source stored on its side and kept at its size is not resized: no window."""
    stored = SourceInfo(F.PNG, 4000, 3000, exif_orientation=6)  # displays 3000x4000
    kept = estimate(stored, F.PNG, width=3000, height=4000)
    assert estimate(stored, F.PNG, width=2999, height=3999) - kept > 10 * MB


# --- properties ---------------------------------------------------------------------------

STILL_SOURCES = [F.JPEG, F.PNG, F.WEBP, F.AVIF, F.GIF, F.TIFF, F.SVG]
OUTPUTS = [F.JPEG, F.PNG, F.WEBP, F.AVIF, F.GIF, F.TIFF]
UNSHRUNK = [F.PNG, F.AVIF, F.GIF, F.TIFF]  # decoded at full size whatever the plan


def decoded(info: SourceInfo, the_plan: Plan) -> tuple[int, int]:
    """The decoder's output, as the loader asks for it (core.shrink_on_load)."""
    factor = reduction(the_plan)
    if info.format is F.JPEG:
        shrink = jpeg_shrink(factor)
        return -(-info.width // shrink), -(-info.height // shrink)
    scale = {F.WEBP: webp_scale(factor), F.SVG: svg_scale(factor, info, math.inf)}
    if info.format in scale:
        s = scale[info.format]
        return math.ceil(info.width * s), math.ceil(info.height * s)
    return info.width, info.height


def costs(
    infos: tuple[SourceInfo, ...], plans: list[Plan], options: ProcessingOptions, out: ImageFormat
) -> list[int]:
    """Each source's estimate with its plan, as `out` at quality 80."""
    return [
        peak_bytes(i, p, options, out, 80, source_bytes=0, threads=THREADS)
        for i, p in zip(infos, plans, strict=True)
    ]


def resizes(info: SourceInfo, the_plan: Plan) -> bool:
    return decoded(info, the_plan) != (the_plan.resize_width, the_plan.resize_height)


sides = st.integers(16, 9000)


@settings(max_examples=400, deadline=None)
@given(
    fmt=st.sampled_from(STILL_SOURCES),
    width=sides,
    height=sides,
    alpha=st.booleans(),
    interlaced=st.booleans(),
    out=st.sampled_from(OUTPUTS),
    boxes=st.tuples(st.integers(1, 8192), st.integers(1, 8192)).map(sorted),
    threads=st.integers(1, 8),
)
def test_a_larger_result_never_costs_less(
    fmt: ImageFormat,
    width: int,
    height: int,
    alpha: bool,
    interlaced: bool,
    out: ImageFormat,
    boxes: list[int],
    threads: int,
) -> None:
    """Among renders that resize (not resizing at all needs no window of input rows)."""
    info = SourceInfo(fmt, width, height, has_alpha=alpha, interlaced=interlaced)
    small, large = (
        ProcessingOptions(width=box, height=box, enlarge=True, resizing_type=ResizingType.FIT)
        for box in boxes
    )
    plans = [plan(o, width, height) for o in (small, large)]
    assume(all(resizes(info, p) for p in plans))
    got = [peak_bytes(info, p, small, out, 80, source_bytes=0, threads=threads) for p in plans]
    assert got[0] <= got[1]


@settings(max_examples=300, deadline=None)
@given(
    fmt=st.sampled_from(UNSHRUNK),
    width=st.integers(16, 4000),
    height=st.integers(16, 4000),
    scale=st.floats(1.0, 2.0),
    alpha=st.booleans(),
    out=st.sampled_from(OUTPUTS),
    box=st.integers(1, 8192),
)
def test_a_larger_source_never_costs_less(
    fmt: ImageFormat,
    width: int,
    height: int,
    scale: float,
    alpha: bool,
    out: ImageFormat,
    box: int,
) -> None:
    """For the same result, from a decoder that does not shrink on load (JPEG and WebP
    decode a larger source at a smaller scale, and cost less: that is real)."""
    small = SourceInfo(fmt, width, height, has_alpha=alpha)
    large = SourceInfo(fmt, round(width * scale), round(height * scale), has_alpha=alpha)
    options = ProcessingOptions(width=box, height=box, enlarge=True)
    plans = [plan(options, i.width, i.height) for i in (small, large)]
    assume((plans[0].width, plans[0].height) == (plans[1].width, plans[1].height))
    assume(all(resizes(i, p) for i, p in zip((small, large), plans, strict=True)))
    smaller, larger = costs((small, large), plans, options, out)
    assert smaller <= larger


@settings(max_examples=200, deadline=None)
@given(
    fmt=st.sampled_from([F.JPEG, F.WEBP]),
    width=st.integers(16, 4000),
    height=st.integers(16, 4000),
    scale=st.floats(1.0, 2.0),
    out=st.sampled_from(OUTPUTS),
)
def test_a_larger_jpeg_or_webp_enlarged_to_the_same_size_never_costs_less(
    fmt: ImageFormat, width: int, height: int, scale: float, out: ImageFormat
) -> None:
    small = SourceInfo(fmt, width, height)
    large = SourceInfo(fmt, round(width * scale), round(height * scale))
    options = ProcessingOptions(width=8192, height=8192, enlarge=True)
    plans = [plan(options, i.width, i.height) for i in (small, large)]
    assume((plans[0].width, plans[0].height) == (plans[1].width, plans[1].height))
    smaller, larger = costs((small, large), plans, options, out)
    assert smaller <= larger


@settings(max_examples=200, deadline=None)
@given(
    source=st.sampled_from([F.GIF, F.WEBP]),
    out=st.sampled_from([F.GIF, F.WEBP]),
    side=st.integers(16, 1000),
    pages=st.integers(2, 200),
    boxes=st.tuples(st.integers(1, 4096), st.integers(1, 4096)).map(sorted),
    alpha=st.booleans(),
)
def test_a_larger_animation_never_costs_less(
    source: ImageFormat, out: ImageFormat, side: int, pages: int, boxes: list[int], alpha: bool
) -> None:
    info = SourceInfo(source, side, side, pages=pages, has_alpha=alpha)
    more = SourceInfo(source, side, side, pages=pages + 1, has_alpha=alpha)
    options = [ProcessingOptions(width=b, height=b, enlarge=True) for b in boxes]
    plans = [plan(o, side, side) for o in options]
    assume(all(resizes(info, p) for p in plans))
    got = [peak_bytes(info, p, options[0], out, 80, source_bytes=0, threads=2) for p in plans]
    assert got[0] <= got[1]
    more_frames = peak_bytes(more, plans[0], options[0], out, 80, source_bytes=0, threads=2)
    assert more_frames > got[0]


@given(source_bytes=st.integers(0, 50_000_000))
def test_the_source_bytes_count_once(source_bytes: int) -> None:
    assert estimate(JPEG_12MP, F.JPEG, source_bytes=source_bytes) == (
        estimate(JPEG_12MP, F.JPEG) + source_bytes
    )
