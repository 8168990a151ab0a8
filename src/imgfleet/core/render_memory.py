"""A render's peak memory, estimated from the header and the plan before any pixel moves.

Admission counts each render's estimate against a memory budget, and refuses at once (422)
a render that could never fit. `peak_bytes` is how far a render process's resident memory
rises during one render, the source's bytes included. Each term below is the most that was
measured for it (libvips 8.18, Pillow 13, aom through libavif; `bench/memory.py`), with a
margin, so the estimate is never below a measured peak and within about twice it for big
renders; the calibration table is in docs/memory.md. A render streams its pixels top to
bottom where it can, so what costs memory is what holds a whole image:

- the encoder takes the whole result: libvips writes it to memory and Pillow copies it
  (JPEG, WebP, AVIF), numpy filters it and zlib's output is joined (PNG), libimagequant
  quantises a frame at a time (GIF). aom's own buffers make AVIF the heaviest by far, and
  they grow with 4:4:4 chroma (quality >= 90) and with pictures aom's search takes for
  screen content; WebP's alpha plane goes through the lossless encoder;
- some decoders hold the whole source, shrunk on load where they can (`shrink_on_load`):
  simplejpeg (a JPEG reduced at least 2x), libwebp, libheif, a GIF frame, librsvg's canvas,
  the coefficients of a progressive JPEG, an Adam7 PNG; libvips streams the rest;
- a resize keeps a window of input rows (more with more threads), premultiplied floats
  when the source has alpha, and every libvips thread its strips;
- an animation keeps every frame's pipeline until the last frame is written, and its
  encoded output grows with the frames;
- trim decodes the whole source and keeps it; `max_bytes` keeps the result for its
  re-encodes; a rotation, a vertical flip and a smart crop keep the resized image;
  blur and sharpen keep kernel rows per thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from imgfleet.core.geometry import Plan
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.core.shrink_on_load import jpeg_shrink, reduction, svg_scale, webp_scale
from imgfleet.core.source import SourceInfo

MB = 1_000_000
BASE = 8 * MB  # what a render adds whatever its size: libvips' and the codecs' state

ANIMATED = frozenset({ImageFormat.GIF, ImageFormat.WEBP})
LOSSY = frozenset({ImageFormat.JPEG, ImageFormat.WEBP, ImageFormat.AVIF})  # max_bytes
WITHOUT_ALPHA = frozenset({ImageFormat.JPEG})  # flattened onto the background


@dataclass(frozen=True, slots=True)
class PerPixel:
    """Bytes per pixel of an image without alpha, and with."""

    rgb: float
    alpha: float

    def of(self, alpha: bool) -> float:
        return self.alpha if alpha else self.rgb


@dataclass(frozen=True, slots=True)
class Encoder:
    pixel: PerPixel  # per result pixel, while it encodes
    base: int = 0
    output: float = 0.0  # encoded bytes per pixel that an animation accumulates


ENCODERS = {
    ImageFormat.JPEG: Encoder(PerPixel(9.0, 9.0)),  # alpha is flattened before
    ImageFormat.PNG: Encoder(PerPixel(9.5, 12.5)),
    ImageFormat.WEBP: Encoder(PerPixel(12.5, 29.0), output=0.25),
    ImageFormat.AVIF: Encoder(PerPixel(52.0, 56.0)),
    ImageFormat.GIF: Encoder(PerPixel(14.0, 14.5), base=12 * MB, output=0.75),
    ImageFormat.TIFF: Encoder(PerPixel(10.0, 13.0)),  # not measured: libvips deflates strips
    ImageFormat.SVG: Encoder(PerPixel(9.5, 12.5)),  # never an output (refused): PNG's
}
AVIF_444 = Encoder(PerPixel(70.0, 76.0))  # from quality 90 up, chroma is not subsampled
AVIF_444_QUALITY = 90
# libimagequant keeps a frame as float pixels when that fits in 64 MiB.
GIF_FLOAT_PIXEL, GIF_FLOAT_CAP = 16, 64 * 1024 * 1024

# Per decoded pixel, decoders that hold a whole image.
WHOLE = {
    ImageFormat.WEBP: PerPixel(8.0, 10.0),
    ImageFormat.AVIF: PerPixel(4.0, 4.0),  # libheif's RGB(A), kept; see AVIF_DECODING
    ImageFormat.GIF: PerPixel(12.0, 12.0),  # nsgif's canvas, its last frame, libvips' copy
    ImageFormat.TIFF: PerPixel(8.0, 8.0),  # not measured: as a 16-bit RGBA image
    ImageFormat.SVG: PerPixel(8.0, 8.0),  # cairo's canvas and libvips' copy
}
AVIF_DECODING = 16.0  # libheif's YUV planes and dav1d's frames, let go before encoding
FAST_JPEG = 3.0  # simplejpeg's RGB array, at the scale it decodes
FAST_JPEG_REDUCTION = 2.0  # from a 2x reduction, without a crop (`imaging.fastjpeg`)
PROGRESSIVE_JPEG = 6.0  # per full-size pixel: its coefficients (4:4:4; 3 for 4:2:0)
ADAM7_PNG = PerPixel(6.0, 8.0)  # the whole image, 16-bit samples at worst

# The resize's window of input rows, and every libvips thread's strips.
WINDOW_ROWS, WINDOW_ROWS_PER_THREAD = 1536, 512
WINDOW_PIXEL = PerPixel(4, 16)  # uchar; premultiplied float RGBA
STRIP_ROWS = 128
FLOAT_RGBA = 16

# An animation: what each frame's pipeline keeps until the strip is written.
FRAME_RESIZED = PerPixel(8.0, 24.0)  # per decoded pixel (with alpha: premultiplied floats)
FRAME_KEPT = PerPixel(6.0, 6.0)  # per decoded pixel, when nothing resizes the frames
FRAME_RESULT = PerPixel(1.0, 1.6)  # per result pixel

HELD_PIXEL = 4  # an 8-bit RGBA image held in memory (trim, max_bytes, rotation, smart crop)
KERNEL_SIGMAS = 6  # rows of a gaussian kernel, per sigma


def peak_bytes(
    info: SourceInfo,
    plan: Plan,
    options: ProcessingOptions,
    fmt: ImageFormat,
    quality: int,
    *,
    source_bytes: int,
    threads: int,
) -> int:
    """The most a render process's resident memory rises while it renders `plan` of a
    source of `source_bytes` as `fmt` at `quality` (the arguments of `Engine.render`),
    with `threads` libvips threads (libvips' concurrency: the cores, by default)."""
    frames = info.pages if info.format in ANIMATED and fmt in ANIMATED else 1
    trim = options.trim is not None and frames == 1
    factor = 1.0 if trim else reduction(plan)
    width, height = _decoded(info, factor)
    result = plan.width * plan.height
    encoder = _encoder(fmt, quality)
    alpha_out = fmt not in WITHOUT_ALPHA and _alpha_out(info, plan)
    strips = threads * (width + plan.width) * STRIP_ROWS * HELD_PIXEL
    held = _held(info, plan, options, fmt, frames, threads)
    fixed = BASE + encoder.base + source_bytes + strips + held
    encoding = result * encoder.pixel.of(alpha_out) + _quantiser(fmt, result)
    # Not resizing at all (the decoded size is the plan's) needs no window of input rows,
    # nor float copies of frames: the one step at which a larger result costs less.
    resizes = (width, height) != _stored_resize(plan)
    if frames > 1:
        per_source = (FRAME_RESIZED if resizes else FRAME_KEPT).of(info.has_alpha)
        kept = width * height * per_source + result * FRAME_RESULT.of(info.has_alpha)
        output = result * encoder.output
        return math.ceil(fixed + frames * (kept + output) + encoding)
    whole = _whole(info, factor, width * height, plan.crop is None)
    window = 0.0
    if resizes:
        # Half a tall image at least, so that a result reduced less than 2x (libvips
        # streams the JPEG) never costs less than one reduced 2x (simplejpeg decodes it).
        rows = min(height, max(WINDOW_ROWS + WINDOW_ROWS_PER_THREAD * threads, -(-height // 2)))
        window = rows * width * WINDOW_PIXEL.of(info.has_alpha)
    decoding = width * height * AVIF_DECODING if info.format is ImageFormat.AVIF else 0
    return math.ceil(fixed + whole + max(decoding, window + encoding))


def _held(
    info: SourceInfo,
    plan: Plan,
    options: ProcessingOptions,
    fmt: ImageFormat,
    frames: int,
    threads: int,
) -> float:
    """Images the options make the engine hold in memory, and kernel rows of effects."""
    held = 0.0
    resized = plan.resize_width * plan.resize_height
    if options.trim is not None and frames == 1:  # the whole source, decoded and upright
        held += info.width * info.height * HELD_PIXEL
    if options.max_bytes and fmt in LOSSY:  # the result, for re-encoding
        held += plan.width * plan.height * HELD_PIXEL
    if plan.orientation.rotate % 360 or plan.orientation.flip_vertical:
        held += resized * HELD_PIXEL * frames
    if plan.smart_crop and frames == 1:  # frames are cut where the plan says
        held += resized * HELD_PIXEL
    sigma = max(options.blur, options.sharpen)
    if sigma:
        rows = math.ceil(KERNEL_SIGMAS * sigma) + 1
        held += rows * plan.resize_width * FLOAT_RGBA * threads
    return held


def _decoded(info: SourceInfo, factor: float) -> tuple[int, int]:
    """The size of a frame as its decoder hands it over, shrunk on load where it can."""
    width, height = info.width, info.height
    match info.format:
        case ImageFormat.JPEG:
            shrink = jpeg_shrink(factor)
            return -(-width // shrink), -(-height // shrink)
        case ImageFormat.WEBP:
            scale = webp_scale(factor)
        case ImageFormat.SVG:
            scale = svg_scale(factor, info, math.inf)  # the pixel cap only lowers it
        case _:
            return width, height
    return math.ceil(width * scale), math.ceil(height * scale)


def _whole(info: SourceInfo, factor: float, decoded: int, uncropped: bool) -> float:
    """Bytes a decoder holds at once for a still image: the whole source, or nothing when
    libvips streams it."""
    full = info.width * info.height
    match info.format:
        case ImageFormat.JPEG if info.interlaced:
            return full * PROGRESSIVE_JPEG
        case ImageFormat.JPEG if uncropped and factor >= FAST_JPEG_REDUCTION:
            return decoded * FAST_JPEG
        case ImageFormat.PNG if info.interlaced:
            return full * ADAM7_PNG.of(info.has_alpha)
        case ImageFormat.JPEG | ImageFormat.PNG:
            return 0
        case _:
            return decoded * WHOLE[info.format].of(info.has_alpha)


def _stored_resize(plan: Plan) -> tuple[int, int]:
    """The resize's size in the frame the decoder hands over (before orientation)."""
    if plan.orientation.rotate % 180:
        return plan.resize_height, plan.resize_width
    return plan.resize_width, plan.resize_height


def _encoder(fmt: ImageFormat, quality: int) -> Encoder:
    if fmt is ImageFormat.AVIF and quality >= AVIF_444_QUALITY:
        return AVIF_444
    return ENCODERS[fmt]


def _quantiser(fmt: ImageFormat, pixels: int) -> int:
    """libimagequant's float copy of a GIF frame, kept only when it is small enough."""
    if fmt is not ImageFormat.GIF:
        return 0
    return min(pixels * GIF_FLOAT_PIXEL, GIF_FLOAT_CAP)


def _alpha_out(info: SourceInfo, plan: Plan) -> bool:
    """Whether the result has alpha: the source's, or a transparent extension."""
    if plan.background is not None:
        return False  # flattened onto it
    return info.has_alpha or plan.canvas is not None or plan.padding is not None
