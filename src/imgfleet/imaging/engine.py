"""The libvips engine: probe a source's header, render a plan into encoded bytes.

This is the adapter boundary for libvips: a `pyvips.Error` never leaves it. A failure while
pixels move is the source's fault (corrupt, truncated: 415) unless the deadline killed the
work (504).
"""

from __future__ import annotations

import dataclasses
import logging
from contextlib import AbstractContextManager
from dataclasses import replace

import pyvips

from imgfleet.core import geometry
from imgfleet.core.appearance import Appearance
from imgfleet.core.encoding import EncoderConfig
from imgfleet.core.errors import RenderTimeout, UnsupportedMedia
from imgfleet.core.geometry import Plan
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.core.render_warnings import WarningTally
from imgfleet.core.source import SourceInfo
from imgfleet.imaging import (
    appearance,
    colour,
    fastjpeg,
    pillow_save,
    pipeline,
    png_save,
    transform,
    vips_log,
)
from imgfleet.imaging.context import Context
from imgfleet.imaging.deadline import Deadline
from imgfleet.imaging.load import load
from imgfleet.imaging.memory import release_freed_memory
from imgfleet.imaging.metadata import keep_flags
from imgfleet.imaging.probe import ANIMATED, probe
from imgfleet.imaging.save import encode, save
from imgfleet.imaging.vips_log import route_vips_log
from imgfleet.ports import Engine

log = logging.getLogger(__name__)

SVG_LOADER = "VipsForeignLoadSvg"

# Part of every rendition's cache key. Bump the revision whenever the same inputs would
# render different bytes; the decoders' versions are in it for the same reason.
ENGINE_REVISION = 7
ENGINE_VERSION = (
    f"vips-engine/{ENGINE_REVISION}"
    f"+libvips-{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    f"+{fastjpeg.VERSION}+{pillow_save.VERSION}+{png_save.VERSION}"
)


def configure_vips(concurrency: int | None = None) -> None:
    """Process-wide libvips settings; call once before rendering.

    The operation cache is off (renders are cached as bytes elsewhere and its memory is
    better spent on renders); untrusted loaders (ImageMagick, matrix, FITS, ...) are blocked;
    libvips' warnings reach Python's logging without the risk of an abort (`vips_log`).
    `concurrency` sets libvips' threads per render (default: one per core).
    """
    route_vips_log()
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    pyvips.cache_set_max_files(0)
    pyvips.block_untrusted_set(True)
    if concurrency:
        pyvips.concurrency_set(concurrency)


def engine_version(encoder: EncoderConfig) -> str:
    """The version of an engine with these encoder settings: part of every cache key."""
    return f"{ENGINE_VERSION}+formats-{encoder.fingerprint()}"


