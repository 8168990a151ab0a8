"""Output quality: SSIM of a server's output against an exact reference resize.

`reference(image, workload)` is what an ideal server would return before encoding: the
whole file decoded (no shrink-on-load, no DCT-scaled decode), EXIF orientation applied,
converted to sRGB (CMYK through its ICC profile, 16-bit divided down in floating point,
alpha flattened on white), then one Lanczos3 reduction straight to the output size (no box
pre-shrink), in floating point, clamped to 0..255, not rounded. Output sizes follow
imgproxy: round(side x scale), never enlarged; fill crops to the box. For `fill` the
source is first cut to the centred region of the output's aspect ratio (to the nearest
source pixel: the centre is exact to 1/20 of an output pixel on the corpus), then reduced.
References are cached in memory and on disk (`bench/.corpus/reference/`, keyed by the
file's name, bytes and mtime).

`ssim(output, reference)` decodes the output the same way (first frame) and returns the
mean SSIM of the luma planes (BT.601: 0.299 R + 0.587 G + 0.114 B) after Wang et al.
(2004): Gaussian window sigma 1.5 truncated to 11x11, K1 = 0.01, K2 = 0.03, L = 255,
population (co)variances, the mean taken over the pixels whose window lies inside the image
(the same number as `skimage.metrics.structural_similarity(..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=255)` on those planes). It is strict:
`SizeMismatch` when the sizes differ.

`score(output, image, workload)` is what the runner calls; it forgives two conventions
that are not quality, and says when it did:
- size: an output off by at most `max_size_error` px per side (floor instead of round)
  is compared with a reference made at the output's own size (`Score.size_off`); the
  output itself is never resampled. Larger differences raise `SizeMismatch`.
- fill's centre: servers that resize first and then crop land on a whole output pixel,
  rounding the centre down (libvips' smartcrop) or up; on a grainy photo half a pixel
  costs a large share of SSIM (docs/performance.md, design decisions: "A fill scored
  against three centres"). The score is the best of the exact, round-down and round-up
  references (`Score.crop` says which).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyvips

from bench.corpus import CORPUS_DIR, CorpusImage

REFERENCE_VERSION = 1  # bump when the reference recipe changes: the disk cache follows it
REFERENCE_DIR = CORPUS_DIR / "reference"
SIGMA, RADIUS = 1.5, 5
C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
LUMA = (0.299, 0.587, 0.114)


class Geometry(Protocol):
    """What `reference` reads from a workload (bench.workloads.Workload has it)."""

    @property
    def op(self) -> str: ...  # "fit" | "fill"
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


class SizeMismatch(ValueError):
    def __init__(self, output: tuple[int, int], reference: tuple[int, int]) -> None:
        super().__init__(
            f"output is {output[0]}x{output[1]}, the reference {reference[0]}x{reference[1]}"
        )
        self.output = output
        self.reference = reference


@dataclass(frozen=True, slots=True)
class Score:
    ssim: float
    width: int  # of the output
    height: int
    size_off: bool  # not the expected size: compared with a reference of its own size
    crop: str  # the reference that scored best: "centre", or for fill "floor" / "ceil"


# --- geometry (pure) ---------------------------------------------------------------------


def scaled_size(src_w: int, src_h: int, op: str, width: int, height: int) -> tuple[int, int]:
    """The size the source is resized to: fit inside the box or cover it (fill); never up."""
    if op == "fit":
        scale = min(width / src_w, height / src_h, 1.0)
    elif op == "fill":
        scale = min(max(width / src_w, height / src_h), 1.0)
    else:
        raise ValueError(f"op: expected 'fit' or 'fill', got {op!r}")
    return max(1, round(src_w * scale)), max(1, round(src_h * scale))


def output_size(src_w: int, src_h: int, op: str, width: int, height: int) -> tuple[int, int]:
    """The size of the result: the scaled size, cropped to the box for fill."""
    scaled_w, scaled_h = scaled_size(src_w, src_h, op, width, height)
    return (min(width, scaled_w), min(height, scaled_h)) if op == "fill" else (scaled_w, scaled_h)


def centred_region(src_w: int, src_h: int, out_w: int, out_h: int) -> tuple[int, int, int, int]:
    """Left, top, width, height of the largest centred region of the aspect out_w:out_h."""
    if src_w * out_h > src_h * out_w:  # the source is wider: use its whole height
        region_w, region_h = min(src_w, max(1, round(src_h * out_w / out_h))), src_h
    else:
        region_w, region_h = src_w, min(src_h, max(1, round(src_w * out_h / out_w)))
    return (src_w - region_w) // 2, (src_h - region_h) // 2, region_w, region_h


# --- decoding ----------------------------------------------------------------------------


def srgb(image: pyvips.Image) -> pyvips.Image:
    """Displayed orientation, sRGB, 3 bands, float 0..255."""
    image = image.autorot()
    if image.interpretation == "cmyk":
        image = image.icc_transform("srgb", embedded=True, input_profile="cmyk")
    elif image.get_typeof("icc-profile-data"):
        image = image.icc_transform("srgb", embedded=True)
    white = 65535 if image.format == "ushort" else 255
    if image.hasalpha():
        image = image.flatten(background=[white] * (image.bands - 1))
    image = image.cast("float") * (255 / white)
    if image.bands < 3:  # grey: the same value in R, G and B
        image = image[0].bandjoin([image[0], image[0]])
    return image[:3].copy(interpretation="srgb")


def decode(data: bytes) -> pyvips.Image:
    """An encoded image (its first frame) as `srgb` returns it."""
    return srgb(pyvips.Image.new_from_buffer(data, ""))


# --- reference ---------------------------------------------------------------------------

CROPS = ("centre", "floor", "ceil")


def reference(
    image: CorpusImage,
    workload: Geometry,
    *,
    crop: str = "centre",
    size: tuple[int, int] | None = None,
    cache_dir: Path | None = REFERENCE_DIR,
) -> pyvips.Image:
    """The exact resize of `image` for `workload`: float sRGB, 3 bands (see the module doc).

    `crop` (fill only): "centre" is exact; "floor" and "ceil" resize the whole image first
    and crop at the centre rounded down or up, like a server does. `size` replaces the
    expected output size (then only "centre").
    """
    if crop not in CROPS:
        raise ValueError(f"crop: expected one of {CROPS}, got {crop!r}")
    expected = output_size(image.width, image.height, workload.op, workload.width, workload.height)
    if size not in (None, expected) and crop != "centre":
        raise ValueError(f"crop {crop!r} needs the expected size {expected}, got {size}")
    stat = image.path.stat()
    return _reference(
        str(image.path),
        stat.st_size,
        stat.st_mtime_ns,
        (workload.op, workload.width, workload.height),
        size or expected,
        crop if workload.op == "fill" else "centre",
        cache_dir,
    )


@functools.lru_cache(maxsize=64)
def _reference(
    path: str,
    nbytes: int,
    mtime_ns: int,
    work: tuple[str, int, int],
    out: tuple[int, int],
    crop: str,
    cache: Path | None,
) -> pyvips.Image:
    key = f"{REFERENCE_VERSION}|{Path(path).name}|{nbytes}|{mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    name = f"{Path(path).name}-{work[0]}{work[1]}x{work[2]}-{out[0]}x{out[1]}-{crop}-{digest}.f32"
    cached = None if cache is None else cache / name
    # Raw float32 pixels, no file format: no loader to be blocked (imgfleet's engine blocks
    # libvips' "untrusted" loaders, the .v one among them, for the whole process).
    if cached is not None and cached.exists() and cached.stat().st_size == out[0] * out[1] * 12:
        raw = pyvips.Image.new_from_memory(cached.read_bytes(), *out, 3, "float")
        return raw.copy(interpretation="srgb").copy_memory()
    result = _render(srgb(pyvips.Image.new_from_file(path)), work, out, crop)
    if (result.width, result.height) != out:  # float rounding in libvips
        raise RuntimeError(f"reference came out {result.width}x{result.height}, not {out}")
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        tmp.write_bytes(result.write_to_memory())
        tmp.replace(cached)
    return result


def _resize(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """One Lanczos3 reduction to exactly width x height (gap 0: no box pre-shrink)."""
    if (image.width, image.height) == (width, height):
        return image
    return image.resize(
        width / image.width, vscale=height / image.height, kernel="lanczos3", gap=0.0
    )


def _render(
    source: pyvips.Image, work: tuple[str, int, int], out: tuple[int, int], crop: str
) -> pyvips.Image:
    if work[0] == "fit":
        result = _resize(source, *out)
    elif crop == "centre":
        result = _resize(source.crop(*centred_region(source.width, source.height, *out)), *out)
    else:
        scaled = scaled_size(source.width, source.height, *work)
        up = 1 if crop == "ceil" else 0
        left, top = (scaled[0] - out[0] + up) // 2, (scaled[1] - out[1] + up) // 2
        result = _resize(source, *scaled).crop(left, top, *out)
    return result.clamp(min=0, max=255).cast("float").copy_memory()


# --- SSIM --------------------------------------------------------------------------------


@functools.cache
def _window() -> pyvips.Image:
    weights = [math.exp(-(i * i) / (2 * SIGMA * SIGMA)) for i in range(-RADIUS, RADIUS + 1)]
    total = sum(weights)
    return pyvips.Image.new_from_list([[w / total for w in weights]])


def luma(image: pyvips.Image) -> pyvips.Image:
    return image.cast("double").recomb(pyvips.Image.new_from_list([list(LUMA)]))


def plane_ssim(x: pyvips.Image, y: pyvips.Image) -> float:
    """Mean SSIM of two one-band images of one size (values 0..255), valid windows only."""
    if (x.width, x.height) != (y.width, y.height):
        raise SizeMismatch((y.width, y.height), (x.width, x.height))
    side = 2 * RADIUS + 1
    if x.width < side or x.height < side:
        raise ValueError(f"SSIM needs at least {side}x{side} pixels, got {x.width}x{x.height}")
    x, y = x.cast("double"), y.cast("double")

    def blur(image: pyvips.Image) -> pyvips.Image:
        return image.convsep(_window(), precision="float")

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    numerator = (mx * my * 2 + C1) * (cxy * 2 + C2)
    denominator = (mx * mx + my * my + C1) * (vx + vy + C2)
    ssim_map = numerator / denominator
    valid = ssim_map.crop(RADIUS, RADIUS, x.width - 2 * RADIUS, x.height - 2 * RADIUS)
    return float(valid.avg())


def ssim(output: bytes, reference: pyvips.Image) -> float:
    """Luma SSIM of an encoded output against `reference`; SizeMismatch if sizes differ."""
    return plane_ssim(luma(reference), luma(decode(output)))


def score(
    output: bytes,
    image: CorpusImage,
    workload: Geometry,
    *,
    max_size_error: int = 2,
    cache_dir: Path | None = REFERENCE_DIR,
) -> Score:
    """SSIM of `output`, made from `image` for `workload`, forgiving conventions (module doc)."""
    decoded = luma(decode(output))
    size = (decoded.width, decoded.height)
    expected = output_size(image.width, image.height, workload.op, workload.width, workload.height)
    if max(abs(size[0] - expected[0]), abs(size[1] - expected[1])) > max_size_error:
        raise SizeMismatch(size, expected)
    size_off = size != expected
    crops = ["centre"]
    if workload.op == "fill" and not size_off:
        scaled = scaled_size(image.width, image.height, "fill", workload.width, workload.height)
        spare = (scaled[0] - size[0], scaled[1] - size[1])
        crops += ["floor"] if any(spare) else []
        crops += ["ceil"] if any(n % 2 for n in spare) else []
    scores = {
        crop: plane_ssim(
            luma(reference(image, workload, crop=crop, size=size, cache_dir=cache_dir)), decoded
        )
        for crop in crops
    }
    best = max(scores, key=lambda crop: scores[crop])
    return Score(scores[best], *size, size_off=size_off, crop=best)
