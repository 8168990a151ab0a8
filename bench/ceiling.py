"""The raw-library ceiling: the servers' decode -> resize -> encode, in-process, no HTTP.

Each library runs in as many worker processes as there are cores (processes, so the GIL
does not bias Pillow or pyvips), every worker cycling over its share of the (image, work)
list, reading the file each time like a server does:

    pyvips   jpegload(shrink=) for JPEG (DCT-scaled decode), resize(kernel=lanczos3), save
    Pillow   draft() for JPEG (DCT-scaled decode), resize(LANCZOS), save

Both take the largest of 1/2, 1/4, 1/8 that still leaves at least the resized size, then a
Lanczos resize to that size (fill: then a centre crop). Outputs, as imgfleet writes them:
baseline JPEG with 4:2:0 chroma and optimised Huffman tables, WebP and AVIF at a stated effort
(libvips' scale 0..9; Pillow's AVIF speed is 9 - effort), PNG at zlib level 6 with adaptive
row filters (Pillow's default), no metadata. libvips' operation
cache is off and each worker gets `vips_concurrency` libvips threads.

    .venv/bin/python -m bench.ceiling bench/.corpus/m*.jpg --seconds 5
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any, Protocol

if __package__ in (None, ""):  # run as `python bench/ceiling.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LIBRARIES = ("pyvips", "pillow")
SHRINKS = (8, 4, 2, 1)  # what libjpeg can decode at, as a denominator
KEEP_NONE = 0  # libvips' VipsForeignKeep: no metadata in the output


class Work(Protocol):
    """A workload, as bench/workloads.py defines it."""

    @property
    def op(self) -> str: ...  # "fit" | "fill"
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def out_format(self) -> str: ...  # "jpeg" | "webp" | "avif" | "png"
    @property
    def quality(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Job:
    path: Path
    op: str
    width: int
    height: int
    out_format: str
    quality: int

    @classmethod
    def of(cls, path: Path, work: Work) -> Job:
        return cls(path, work.op, work.width, work.height, work.out_format, work.quality)


@dataclass(frozen=True, slots=True)
class Encoding:
    webp_effort: int = 4  # libwebp method 0..6; 4 is libvips', sharp's and Pillow's default
    avif_effort: int = 4  # 0..9; 4 is libvips' and sharp's default
    png_compression: int = 6


@dataclass(frozen=True, slots=True)
class CeilingResult:
    library: str
    versions: dict[str, str]
    workers: int
    images: int  # rendered in the measured window, all workers
    seconds: float  # the measured window
    rate: float  # images per second, summed over workers
    outputs: tuple[bytes, ...]  # one pass of every job, in job order (for SSIM); () if not asked

    @property
    def mean_bytes(self) -> float | None:
        return sum(map(len, self.outputs)) / len(self.outputs) if self.outputs else None


# --- geometry (pure) ---------------------------------------------------------------------


def scaled_size(src_w: int, src_h: int, op: str, width: int, height: int) -> tuple[int, int]:
    """The size the source is resized to: fit inside the box, or cover it (fill); never up."""
    if op == "fit":
        scale = min(width / src_w, height / src_h)
    elif op == "fill":
        scale = max(width / src_w, height / src_h)
    else:
        raise ValueError(f"op: expected 'fit' or 'fill', got {op!r}")
    scale = min(scale, 1.0)
    return max(1, round(src_w * scale)), max(1, round(src_h * scale))


def output_size(src_w: int, src_h: int, op: str, width: int, height: int) -> tuple[int, int]:
    """The size of the result: the scaled size, cropped to the box for fill."""
    scaled_w, scaled_h = scaled_size(src_w, src_h, op, width, height)
    if op == "fill":
        return min(width, scaled_w), min(height, scaled_h)
    return scaled_w, scaled_h


def jpeg_shrink(src_w: int, src_h: int, scaled_w: int, scaled_h: int) -> int:
    """The largest DCT-scaled decode that leaves at least the scaled size on both axes."""
    room = min(src_w / scaled_w, src_h / scaled_h)
    return next(s for s in SHRINKS if s <= room or s == 1)


def centre_crop(scaled: tuple[int, int], out: tuple[int, int]) -> tuple[int, int]:
    """Left and top of an `out`-sized box centred in `scaled`."""
    return (scaled[0] - out[0]) // 2, (scaled[1] - out[1]) // 2


# --- renderers (run in the worker processes) ---------------------------------------------


def render_pyvips(job: Job, data: bytes, enc: Encoding) -> bytes:
    import pyvips

    image = pyvips.Image.new_from_buffer(data, "", access="sequential")
    src_w, src_h = image.width, image.height
    scaled = scaled_size(src_w, src_h, job.op, job.width, job.height)
    if image.get("vips-loader") == "jpegload_buffer":
        shrink = jpeg_shrink(src_w, src_h, *scaled)
        image = pyvips.Image.jpegload_buffer(data, shrink=shrink, access="sequential")
    if image.format != "uchar":
        image = image.colourspace("srgb")  # 16-bit PNG
    image = image.resize(
        scaled[0] / image.width, vscale=scaled[1] / image.height, kernel="lanczos3"
    )
    out = output_size(src_w, src_h, job.op, job.width, job.height)
    if out != scaled:
        image = image.crop(*centre_crop(scaled, out), *out)
    if job.out_format == "jpeg":
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        return bytes(
            image.jpegsave_buffer(
                Q=job.quality,
                interlace=False,
                optimize_coding=True,
                subsample_mode="on",
                keep=KEEP_NONE,
            )
        )
    if job.out_format == "webp":
        return bytes(image.webpsave_buffer(Q=job.quality, effort=enc.webp_effort, keep=KEEP_NONE))
    if job.out_format == "avif":
        return bytes(
            image.heifsave_buffer(
                Q=job.quality, compression="av1", effort=enc.avif_effort, bitdepth=8, keep=KEEP_NONE
            )
        )
    if job.out_format == "png":
        return bytes(
            image.pngsave_buffer(compression=enc.png_compression, filter="all", keep=KEEP_NONE)
        )
    raise ValueError(f"out_format: unknown {job.out_format!r}")


def render_pillow(job: Job, data: bytes, enc: Encoding) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as source:
        src_w, src_h = source.size
        scaled = scaled_size(src_w, src_h, job.op, job.width, job.height)
        source.draft("RGB", scaled)  # JPEG: the same DCT-scaled decode; others: no-op
        decoded = (  # palette, CMYK, 16-bit: convert first
            source
            if source.mode in ("RGB", "RGBA")
            else source.convert("RGBA" if source.has_transparency_data else "RGB")
        )
        image = decoded.resize(scaled, Image.Resampling.LANCZOS)
    out = output_size(src_w, src_h, job.op, job.width, job.height)
    if out != scaled:
        left, top = centre_crop(scaled, out)
        image = image.crop((left, top, left + out[0], top + out[1]))
    buffer = io.BytesIO()
    if job.out_format == "jpeg":
        image.convert("RGB").save(
            buffer, "JPEG", quality=job.quality, subsampling="4:2:0", optimize=True
        )
    elif job.out_format == "webp":
        image.save(buffer, "WEBP", quality=job.quality, method=enc.webp_effort)
    elif job.out_format == "avif":
        image.save(buffer, "AVIF", quality=job.quality, speed=9 - enc.avif_effort)
    elif job.out_format == "png":
        image.save(buffer, "PNG", compress_level=enc.png_compression)
    else:
        raise ValueError(f"out_format: unknown {job.out_format!r}")
    return buffer.getvalue()


RENDERERS: dict[str, Callable[[Job, bytes, Encoding], bytes]] = {
    "pyvips": render_pyvips,
    "pillow": render_pillow,
}


def library_versions(library: str) -> dict[str, str]:
    if library == "pyvips":
        import pyvips

        vips = ".".join(str(pyvips.version(i)) for i in range(3))
        return {"pyvips": pyvips.__version__, "libvips": vips}
    import PIL
    from PIL import features

    return {"Pillow": PIL.__version__, "libjpeg-turbo": features.version("libjpeg_turbo") or ""}


def _setup(library: str, vips_concurrency: int) -> None:
    """Per worker: libvips without its operation cache, with `vips_concurrency` threads."""
    if library == "pyvips":
        import pyvips

        pyvips.cache_set_max(0)
        pyvips.cache_set_max_mem(0)
        pyvips.cache_set_max_files(0)
        pyvips.concurrency_set(vips_concurrency)


def _render(job: Job, library: str, enc: Encoding) -> bytes:
    return RENDERERS[library](job, job.path.read_bytes(), enc)


def _worker(
    library: str,
    jobs: list[Job],
    first: int,
    stride: int,
    enc: Encoding,
    vips_concurrency: int,
    warmup: float,
    seconds: float,
    start: Barrier,
    results: Any,  # multiprocessing Queue of (images, elapsed)
) -> None:
    _setup(library, vips_concurrency)
    index = first
    until = time.perf_counter() + warmup
    while True:  # at least one render, so imports and first-use costs are paid
        _render(jobs[index % len(jobs)], library, enc)
        index += stride
        if time.perf_counter() >= until:
            break
    start.wait(timeout=600)
    images, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        _render(jobs[index % len(jobs)], library, enc)
        index += stride
        images += 1
    results.put((images, time.perf_counter() - began))


def _one(args: tuple[Job, str, Encoding]) -> bytes:
    return _render(*args)


def measure(
    library: str,
    pairs: Iterable[tuple[Path, Work]],
    *,
    workers: int | None = None,
    seconds: float = 10.0,
    warmup: float = 2.0,
    encoding: Encoding | None = None,
    vips_concurrency: int = 1,
    outputs: bool = True,
) -> CeilingResult:
    """Images per second of `library` over `pairs`, then (unless `outputs` is False: a
    repeated window) one pass of every job for SSIM."""
    if library not in RENDERERS:
        raise ValueError(f"library: expected one of {LIBRARIES}, got {library!r}")
    jobs = [Job.of(path, work) for path, work in pairs]
    if not jobs:
        raise ValueError("pairs: expected at least one (image path, workload)")
    workers = workers or os.cpu_count() or 1
    enc = encoding or Encoding()
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited libvips
    start, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(
            target=_worker,
            args=(
                library,
                jobs,
                i,
                workers,
                enc,
                vips_concurrency,
                warmup,
                seconds,
                start,
                results,
            ),
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        counts = [results.get(timeout=warmup + seconds + 600) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    rendered: tuple[bytes, ...] = ()
    if outputs:
        with context.Pool(
            workers, initializer=_setup, initargs=(library, vips_concurrency)
        ) as pool:
            rendered = tuple(pool.map(_one, [(job, library, enc) for job in jobs]))
    return CeilingResult(
        library=library,
        versions=library_versions(library),
        workers=workers,
        images=sum(n for n, _ in counts),
        seconds=max(elapsed for _, elapsed in counts),
        rate=sum(n / elapsed for n, elapsed in counts),
        outputs=rendered,
    )


@dataclass(frozen=True, slots=True)
class CliWork:
    op: str
    width: int
    height: int
    out_format: str
    quality: int


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--op", choices=("fit", "fill"), default="fit")
    parser.add_argument("--size", default="512x512", help="WxH box (default 512x512)")
    parser.add_argument("--format", dest="out_format", default="jpeg")
    parser.add_argument("--quality", type=int, default=80)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=None, help="default: the core count")
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    args = parser.parse_args(argv)
    width, _, height = args.size.partition("x")
    work = CliWork(args.op, int(width), int(height), args.out_format, args.quality)
    for library in args.libraries.split(","):
        found = measure(
            library, [(p, work) for p in args.images], workers=args.workers, seconds=args.seconds
        )
        print(
            f"{library:7} {found.rate:7.1f} img/s  {(found.mean_bytes or 0) / 1024:7.1f} KiB mean"
            f"  {found.workers} workers  {found.versions}"
        )


if __name__ == "__main__":
    main()
