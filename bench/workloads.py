"""The benchmark's workloads (issue 3, item 4): what every server is asked to do.

One row = which corpus inputs (size and format), one operation, one output encoding. The
settings are the same for every server, so outputs can be compared byte for byte and by SSIM:

    fit    resize to fit inside width x height, keeping the aspect ratio, never enlarged
    fill   resize to cover width x height, then crop the centre; never enlarged
    jpeg   quality 80, baseline (not progressive), 4:2:0 chroma, no metadata
    webp   quality 75, lossy, effort 4 (libwebp method 4: the libvips, sharp and Pillow default)
    avif   quality 65, 8-bit 4:2:0, effort 2 on libvips' 0..9 scale = aom cpu-used 7 = Pillow's
           / libavif's speed 7 (libvips' default effort 4 costs many times the CPU for the
           same bytes at 512 px, which would turn the cell into a benchmark of libaom alone;
           docs/performance.md, design decisions: "AVIF at effort 2 in the benchmark")
    png    lossless, zlib level 6, no palette quantisation; no quality

`WORKLOADS[0]` is the headline (imgproxy's published benchmark: M JPEG -> fit 512x512, JPEG
q80); `QUICK` is the subset of the short mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench.corpus import CorpusImage

OPS = ("fit", "fill")
OUTPUT_FORMATS = ("jpeg", "webp", "avif", "png")
FORMAT_LABELS = {"jpeg": "JPEG", "webp": "WebP", "avif": "AVIF", "png": "PNG"}


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    size: str  # corpus size of the inputs: "M" | "L" | "XL"
    source_format: str  # corpus format of the inputs: "jpeg" | "png" | ...
    op: str  # "fit" | "fill"
    width: int
    height: int
    out_format: str  # "jpeg" | "webp" | "avif" | "png"
    quality: int | None  # None for PNG
    effort: int | None = None  # WebP: libwebp method 0..6; AVIF: libvips' effort 0..9
    compression: int | None = None  # PNG: zlib level
    subsample: str | None = None  # chroma subsampling, where the encoder has a choice

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"{self.name}: op must be one of {OPS}, got {self.op!r}")
        if self.out_format not in OUTPUT_FORMATS:
            raise ValueError(
                f"{self.name}: out_format must be one of {OUTPUT_FORMATS}, got {self.out_format!r}"
            )
        if self.width < 1 or self.height < 1:
            raise ValueError(f"{self.name}: width and height must be >= 1, got {self.box}")
        lossy = self.out_format != "png"
        if lossy != (self.quality is not None):
            raise ValueError(f"{self.name}: quality is required for lossy formats, else None")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise ValueError(f"{self.name}: quality must be 1..100, got {self.quality}")

    @property
    def box(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def label(self) -> str:
        """For tables: "M JPEG → fit 512x512, JPEG q80"."""
        quality = "" if self.quality is None else f" q{self.quality}"
        source = FORMAT_LABELS.get(self.source_format, self.source_format)
        return (
            f"{self.size} {source} → {self.op} {self.box}, "
            f"{FORMAT_LABELS[self.out_format]}{quality}"
        )

    def inputs(self, corpus: Iterable[CorpusImage]) -> list[CorpusImage]:
        """The corpus images this workload reads, in corpus order."""
        return [i for i in corpus if i.size == self.size and i.format == self.source_format]


def _jpeg(name: str, size: str, op: str, width: int, height: int) -> Workload:
    return Workload(name, size, "jpeg", op, width, height, "jpeg", 80, subsample="4:2:0")


HEADLINE = _jpeg("fit512-jpeg", "M", "fit", 512, 512)
WORKLOADS: tuple[Workload, ...] = (
    HEADLINE,
    _jpeg("fit512-jpeg-l", "L", "fit", 512, 512),
    Workload("fit512-webp", "M", "jpeg", "fit", 512, 512, "webp", 75, effort=4),
    Workload("fit512-avif", "M", "jpeg", "fit", 512, 512, "avif", 65, effort=2, subsample="4:2:0"),
    Workload("fit512-png", "M", "png", "fit", 512, 512, "png", None, compression=6),
    _jpeg("fill300x200-jpeg", "M", "fill", 300, 200),
    _jpeg("fill300x200-jpeg-l", "L", "fill", 300, 200),
)
QUICK: tuple[Workload, ...] = tuple(
    w for w in WORKLOADS if w.name in ("fit512-jpeg", "fill300x200-jpeg-l")
)


def by_name(names: Iterable[str]) -> tuple[Workload, ...]:
    """The named workloads, in the order given; ValueError names the unknown ones."""
    table = {w.name: w for w in WORKLOADS}
    names = list(names)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"workloads: unknown {unknown}; expected some of {list(table)}")
    return tuple(table[n] for n in names)
