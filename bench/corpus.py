"""The benchmark corpus: photos that scikit-image ships, grown to benchmark sizes; no download.

Each picture is one public-domain or CC0 photo from the installed scikit-image wheel (read
by file path, never through `skimage.data`, whose fetchers may download), scaled by at most
`MAX_UPSCALE`, mirror-tiled so the tiles join without seams, cropped at a seeded offset to
the target size, colour-balanced a little differently per picture, and given seeded sensor
grain. Grain is what makes it code like a photo: JPEG q90 at 2-4 bits per pixel, and no
byte-exact repeats between tiles for PNG's deflate to find.

Sizes: M = 2040x1360 (like DIV2K), L = 4032x3024 (a phone), XL = 7360x4912 (a full-frame
camera). Each picture is saved as baseline JPEG q90 4:2:0, PNG, WebP q90 and AVIF q75
(effort 0), as `bench/.corpus/<size><n>.<ext>` (m1.jpg, l3.avif, xl2.png, ...). Edge files
(`edge-*`) come from one more M picture: progressive JPEG, JPEG stored rotated with EXIF
orientation 6, CMYK JPEG (with the ICC profile), 16-bit PNG, animated GIF.

Same parameters, same pixels: every random choice is seeded. `manifest.json` records
the parameters of each file (generator version included); a file whose entry matches is
kept, any other is written again.

    .venv/bin/python -m bench.corpus                 # M, L, XL and the edge files
    .venv/bin/python -m bench.corpus --sizes M --per-size M=2 --formats jpeg --no-edge
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import random
import sys
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyvips

GENERATOR_VERSION = 1  # bump when the recipe's code changes: every file is written again
CORPUS_DIR = Path(__file__).resolve().parent / ".corpus"
MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class Size:
    label: str  # "M", "L", "XL", "edge"; any other label for tests
    width: int
    height: int

    @property
    def name(self) -> str:
        """The file-name prefix: "m", "l", "xl"."""
        return self.label.lower()


@dataclass(frozen=True, slots=True)
class CorpusImage:
    name: str  # file stem, shared by the formats of one picture: "m1", "edge-cmyk"
    size: str  # "M" | "L" | "XL" | "edge"
    format: str  # "jpeg" | "png" | "webp" | "avif" | "gif"
    path: Path
    width: int  # as displayed (EXIF orientation applied), one frame for the GIF
    height: int


MEDIUM = Size("M", 2040, 1360)
LARGE = Size("L", 4032, 3024)
XLARGE = Size("XL", 7360, 4912)
EDGE = Size("edge", 2040, 1360)
SIZES = {size.label: size for size in (MEDIUM, LARGE, XLARGE)}
PER_SIZE = {"M": 4, "L": 4, "XL": 2}
IMAGES_PER_SIZE = PER_SIZE["M"]  # bench/load.py uses m1..m4 and l1..l4
FORMATS = ("jpeg", "png", "webp", "avif")
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif", "gif": "gif"}
SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "jpeg": {"Q": 90, "subsample_mode": "on", "interlace": False},
    "png": {"compression": 6},
    "webp": {"Q": 90, "effort": 4},
    "avif": {"Q": 75, "compression": "av1", "effort": 0},
}

# Public domain or CC0, per scikit-image's own notes; motorcycle_left.png is left out (its
# licence, the Middlebury stereo set's, is not stated as either).
SOURCES = (
    "astronaut.png",  # NASA, public domain
    "chelsea.png",  # CC0, Stefan van der Walt
    "coffee.png",  # CC0, Rachel Michetti
    "rocket.jpg",  # SpaceX, public domain
    "hubble_deep_field.jpg",  # NASA, public domain
    "retina.jpg",  # CC0, Mikael Häggström
)
SOURCE_OFFSET = {"M": 0, "L": 2, "XL": 4, "edge": 1}  # M: astronaut.. rocket; XL: hubble, retina
TILES_PER_HEIGHT = 2.2
MAX_UPSCALE = 2.5
LUMA_GRAIN = 6.0  # sigma, 8-bit levels
CHROMA_GRAIN = 2.0
RECIPE = {
    "tiles_per_height": TILES_PER_HEIGHT,
    "max_upscale": MAX_UPSCALE,
    "luma_grain": LUMA_GRAIN,
    "chroma_grain": CHROMA_GRAIN,
}
GIF_FRAMES = 8


def source_dir() -> Path:
    """The photo folder inside the installed scikit-image, found without importing it."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-image is missing: .venv/bin/pip install -e '.[bench]'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def seed_of(label: str, index: int) -> int:
    """A stable 31-bit seed per picture: adding sizes or pictures changes no other one."""
    return zlib.crc32(f"{label}{index}".encode()) & 0x7FFF_FFFF