class VipsEngine:
    """Implements the `Engine` port with libvips.

    `plan`, `decode` and `encode` are the first steps and the last of `render`, public for
    the benchmark's profile, which measures them apart.
    """

    def __init__(self, encoder: EncoderConfig, max_src_megapixels: float) -> None:
        self.encoder = encoder
        self.max_src_megapixels = max_src_megapixels
        self.version = engine_version(encoder)
        # librsvg counts as untrusted in libvips; unblock it only when SVG input is on.
        # (Process-wide, like `configure_vips`: one engine per process.)
        pyvips.operation_block_set(SVG_LOADER, not encoder.svg_input)

    @classmethod
    def for_process(cls, encoder: EncoderConfig, max_src_megapixels: float) -> VipsEngine:
        """Set libvips up for this process, then make its engine (a render process's start)."""
        configure_vips()
        return cls(encoder, max_src_megapixels)

    def probe(self, data: bytes) -> SourceInfo:
        return probe(data, svg_input=self.encoder.svg_input)

    def describe(self, data: bytes) -> Appearance:
        """Placeholder and dominant colour (`imaging.appearance`) of a source `probe` takes."""
        info = self.probe(data)
        try:
            return appearance.describe(data)
        except pyvips.Error as exc:
            log.info("libvips failed to describe a %s source: %s", info.format.value, exc)
            raise UnsupportedMedia(
                f"source: the {info.format.value} image is corrupt or truncated"
            ) from exc

    def plan(self, info: SourceInfo, options: ProcessingOptions) -> Plan:
        """The geometry `render` and `decode` take for a probed source, computed as a miss
        computes it, so that a caller outside the service need not reach into `core`."""
        return geometry.plan(options, info.width, info.height, info.exif_orientation)

    def render(
        self,
        data: bytes,
        info: SourceInfo,
        plan: Plan,
        options: ProcessingOptions,
        fmt: ImageFormat,
        quality: int,
        deadline: float,
    ) -> bytes:
        """Render `plan` of `data` as `fmt`; blocks, so run it in a worker thread."""
        clock = Deadline(deadline)
        clock.check("loading")
        if not fmt.can_save:
            raise UnsupportedMedia(f"format: expected an output format, received {fmt.value}")
        if info.format is ImageFormat.SVG and not self.encoder.svg_input:
            raise UnsupportedMedia("source: SVG input is disabled on this server")
        pages = self._pages(info, fmt)
        ctx = Context(plan=plan, options=options, output=fmt, deadline=clock)
        try:
            if options.trim is not None and pages == 1:
                ctx, image = self._trim_first(ctx, data, info)
            else:
                image = self.decode(data, info, plan, options, pages)
                clock.watch(image)
            image = self._frames(ctx, image) if pages > 1 else pipeline.run(ctx, image)
            return encode(ctx, image, quality, self.encoder, keep_flags(options, image))
        except pyvips.Error as exc:
            if clock.passed:
                raise RenderTimeout("render: the deadline passed while processing") from exc
            log.info("libvips failed on a %s source: %s", info.format.value, exc)
            raise UnsupportedMedia(
                f"source: the {info.format.value} image is corrupt or truncated"
            ) from exc

    def captured_warnings(self) -> AbstractContextManager[WarningTally]:
        """libvips' warnings during the block, collected instead of logged (`vips_log`)."""
        return vips_log.captured_warnings()

    def release_memory(self) -> None:
        release_freed_memory()

    def decode(
        self,
        data: bytes,
        info: SourceInfo,
        plan: Plan,
        options: ProcessingOptions,
        pages: int = 1,
    ) -> pyvips.Image:
        """The source's pixels, by the decoder the engine picks at the scale the plan allows."""
        return fastjpeg.decode(data, info, plan, options) or load(
            data, info, plan, pages=pages, max_pixels=self._max_pixels(options)
        )

    def encode(
        self, image: pyvips.Image, fmt: ImageFormat, quality: int, options: ProcessingOptions
    ) -> bytes:
        """`image` saved as `fmt` with this engine's encoder settings (no `max_bytes` loop)."""
        return save(image, fmt, quality, self.encoder, keep_flags(options, image))

    def _max_pixels(self, options: ProcessingOptions) -> float:
        megapixels = options.security.max_src_resolution or self.max_src_megapixels
        return megapixels * 1_000_000

    def _trim_first(
        self, ctx: Context, data: bytes, info: SourceInfo
    ) -> tuple[Context, pyvips.Image]:
        """Trim before any geometry, as imgproxy does, then plan the rest on what is left.

        The full-size source is decoded and turned upright; trim cuts its border; the new
        plan sizes the trimmed image with orientation already applied.
        """
        options = ctx.options
        upright = geometry.plan(
            replace(options, trim=None, crop=None, width=0, height=0, enlarge=False),
            info.width,
            info.height,
            info.exif_orientation,
        )
        image = load(data, info, upright, pages=1, max_pixels=self._max_pixels(options))
        ctx.deadline.watch(image)
        whole = replace(ctx, plan=upright)
        image = transform.trim(whole, transform.orient(whole, colour.to_srgb(whole, image)))
        rest = replace(
            options,
            trim=None,
            auto_rotate=False,
            rotate=0,
            flip_horizontal=False,
            flip_vertical=False,
        )
        plan = geometry.plan(rest, image.width, image.height)
        return replace(ctx, plan=plan, options=rest), image

    @staticmethod
    def _pages(info: SourceInfo, fmt: ImageFormat) -> int:
        """Frames to load: all of an animation kept as one, else the first.

        The frame and resolution limits were checked from the header by the caller
        (`core.limits.check_source`) before this runs.
        """
        if info.pages <= 1 or info.format not in ANIMATED or fmt not in ANIMATED:
            return 1
        return info.pages

    def _frames(self, ctx: Context, strip: pyvips.Image) -> pyvips.Image:
        """Run the pipeline on every frame of an animation strip and stack the results."""
        height = strip.get_page_height()
        count = max(strip.height // height, 1)
        frame_ctx = dataclasses.replace(ctx, frame=True)
        frames = [
            pipeline.run(frame_ctx, strip.crop(0, i * height, strip.width, height))
            for i in range(count)
        ]
        out = pyvips.Image.arrayjoin(frames, across=1).copy()
        out.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
        out.set_type(pyvips.GValue.array_int_type, "delay", _delays(strip, count))
        loop = strip.get("loop") if strip.get_typeof("loop") else 0
        out.set_type(pyvips.GValue.gint_type, "loop", int(loop))
        return out


def _delays(strip: pyvips.Image, count: int) -> list[int]:
    """Per-frame delays in ms, padded with the last one (or 100 ms) to `count` frames."""
    delays = list(strip.get("delay")) if strip.get_typeof("delay") else []
    delays = [int(d) for d in delays][:count]
    return delays + [delays[-1] if delays else 100] * (count - len(delays))


def _implements_the_port(engine: VipsEngine) -> Engine:
    return engine  # mypy checks VipsEngine against the Engine protocol here
