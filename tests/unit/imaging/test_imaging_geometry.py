"""Geometry: orientation, crops, trim, canvas, padding and effects land where the plan says."""

from __future__ import annotations

import pytest
import pyvips
from hypothesis import given, settings
from hypothesis import strategies as st

from imgfleet.core.geometry import Box, Orientation, exif_orientation
from imgfleet.core.options import Color, Trim
from imgfleet.imaging.transform import stored_box
from tests import imagegen

from .conftest import Render, close, decode, make_plan, mean

RED = [220.0, 20.0, 20.0]


def corners(image: pyvips.Image) -> dict[str, list[float]]:
    """Mean colour of a small patch in each corner."""
    w, h = image.width, image.height
    pw, ph = max(w // 10, 1), max(h // 10, 1)
    return {
        "top-left": mean(image, Box(0, 0, pw, ph)),
        "top-right": mean(image, Box(w - pw, 0, pw, ph)),
        "bottom-left": mean(image, Box(0, h - ph, pw, ph)),
        "bottom-right": mean(image, Box(w - pw, h - ph, pw, ph)),
    }


def red_corner(image: pyvips.Image) -> str:
    reds = [name for name, colour in corners(image).items() if close(colour, RED, 30)]
    assert len(reds) == 1, corners(image)
    return reds[0]


@pytest.mark.parametrize("size", [(32, 24), (64, 48), (50, 40)], ids=["fast", "still", "libvips"])
@pytest.mark.parametrize("tag", range(1, 9))
def test_exif_orientation_puts_the_marked_corner_top_left(
    render: Render, tag: int, size: tuple[int, int]
) -> None:
    data = imagegen.jpeg_with_orientation(tag, 64, 48)
    stored_w, stored_h = (48, 64) if tag >= 5 else (64, 48)
    plan = make_plan(stored_w, stored_h, *size, orientation=exif_orientation(tag))
    image = decode(render(data, plan))
    assert (image.width, image.height) == size
    assert red_corner(image) == "top-left"


def test_without_auto_rotate_the_stored_pixels_are_kept(render: Render) -> None:
    data = imagegen.jpeg_with_orientation(6, 64, 48)
    image = decode(render(data, make_plan(48, 64)))  # identity orientation: stored pixels
    assert (image.width, image.height) == (48, 64)
    assert red_corner(image) == "bottom-left"  # stored turned a quarter anticlockwise


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [
        (Orientation(90), "top-right"),
        (Orientation(180), "bottom-right"),
        (Orientation(270), "bottom-left"),
        (Orientation(0, True, False), "top-right"),
        (Orientation(0, False, True), "bottom-left"),
        (Orientation(90, True, False), "top-left"),
    ],
)
def test_rotate_and_flip(render: Render, orientation: Orientation, corner: str) -> None:
    data = imagegen.jpeg_with_orientation(1, 64, 48)
    image = decode(render(data, make_plan(64, 48, orientation=orientation)))
    assert red_corner(image) == corner


@settings(max_examples=60, deadline=None)
@given(
    rotate=st.sampled_from([0, 90, 180, 270]),
    flip_h=st.booleans(),
    flip_v=st.booleans(),
    data=st.data(),
)
def test_stored_box_is_the_oriented_box_seen_from_the_stored_pixels(
    rotate: int, flip_h: bool, flip_v: bool, data: st.DataObject
) -> None:
    stored = pyvips.Image.xyz(7, 5)  # every pixel holds its own stored (x, y)
    o = Orientation(rotate, flip_h, flip_v)
    oriented = stored.rot(f"d{rotate}") if rotate else stored
    oriented = oriented.fliphor() if flip_h else oriented
    oriented = oriented.flipver() if flip_v else oriented
    left = data.draw(st.integers(0, oriented.width - 1))
    top = data.draw(st.integers(0, oriented.height - 1))
    width = data.draw(st.integers(1, oriented.width - left))
    height = data.draw(st.integers(1, oriented.height - top))
    box = stored_box(Box(left, top, width, height), o, oriented.width, oriented.height)
    want = oriented.crop(left, top, width, height)
    got = stored.crop(box.left, box.top, box.width, box.height)
    pixels = {(int(x), int(y)) for row in _pixels(want) for x, y in row}
    assert pixels == {(int(x), int(y)) for row in _pixels(got) for x, y in row}


def _pixels(image: pyvips.Image) -> list[list[tuple[float, float]]]:
    xs, ys = image[0].tolist(), image[1].tolist()
    return [list(zip(rx, ry, strict=True)) for rx, ry in zip(xs, ys, strict=True)]


def test_crop_before_resize_in_the_oriented_frame(render: Render) -> None:
    data = imagegen.jpeg_with_orientation(6, 64, 48)  # displays 64x48, red block top-left
    plan = make_plan(
        48, 64, 20, 20, orientation=exif_orientation(6), crop=Box(0, 0, 16, 12)
    )  # exactly the red block (a quarter of each side)
    image = decode(render(data, plan))
    assert (image.width, image.height) == (20, 20)
    assert close(mean(image), RED, 30)


def test_crop_is_scaled_to_the_shrunk_on_load_image(render: Render) -> None:
    w, h = 1600, 1200
    data = bytes(imagegen.marked(w, h).jpegsave_buffer(Q=90))  # red block: the top-left 400x300
    plan = make_plan(w, h, 50, 50, crop=Box(0, 0, 400, 300))  # 8x reduction: shrink 8
    image = decode(render(data, plan))
    assert (image.width, image.height) == (50, 50)
    assert close(mean(image), RED, 30)


