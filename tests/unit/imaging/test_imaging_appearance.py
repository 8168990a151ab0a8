"""Appearance with libvips: which colour dominates, upright placeholders, every input kind.

What both engines promise is in tests/contract/test_engine.py; this is what only pixels show.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import numpy as np
import pytest
import pyvips
import thash

from imgfleet.core.appearance import Appearance, appearance
from imgfleet.imaging import VipsEngine
from imgfleet.imaging.appearance import small_rgba
from tests import imagegen


def png(image: pyvips.Image) -> bytes:
    return bytes(image.cast("uchar").copy(interpretation="srgb").pngsave_buffer())


def solid(width: int, height: int, colour: list[int]) -> pyvips.Image:
    return pyvips.Image.black(width, height, bands=len(colour)) + colour


def decoded(described: Appearance) -> np.ndarray:
    """The placeholder as the library decodes it: height x width x RGBA."""
    width, height, pixels = thash.thumb_hash_to_rgba(base64.b64decode(described.placeholder))
    return np.frombuffer(pixels, dtype=np.uint8).reshape(height, width, 4)


def test_the_dominant_colour_is_one_the_image_has_not_the_mean(engine: VipsEngine) -> None:
    halves = solid(60, 80, [255, 0, 0]).join(solid(40, 80, [0, 0, 255]), "horizontal")
    assert engine.describe(png(halves)).dominant_color == "#ff0000"  # not purple, #990066


def test_transparent_pixels_do_not_count(engine: VipsEngine) -> None:
    clear = solid(90, 100, [0, 0, 0, 0])  # transparent black, most of the image
    green = solid(10, 100, [20, 180, 20, 255])
    assert engine.describe(png(clear.join(green, "horizontal"))).dominant_color == "#14b414"


def test_a_wholly_transparent_image_has_the_colour_of_its_pixels(engine: VipsEngine) -> None:
    assert engine.describe(png(solid(50, 40, [0, 0, 255, 0]))).dominant_color == "#0000ff"


@pytest.mark.parametrize("tag", range(1, 9))
def test_the_placeholder_is_upright_by_exif_orientation(engine: VipsEngine, tag: int) -> None:
    # Displayed 64 x 48 with a red block top-left, whatever the tag does to the stored pixels.
    pixels = decoded(engine.describe(imagegen.jpeg_with_orientation(tag, 64, 48)))
    height, width = pixels.shape[:2]
    assert width > height
    corner, opposite = pixels[: height // 4, : width // 4], pixels[-height // 4 :, -width // 4 :]
    redness = lambda block: float(block[..., 0].mean() - block[..., 1:3].mean())  # noqa: E731
    assert redness(corner) > redness(opposite) + 20


MAKERS: list[tuple[str, Callable[[], bytes]]] = [
    ("jpeg", lambda: imagegen.jpeg(64, 48)),
    ("cmyk-jpeg", lambda: imagegen.cmyk_jpeg(64, 48)),
    ("png-16-alpha", lambda: imagegen.png(64, 48, alpha=True, bits16=True)),
    ("grey", lambda: bytes(imagegen.pattern(64, 48)[0].pngsave_buffer())),
    ("grey-alpha", lambda: bytes(imagegen.pattern(64, 48, 4)[1:3].pngsave_buffer())),
    ("webp-alpha", lambda: imagegen.webp(64, 48, alpha=True)),
    ("webp-animated", lambda: imagegen.webp_animated(64, 48)),
    ("avif", lambda: imagegen.avif(64, 48)),
    ("tiff", lambda: imagegen.tiff(64, 48)),
    ("gif", lambda: imagegen.gif(64, 48)),
]


@pytest.mark.parametrize(("name", "make"), MAKERS, ids=[m[0] for m in MAKERS])
def test_every_input_kind_gives_rgba_and_a_placeholder(
    engine: VipsEngine, name: str, make: Callable[[], bytes]
) -> None:
    data = make()
    rgba = small_rgba(data)
    assert rgba.shape == (48, 64, 4) and rgba.dtype == np.uint8
    described = engine.describe(data)
    assert decoded(described).shape[1] > decoded(described).shape[0]
    assert len(described.dominant_color) == 7


def test_a_large_image_is_shrunk_to_thumbhash_size(engine: VipsEngine) -> None:
    data = imagegen.jpeg(2000, 1000)
    assert small_rgba(data).shape == (50, 100, 4)
    height, width = decoded(engine.describe(data)).shape[:2]
    assert width / height > 1.5  # ThumbHash keeps the aspect coarsely (7:4 for 2:1)


def test_an_appearance_is_base64_and_a_clamped_hex_colour() -> None:
    described = appearance([1, 2, 3], (-3.2, 127.6, 300.0))
    assert described == Appearance(placeholder="AQID", dominant_color="#0080ff")
