"""The one place that names concrete adapters, chosen from settings."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor

from imgfleet.adapters.source.http import HttpSource
from imgfleet.adapters.source.local import LocalSource
from imgfleet.core.limits import Limits
from imgfleet.core.option_parser import compile_presets
from imgfleet.core.options import ProcessingOptions
from imgfleet.http.app import App
from imgfleet.imaging.engine import ENGINE_VERSION, VipsEngine, configure_vips
from imgfleet.metrics import Metrics
from imgfleet.ports import SourceLoader
from imgfleet.service import render_job
from imgfleet.service.admission import Admission
from imgfleet.service.delivery import DeliveryConfig, DeliveryService
from imgfleet.service.lru import ByteLRU
from imgfleet.service.render_job import RenderJob, RenderResult
from imgfleet.service.worker_processes import ProcessWorkers
from imgfleet.settings import FormatSettings, LimitSettings, RenderIsolation, Settings


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


_process_engine: VipsEngine | None = None


def init_render_process(formats: FormatSettings, limits: LimitSettings) -> None:
    """Initializer of a render process: its own libvips set-up and engine."""
    global _process_engine
    configure_vips()
    _process_engine = VipsEngine(formats, limits)


def render_in_process(job: RenderJob) -> RenderResult:
    if _process_engine is None:
        raise RuntimeError("init_render_process did not run in this process")
    return render_job.run(_process_engine, job)


def delivery_config(settings: Settings) -> DeliveryConfig:
    """Everything the delivery path needs from settings, validated (bad presets raise)."""
    sec, lim, fmt = settings.security, settings.limits, settings.formats
    return DeliveryConfig(
        key_pairs=sec.key_pairs,
        signature_size=sec.signature_size,
        presets=compile_presets(sec.presets, allow_security_options=sec.allow_security_options),
        only_presets=sec.only_presets,
        allow_security_options=sec.allow_security_options,
        defaults=ProcessingOptions(
            strip_metadata=fmt.strip_metadata,
            keep_copyright=fmt.keep_copyright,
            strip_color_profile=fmt.strip_color_profile,
        ),
        limits=Limits(
            max_src_bytes=settings.sources.max_bytes,
            max_src_megapixels=lim.max_src_megapixels,
            max_frames=lim.max_frames,
            max_frame_megapixels=lim.max_frame_megapixels,
            max_result_dimension=lim.max_result_dimension,
        ),
        formats=fmt,
        render_timeout=lim.render_timeout,
    )


def build_app(settings: Settings) -> App:
    """The whole service on embedded defaults: one process, in-memory caches."""
    configure_vips()
    metrics = Metrics()
    sources: dict[str, SourceLoader] = {}
    if settings.sources.local_root is not None:
        sources["local"] = LocalSource(settings.sources.local_root)
    http = HttpSource(settings.sources)
    sources["http"] = sources["https"] = http
    render = settings.render
    if render.isolation is RenderIsolation.PROCESSES:
        executor: Executor = ProcessWorkers(
            render.pool_size, init_render_process, (settings.formats, settings.limits)
        )
        run_render: Callable[[RenderJob], RenderResult] = render_in_process
    else:
        executor = ThreadPoolExecutor(render.pool_size, thread_name_prefix="render")
        run_render = functools.partial(
            render_job.run, VipsEngine(settings.formats, settings.limits)
        )
    admission = Admission(render.pool_size, render.queue_size, render.retry_after, executor)
    delivery = DeliveryService(
        delivery_config(settings),
        engine_version=f"{ENGINE_VERSION}+formats-{settings.formats.encoder_fingerprint()}",
        render=run_render,
        sources=sources,
        admission=admission,
        clock=SystemClock(),
        metrics=metrics,
        result_cache=ByteLRU(settings.cache.result_bytes, lambda r: len(r.body)),
        source_cache=ByteLRU(settings.sources.cache_bytes, len),
    )

    async def shutdown() -> None:
        admission.shutdown()
        await http.aclose()

    return App(
        delivery,
        metrics,
        ttl=settings.cache.ttl,
        error_ttl=settings.cache.error_ttl,
        access_log=settings.server.access_log,
        on_shutdown=shutdown,
    )