def test_result_crop_cuts_the_resized_image(render: Render) -> None:
    data = imagegen.jpeg_with_orientation(1, 64, 48)
    plan = make_plan(64, 48, 32, 24, result_crop=Box(0, 0, 8, 6))
    image = decode(render(data, plan))
    assert (image.width, image.height) == (8, 6)
    assert close(mean(image), RED, 30)


def test_smart_crop_keeps_the_size_and_finds_the_detail(render: Render) -> None:
    base = pyvips.Image.black(200, 100, bands=3) + 128
    spot = (pyvips.Image.xyz(30, 30)[0] % 2 * 255).bandjoin([0, 0]).cast("uchar")
    data = bytes(base.cast("uchar").insert(spot, 160, 40).pngsave_buffer())
    plan = make_plan(200, 100, result_crop=Box(0, 0, 100, 100), smart_crop=True)
    image = decode(render(data, plan))
    assert (image.width, image.height) == (100, 100)
    assert mean(image, Box(60, 40, 30, 30))[0] > 100  # the busy red spot is inside


def test_trim_removes_a_uniform_border(render: Render) -> None:
    inner = imagegen.pattern(40, 30)
    framed = inner.embed(10, 5, 60, 40, extend="background", background=[255, 255, 255])
    data = bytes(framed.pngsave_buffer())
    image = decode(render(data, trim=Trim(threshold=10)))
    assert (image.width, image.height) == (40, 30)


def test_trim_comes_before_resizing_like_imgproxy(render: Render) -> None:
    inner = imagegen.pattern(40, 30)
    framed = inner.embed(10, 5, 60, 40, extend="background", background=[255, 255, 255])
    image = decode(render(bytes(framed.pngsave_buffer()), trim=Trim(threshold=10), width=20))
    assert (image.width, image.height) == (20, 15)  # the 40x30 content fitted to width 20


def test_trim_of_an_exif_rotated_source_trims_what_the_viewer_sees(render: Render) -> None:
    data = imagegen.jpeg_with_orientation(6, 64, 48)
    image = decode(render(data, trim=Trim(threshold=1)))
    assert image.width == 64 and image.height == 48  # upright, nothing to trim


def test_trim_with_colour_and_equal_sides(render: Render) -> None:
    inner = imagegen.pattern(40, 30)
    framed = inner.embed(4, 2, 60, 40, extend="background", background=[0, 0, 255])
    data = bytes(framed.pngsave_buffer())
    trim = Trim(threshold=10, color=Color(0, 0, 255), equal_hor=True, equal_ver=True)
    image = decode(render(data, trim=trim))
    assert (image.width, image.height) == (60 - 2 * 4, 40 - 2 * 2)


def test_trim_of_a_blank_image_keeps_it(render: Render) -> None:
    blank = (pyvips.Image.black(30, 20, bands=3) + 255).cast("uchar")
    image = decode(render(bytes(blank.pngsave_buffer()), trim=Trim(threshold=10)))
    assert (image.width, image.height) == (30, 20)


def test_extend_places_the_image_on_a_transparent_canvas(render: Render) -> None:
    plan = make_plan(64, 48, 32, 24, canvas=Box(10, 20, 60, 50))
    image = decode(render(imagegen.jpeg(64, 48), plan))
    assert (image.width, image.height, image.bands) == (60, 50, 4)
    assert image[3].crop(0, 0, 10, 50).max() == 0
    assert image[3].crop(10, 20, 32, 24).min() == 255


def test_extend_with_a_background_colour(render: Render) -> None:
    plan = make_plan(64, 48, 32, 24, canvas=Box(0, 0, 64, 48), background=Color(0, 255, 0))
    image = decode(render(imagegen.jpeg(64, 48), plan, "jpeg"))
    assert (image.width, image.height, image.bands) == (64, 48, 3)
    assert close(mean(image, Box(40, 30, 20, 15)), [0, 255, 0], 20)


def test_extend_for_jpeg_without_background_is_white(render: Render) -> None:
    plan = make_plan(64, 48, 32, 24, canvas=Box(0, 0, 64, 48))
    image = decode(render(imagegen.jpeg(64, 48), plan, "jpeg"))
    assert image.bands == 3
    assert min(mean(image, Box(40, 30, 20, 15))) > 240


def test_padding_is_added_last(render: Render) -> None:
    plan = make_plan(64, 48, 32, 24, padding=(1, 2, 3, 4), background=Color(255, 0, 0))
    image = decode(render(imagegen.jpeg(64, 48), plan))
    assert (image.width, image.height) == (32 + 2 + 4, 24 + 1 + 3)
    assert close(mean(image, Box(0, 0, 4, 28)), [255, 0, 0], 10)


def test_blur_softens_and_keeps_the_size(render: Render) -> None:
    data = imagegen.png(80, 60)
    sharp, soft = decode(render(data)), decode(render(data, blur=3.0))
    assert (soft.width, soft.height) == (80, 60)
    assert soft.deviate() < sharp.deviate()


def test_blur_keeps_alpha(render: Render) -> None:
    image = decode(render(imagegen.png(80, 60, alpha=True), blur=2.0))
    assert image.bands == 4


def test_sharpen_keeps_size_and_bands(render: Render) -> None:
    data = imagegen.png(80, 60, alpha=True)
    image = decode(render(data, sharpen=1.5))
    assert (image.width, image.height, image.bands) == (80, 60, 4)


def test_pixelate_makes_blocks(render: Render) -> None:
    image = decode(render(imagegen.png(80, 60), pixelate=10))
    assert (image.width, image.height) == (80, 60)
    block = image.crop(10, 10, 10, 10)
    assert max(block[i].deviate() for i in range(3)) < 1.0
