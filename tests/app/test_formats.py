"""Every input format, orientation and pixel layout through the HTTP path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import pyvips

from tests import imagegen
from tests.app.conftest import AppFactory, signed

SOURCES: dict[str, Callable[[], bytes]] = {
    "jpeg.jpg": lambda: imagegen.jpeg(120, 90),
    "png.png": lambda: imagegen.png(120, 90),
    "webp.webp": lambda: imagegen.webp(120, 90),
    "avif.avif": lambda: imagegen.avif(120, 90),
    "gif.gif": lambda: imagegen.gif(120, 90),
    "tiff.tiff": lambda: imagegen.tiff(120, 90),
    "progressive.jpg": lambda: imagegen.progressive_jpeg(120, 90),
    "cmyk.jpg": lambda: imagegen.cmyk_jpeg(120, 90),
    "deep.png": lambda: imagegen.png(120, 90, bits16=True),
}
OUTPUTS = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "gif": "image/gif",
    "tiff": "image/tiff",
}


@pytest.fixture
def library(images: Path) -> Path:
    for name, make in SOURCES.items():
        (images / name).write_bytes(make())
    for tag in range(1, 9):
        (images / f"orient{tag}.jpg").write_bytes(imagegen.jpeg_with_orientation(tag, 80, 60))
    (images / "alpha.webp").write_bytes(imagegen.webp(60, 40, alpha=True))
    (images / "anim.webp").write_bytes(imagegen.webp_animated(40, 30, 3))
    (images / "vector.svg").write_bytes(imagegen.svg(60, 40))
    return images


async def get(app_factory: AppFactory, path: str, **sections: dict[str, object]) -> httpx.Response:
    app = await app_factory(**sections)
    async with app.client() as client:
        return await client.get(path)


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("ext", list(OUTPUTS))
async def test_every_input_to_every_output(
    library: Path, make_app: AppFactory, source: str, ext: str
) -> None:
    r = await get(make_app, signed("rs:fit:60:60", f"local:///{source}", ext))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == OUTPUTS[ext]
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert (image.width, image.height) == (60, 45)
    assert image.interpretation in ("srgb", "b-w") and image.format == "uchar"


@pytest.mark.parametrize("tag", range(1, 9))
async def test_exif_orientation_is_applied(library: Path, make_app: AppFactory, tag: int) -> None:
    r = await get(make_app, signed("w:80", f"local:///orient{tag}.jpg", "png"))
    image = pyvips.Image.new_from_buffer(r.content, "")
    assert (image.width, image.height) == (80, 60)
    corner = image.crop(2, 2, 12, 8).stats()  # the red block must be top-left
    red, green = corner(4, 1)[0], corner(4, 2)[0]  # mean of band 0 and band 1
    assert red > 180 and green < 80


async def test_metadata_is_stripped_by_default(library: Path, make_app: AppFactory) -> None:
    r = await get(make_app, signed("w:40", "local:///orient6.jpg", "jpg"))
    assert "exif-data" not in pyvips.Image.new_from_buffer(r.content, "").get_fields()


async def test_alpha_is_kept_for_webp_and_flattened_for_jpeg(
    library: Path, make_app: AppFactory
) -> None:
    webp = await get(make_app, signed("w:30", "local:///alpha.webp", "webp"))
    assert pyvips.Image.new_from_buffer(webp.content, "").bands == 4
    jpeg = await get(make_app, signed("w:30", "local:///alpha.webp", "jpg"))
    assert pyvips.Image.new_from_buffer(jpeg.content, "").bands == 3


async def test_animated_webp_keeps_frames(library: Path, make_app: AppFactory) -> None:
    r = await get(make_app, signed("w:20", "local:///anim.webp", "webp"))
    image = pyvips.Image.new_from_buffer(r.content, "", n=-1)
    assert image.get("n-pages") == 3 and image.width == 20


async def test_frame_limit(library: Path, make_app: AppFactory) -> None:
    r = await get(make_app, signed("w:20", "local:///anim.webp", "webp"), limits={"max_frames": 2})
    assert r.status_code == 422 and "max_frames" in r.json()["message"]


async def test_svg_is_refused_unless_enabled(library: Path, make_app: AppFactory) -> None:
    path = signed("w:120", "local:///vector.svg")
    refused = await get(make_app, path)
    assert refused.status_code == 415
    allowed = await get(make_app, path, formats={"svg_input": True})
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["content-type"] == "image/png"
    assert pyvips.Image.new_from_buffer(allowed.content, "").width == 120


async def test_source_byte_limit(library: Path, make_app: AppFactory) -> None:
    r = await get(make_app, signed("w:20", "local:///png.png"), sources={"max_bytes": 100})
    assert r.status_code == 413