def source_name(size: Size, index: int) -> str:
    return SOURCES[(SOURCE_OFFSET.get(size.label, 0) + index - 1) % len(SOURCES)]


def photo(size: Size, index: int, sources: Path) -> pyvips.Image:
    """Picture `index` (from 1) of `size`: an 8-bit sRGB image, deterministic."""
    seed = seed_of(size.label, index)
    rng = random.Random(seed)
    source = pyvips.Image.new_from_file(str(sources / source_name(size, index)))
    source = source.colourspace("srgb")[:3]
    tiles = max(TILES_PER_HEIGHT, size.height / (source.height * MAX_UPSCALE))
    tile = source.resize(size.height / tiles / source.height * rng.uniform(0.9, 1.1))
    row = tile.join(tile.flip("horizontal"), "horizontal")
    block = row.join(row.flip("vertical"), "vertical")  # mirrored 2x2: tiles without seams
    across = math.ceil(size.width / block.width) + 1
    down = math.ceil(size.height / block.height) + 1
    left, top = rng.randrange(block.width), rng.randrange(block.height)
    image = block.replicate(across, down).crop(left, top, size.width, size.height)
    image = image * [rng.uniform(0.92, 1.08) for _ in range(3)]  # exposure and white balance
    w, h = size.width, size.height
    luma = pyvips.Image.gaussnoise(w, h, sigma=LUMA_GRAIN, mean=0.0, seed=seed)
    chroma = [
        pyvips.Image.gaussnoise(w, h, sigma=CHROMA_GRAIN, mean=0.0, seed=seed + 1 + band)
        for band in range(3)
    ]
    image = image + luma + chroma[0].bandjoin(chroma[1:])
    return image.cast("uchar").copy(interpretation="srgb").copy_memory()


def save(image: pyvips.Image, path: Path, options: Mapping[str, Any]) -> None:
    """Write atomically (a temporary name, then rename), without metadata unless asked."""
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    image.write_to_file(str(tmp), **{"keep": pyvips.enums.ForeignKeep.NONE, **options})
    tmp.replace(path)


# Edge files: (stem, format, save options, make(picture) -> the image to save).
def _progressive(image: pyvips.Image) -> pyvips.Image:
    return image


def _exif6(image: pyvips.Image) -> pyvips.Image:
    stored = image.rot270().copy()  # orientation 6: rotate 90 degrees clockwise to display
    stored.set_type(pyvips.GValue.gint_type, "orientation", 6)
    return stored


def _cmyk(image: pyvips.Image) -> pyvips.Image:
    return image.icc_transform("cmyk", input_profile="srgb")


def _png16(image: pyvips.Image) -> pyvips.Image:
    fine = pyvips.Image.gaussnoise(image.width, image.height, sigma=40.0, mean=0.0, seed=16)
    return (image.cast("float") * 257 + fine).cast("ushort").copy(interpretation="rgb16")


