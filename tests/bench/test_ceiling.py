"""bench/ceiling.py: the geometry, and each library's render of a small image."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from bench.ceiling import (
    Encoding,
    Job,
    centre_crop,
    jpeg_shrink,
    measure,
    output_size,
    render_pillow,
    render_pyvips,
    scaled_size,
)
from tests import imagegen


@dataclass(frozen=True, slots=True)
class Work:
    op: str
    width: int
    height: int
    out_format: str
    quality: int


@pytest.mark.parametrize(
    ("source", "op", "box", "scaled", "out"),
    [
        ((2040, 1360), "fit", (512, 512), (512, 341), (512, 341)),
        ((2040, 1360), "fill", (300, 200), (300, 200), (300, 200)),
        ((4032, 3024), "fit", (512, 512), (512, 384), (512, 384)),
        ((4032, 3024), "fill", (300, 200), (300, 225), (300, 200)),
        ((7360, 4912), "fit", (512, 512), (512, 342), (512, 342)),
        ((100, 50), "fit", (512, 512), (100, 50), (100, 50)),  # never enlarged
        ((100, 50), "fill", (300, 200), (100, 50), (100, 50)),
    ],
)
def test_sizes(
    source: tuple[int, int],
    op: str,
    box: tuple[int, int],
    scaled: tuple[int, int],
    out: tuple[int, int],
) -> None:
    assert scaled_size(*source, op, *box) == scaled
    assert output_size(*source, op, *box) == out


def test_unknown_op() -> None:
    with pytest.raises(ValueError, match="op"):
        scaled_size(10, 10, "crop", 5, 5)


@pytest.mark.parametrize(
    ("source", "scaled", "shrink"),
    [
        ((2040, 1360), (512, 341), 2),  # 1/4 would leave 510 < 512
        ((2040, 1360), (300, 200), 4),
        ((4032, 3024), (512, 384), 4),
        ((7360, 4912), (512, 342), 8),
        ((600, 400), (512, 341), 1),
    ],
)
def test_jpeg_shrink_keeps_at_least_the_scaled_size(
    source: tuple[int, int], scaled: tuple[int, int], shrink: int
) -> None:
    assert jpeg_shrink(*source, *scaled) == shrink


def test_centre_crop() -> None:
    assert centre_crop((300, 225), (300, 200)) == (0, 12)


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("render", [render_pyvips, render_pillow])
@pytest.mark.parametrize(
    ("fmt", "pil_format"), [("jpeg", "JPEG"), ("webp", "WEBP"), ("avif", "AVIF"), ("png", "PNG")]
)
@pytest.mark.parametrize(
    ("op", "box", "out"), [("fit", (64, 64), (64, 43)), ("fill", (30, 20), (30, 20))]
)
def test_render(
    render: object, fmt: str, pil_format: str, op: str, box: tuple[int, int], out: tuple[int, int]
) -> None:
    job = Job(Path("unused"), op, *box, fmt, 70)
    for source in (imagegen.jpeg(255, 170), imagegen.png(255, 170)):
        image = _decode(render(job, source, Encoding(avif_effort=0)))  # type: ignore[operator]
        assert (image.format, image.size) == (pil_format, out)


def test_jpeg_is_baseline_420() -> None:
    job = Job(Path("unused"), "fit", 64, 64, "jpeg", 80)
    for render in (render_pyvips, render_pillow):
        image = _decode(render(job, imagegen.jpeg(255, 170), Encoding()))
        assert "progressive" not in image.info
        # luma sampled 2x2 against chroma: 4:2:0
        assert image.layer[0][1:3] == (2, 2)  # type: ignore[attr-defined]


def test_measure_counts_and_returns_one_pass_in_order(tmp_path: Path) -> None:
    paths = []
    for i, size in enumerate(((255, 170), (170, 255))):
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(imagegen.jpeg(*size))
        paths.append(path)
    work = Work("fit", 64, 64, "jpeg", 80)
    found = measure("pillow", [(p, work) for p in paths], workers=1, seconds=0.2, warmup=0.0)
    assert found.images > 0 and found.rate > 0
    assert [_decode(o).size for o in found.outputs] == [(64, 43), (43, 64)]
    assert found.mean_bytes == sum(map(len, found.outputs)) / 2
    repeated = measure(
        "pillow", [(p, work) for p in paths], workers=1, seconds=0.2, warmup=0.0, outputs=False
    )
    assert repeated.rate > 0 and repeated.outputs == () and repeated.mean_bytes is None
    with pytest.raises(ValueError, match="library"):
        measure("magick", [(paths[0], work)])
