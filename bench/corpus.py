"""Deterministic, photo-like test images for the benchmarks; nothing is downloaded.

Each image is a sum of things that make a real photo costly to code: smooth light
(gradients and a vignette), cloud-like texture at every scale (upsampled Gaussian noise,
weaker at finer scales, so the spectrum falls off like a photo's), hard-edged objects and
sensor grain. Saved as baseline JPEG, quality 90, 4:2:0 chroma (like a camera or phone),
so it codes at a photo's bits per pixel rather than a flat colour's.
Same seed, same bytes: the noise is seeded, the shapes come from `random.Random(seed)`.

    .venv/bin/python -m bench.corpus            # writes bench/.corpus/{m,l}{1..4}.jpg
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path

import pyvips

CORPUS_DIR = Path(__file__).resolve().parent / ".corpus"


@dataclass(frozen=True, slots=True)
class Size:
    name: str  # file name prefix
    width: int
    height: int


MEDIUM = Size("m", 2040, 1360)  # ~2.8 MP, like DIV2K
LARGE = Size("l", 4032, 3024)  # ~12 MP, a phone camera
SIZES = (MEDIUM, LARGE)
IMAGES_PER_SIZE = 4


def _texture(width: int, height: int, seed: int) -> pyvips.Image:
    """One band of multi-scale noise, mean 0, amplitude falling with scale (like 1/f).

    Built as a pyramid from 128 px blobs down to 2 px ones: each level doubles the size of
    what came before and adds finer noise, so the cost is about that of one full-size step.
    Pixel-level noise is left to the sensor grain.
    """
    octaves = 7
    w, h = -(-width // 2**octaves), -(-height // 2**octaves)
    total = pyvips.Image.black(w, h)
    for octave in range(octaves):
        noise = pyvips.Image.gaussnoise(w, h, sigma=1.0, mean=0.0, seed=seed * 31 + octave)
        total = total + noise * (30.0 / (1.0 + 0.6 * octave))
        total = total.resize(2, kernel="cubic").copy_memory()
        w, h = w * 2, h * 2
    return total.crop(0, 0, width, height)


def _draw_shape(canvas: pyvips.Image, rng: random.Random) -> pyvips.Image:
    """`canvas` with a filled rectangle or disc of a random colour; band 3 marks it."""
    w, h = canvas.width, canvas.height
    ink = [rng.randint(0, 255) for _ in range(3)] + [255]
    left, top = rng.randrange(w), rng.randrange(h)
    ow, oh = rng.randint(w // 20, w // 3), rng.randint(h // 20, h // 3)
    if rng.random() < 0.5:
        return canvas.draw_rect(ink, left, top, ow, oh, fill=True)
    return canvas.draw_circle(ink, left, top, ow // 2, fill=True)


def photo(size: Size, seed: int) -> pyvips.Image:
    """A photo-like sRGB image, deterministic in `seed`."""
    rng = random.Random(seed)
    w, h = size.width, size.height
    xy = pyvips.Image.xyz(w, h)
    x, y = xy[0] / w, xy[1] / h
    # Light: a sky-to-ground gradient of two random colours, and a vignette.
    top = [rng.uniform(60, 200) for _ in range(3)]
    bottom = [rng.uniform(30, 160) for _ in range(3)]
    red, green, blue = (y * (b - t) + t for t, b in zip(top, bottom, strict=True))
    base = red.bandjoin([green, blue])
    vignette = 1.0 - 0.35 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)
    # Objects with hard edges, drawn on an 8-bit layer (each draw copies its canvas).
    layer = pyvips.Image.black(w, h, bands=4).cast("uchar")
    for _ in range(rng.randint(8, 14)):
        layer = _draw_shape(layer, rng)
    image = layer[3].ifthenelse(layer[:3], base * vignette)
    image = image.gaussblur(0.8)  # lens softness: edges span a pixel or two
    # Texture at every scale, different per band but correlated (shared luma part).
    luma = _texture(w, h, seed * 7 + 1)
    red, green, blue = (luma + _texture(w, h, seed * 7 + 2 + b) * 0.4 for b in range(3))
    image = image + red.bandjoin([green, blue])
    # Sensor grain.
    image = image + pyvips.Image.gaussnoise(w, h, sigma=3.0, mean=0.0, seed=seed * 7 + 5)
    return image.cast("uchar").copy(interpretation="srgb")


def generate(directory: Path = CORPUS_DIR, *, force: bool = False) -> list[Path]:
    """Write the corpus into `directory` (kept when present, unless `force`); return paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for size in SIZES:
        for index in range(1, IMAGES_PER_SIZE + 1):
            path = directory / f"{size.name}{index}.jpg"
            if force or not path.exists():
                tmp = path.with_suffix(".tmp.jpg")
                seed = index + (1000 if size is LARGE else 0)
                photo(size, seed).jpegsave(str(tmp), Q=90, subsample_mode="on", strip=True)
                tmp.replace(path)
            paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=CORPUS_DIR, help="output folder")
    parser.add_argument("--force", action="store_true", help="rewrite existing files")
    args = parser.parse_args()
    for path in generate(args.dir, force=args.force):
        image = pyvips.Image.new_from_file(str(path))
        bpp = path.stat().st_size * 8 / (image.width * image.height)
        print(f"{path}  {image.width}x{image.height}  {path.stat().st_size:>9} B  {bpp:.2f} bpp")


if __name__ == "__main__":
    main()