def _animated(image: pyvips.Image) -> pyvips.Image:
    """GIF_FRAMES frames panning across a quarter-size copy; 100 ms each, looping."""
    small = image.resize(0.25)
    w, h = small.width * 3 // 4, small.height * 3 // 4
    step = (small.width - w) / (GIF_FRAMES - 1)
    frames = [small.crop(round(i * step), (small.height - h) // 2, w, h) for i in range(GIF_FRAMES)]
    strip = pyvips.Image.arrayjoin(frames, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", h)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [100] * GIF_FRAMES)
    strip.set_type(pyvips.GValue.gint_type, "loop", 0)
    return strip


Edge = tuple[str, str, dict[str, Any], Callable[[pyvips.Image], pyvips.Image]]
EDGE_FILES: tuple[Edge, ...] = (
    ("edge-progressive", "jpeg", {**SAVE_OPTIONS["jpeg"], "interlace": True}, _progressive),
    ("edge-exif6", "jpeg", {**SAVE_OPTIONS["jpeg"], "keep": pyvips.enums.ForeignKeep.EXIF}, _exif6),
    ("edge-cmyk", "jpeg", {**SAVE_OPTIONS["jpeg"], "keep": pyvips.enums.ForeignKeep.ICC}, _cmyk),
    ("edge-png16", "png", SAVE_OPTIONS["png"], _png16),
    ("edge-animated", "gif", {"effort": 4}, _animated),
)


class Manifest:
    """manifest.json: per file name, the parameters it was made with and its byte count."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / MANIFEST
        try:
            self.entries: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}

    def fresh(self, path: Path, params: Mapping[str, Any]) -> bool:
        entry = self.entries.get(path.name)
        return (
            entry is not None
            and entry["params"] == params
            and path.exists()
            and path.stat().st_size == entry["bytes"]
        )

    def record(self, path: Path, params: Mapping[str, Any], width: int, height: int) -> None:
        self.entries[path.name] = {
            "params": dict(params),
            "bytes": path.stat().st_size,
            "width": width,
            "height": height,
        }
        tmp = self.path.with_name(f".{MANIFEST}.tmp")
        tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
        tmp.replace(self.path)


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _sizes(sizes: Sequence[str | Size]) -> list[Size]:
    chosen = []
    for size in sizes:
        if isinstance(size, Size):
            chosen.append(size)
        elif size in SIZES:
            chosen.append(SIZES[size])
        else:
            raise ValueError(f"sizes: unknown size {size!r}; expected one of {sorted(SIZES)}")
    return chosen


def _counts(sizes: Sequence[Size], per_size: Mapping[str, int] | None) -> dict[str, int]:
    counts = {size.label: PER_SIZE.get(size.label, 1) for size in sizes}
    for label, count in (per_size or {}).items():
        if label not in counts:
            raise ValueError(f"per_size: {label!r} is not among the sizes {sorted(counts)}")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"per_size[{label!r}]: expected an integer >= 0, got {count!r}")
        counts[label] = count
    return counts


def generate(
    sizes: Sequence[str | Size] = ("M", "L", "XL"),
    per_size: Mapping[str, int] | None = None,
    *,
    formats: Sequence[str] = FORMATS,
    edge: Size | None = EDGE,
    directory: Path = CORPUS_DIR,
    sources: Path | None = None,
    force: bool = False,
) -> list[CorpusImage]:
    """Write what is missing or stale (everything with `force`); return the whole corpus.

    `per_size` overrides the picture count of some sizes (default `PER_SIZE`); `edge` is
    the size of the edge files' picture, None for none; `sources` replaces the folder of
    scikit-image's photos (tests use their own).
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"formats: unknown {unknown}; expected some of {list(FORMATS)}")
    chosen = _sizes(sizes)
    counts = _counts(chosen, per_size)
    sources = sources or source_dir()
    directory.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(directory)
    images: list[CorpusImage] = []
    for size in chosen:
        for index in range(1, counts[size.label] + 1):
            images += _picture(size, index, formats, sources, directory, manifest, force)
    if edge is not None:
        images += _edge_files(edge, sources, directory, manifest, force)
    return images


def _params(
    size: Size, index: int, sources: Path, fmt: str, options: Mapping[str, Any]
) -> dict[str, Any]:
    source = source_name(size, index)
    return {
        "generator": GENERATOR_VERSION,
        "recipe": RECIPE,
        "source": source,
        "source_sha256": _fingerprint(sources / source),
        "size": [size.width, size.height],
        "seed": seed_of(size.label, index),
        "format": fmt,
        "options": {key: str(value) for key, value in options.items()},
    }


def _picture(
    size: Size,
    index: int,
    formats: Sequence[str],
    sources: Path,
    directory: Path,
    manifest: Manifest,
    force: bool,
) -> list[CorpusImage]:
    stem = f"{size.name}{index}"
    files = {fmt: directory / f"{stem}.{EXTENSIONS[fmt]}" for fmt in formats}
    params = {fmt: _params(size, index, sources, fmt, SAVE_OPTIONS[fmt]) for fmt in formats}
    stale = [fmt for fmt in formats if force or not manifest.fresh(files[fmt], params[fmt])]
    if stale:
        image = photo(size, index, sources)
        # The encoders release the GIL: one thread per core, the slow AVIF beside the rest.
        with ThreadPoolExecutor(min(len(stale), os.cpu_count() or 1)) as pool:
            list(pool.map(lambda fmt: save(image, files[fmt], SAVE_OPTIONS[fmt]), stale))
        for fmt in stale:
            manifest.record(files[fmt], params[fmt], size.width, size.height)
    return [
        CorpusImage(stem, size.label, fmt, files[fmt], size.width, size.height) for fmt in formats
    ]


def _edge_files(
    size: Size, sources: Path, directory: Path, manifest: Manifest, force: bool
) -> list[CorpusImage]:
    size = Size("edge", size.width, size.height)
    image: pyvips.Image | None = None
    out = []
    for stem, fmt, options, make in EDGE_FILES:
        path = directory / f"{stem}.{EXTENSIONS[fmt]}"
        params = {**_params(size, 1, sources, fmt, options), "edge": stem}
        if force or not manifest.fresh(path, params):
            if image is None:
                image = photo(size, 1, sources)
            shown = make(image)
            save(shown, path, options)
            width, height = shown.width, shown.get_page_height()
            if stem == "edge-exif6":
                width, height = height, width
            manifest.record(path, params, width, height)
        entry = manifest.entries[path.name]
        out.append(CorpusImage(stem, "edge", fmt, path, entry["width"], entry["height"]))
    return out


def _per_size(text: str) -> dict[str, int]:
    pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
    try:
        return {label.strip(): int(count) for label, count in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SIZE=N[,SIZE=N], got {text!r}") from None


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.corpus", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sizes", default="M,L,XL", help="comma-separated (%(default)s)")
    parser.add_argument("--per-size", type=_per_size, help="counts, e.g. M=4,L=4,XL=2")
    parser.add_argument("--formats", default=",".join(FORMATS), help="(%(default)s)")
    parser.add_argument("--no-edge", action="store_true", help="skip the edge files")
    parser.add_argument("--dir", type=Path, default=CORPUS_DIR, help="output folder")
    parser.add_argument("--force", action="store_true", help="rewrite every file")
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        images = generate(
            [s.strip() for s in args.sizes.split(",") if s.strip()],
            args.per_size,
            formats=[f.strip() for f in args.formats.split(",") if f.strip()],
            edge=None if args.no_edge else EDGE,
            directory=args.dir,
            force=args.force,
        )
    except (ValueError, RuntimeError) as error:
        parser.error(str(error))
    for image in images:
        size = image.path.stat().st_size
        bpp = size * 8 / (image.width * image.height)
        print(
            f"{image.path.name:22} {image.size:4} {image.format:5} "
            f"{image.width:>5}x{image.height:<5} {size:>11,} B {bpp:6.2f} bpp"
        )
    print(f"{len(images)} files, {time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
