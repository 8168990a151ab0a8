"""Everything one imgfleet process needs, built from settings: opened at start, closed at
shutdown in reverse order. The web shell is not among them (`wiring.app` adds it)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from imgfleet.adapters.clock import SystemClock
from imgfleet.adapters.source.http import HttpSource
from imgfleet.adapters.source.local import LocalSource
from imgfleet.core.lru import ByteLRU
from imgfleet.core.rendition import Rendition
from imgfleet.imaging.engine import VipsEngine, configure_vips
from imgfleet.metrics import Metrics
from imgfleet.ports import Clock, Engine, SourceLoader
from imgfleet.service import render_job
from imgfleet.service.admission import Admission, Workers
from imgfleet.service.delivery import DeliveryService
from imgfleet.service.render_job import RenderJob, RenderResult
from imgfleet.service.worker_processes import ProcessWorkers
from imgfleet.service.worker_threads import ThreadWorkers
from imgfleet.settings import RenderIsolation, Settings
from imgfleet.wiring.backends import REGION_CACHES
from imgfleet.wiring.config import (
    admission_config,
    delivery_config,
    encoder_config,
    http_source_config,
)


@dataclass(frozen=True, slots=True)
class Dependencies:
    settings: Settings
    metrics: Metrics
    delivery: DeliveryService


@asynccontextmanager
async def open_dependencies(
    settings: Settings, *, engine: Engine | None = None, clock: Clock | None = None
) -> AsyncIterator[Dependencies]:
    """The process's dependencies while the block runs.

    `engine` replaces libvips (renders then run in threads whatever the isolation setting),
    `clock` the system clock: for tests, as httpx takes a transport.
    """
    async with AsyncExitStack() as stack:
        metrics = Metrics()
        sources: dict[str, SourceLoader] = {}
        if settings.sources.local_root is not None:
            sources["local"] = LocalSource(settings.sources.local_root)
        http = HttpSource(http_source_config(settings.sources))
        stack.push_async_callback(http.aclose)
        sources["http"] = sources["https"] = http

        encoder = encoder_config(settings.formats)
        max_megapixels = settings.limits.max_src_megapixels
        pool = settings.render.pool_size
        run_render: Callable[[RenderJob], RenderResult]
        workers: Workers
        if engine is None:
            configure_vips()  # this process reads headers (and renders, with threads)
            engine = VipsEngine(encoder, max_megapixels)
            processes = settings.render.isolation is RenderIsolation.PROCESSES
        else:
            processes = False  # a given engine lives in this process
        if processes:
            make_engine = functools.partial(VipsEngine.for_process, encoder, max_megapixels)
            workers = ProcessWorkers(
                pool,
                render_job.start_process,
                (make_engine,),
                grace=settings.render.kill_grace,
                scheduling=settings.render.worker_scheduling,
                on_restart=metrics.worker_restarted,
            )
            run_render = render_job.run_in_process
        else:
            workers = ThreadWorkers(pool)
            run_render = functools.partial(render_job.run, engine)
        admission = Admission(
            admission_config(settings.render), workers, on_refused=metrics.overloaded.inc
        )
        stack.callback(admission.shutdown)

        region = None
        if settings.cache.region:
            region = REGION_CACHES.open(settings.cache.region)
            stack.push_async_callback(region.aclose)

        delivery = DeliveryService(
            delivery_config(settings),
            engine_version=engine.version,
            probe=engine.probe,
            render=run_render,
            sources=sources,
            admission=admission,
            clock=clock or SystemClock(),
            metrics=metrics,
            result_cache=ByteLRU[str, Rendition](settings.cache.result_bytes, _rendition_size),
            source_cache=ByteLRU[str, bytes](settings.sources.cache_bytes, len),
            region_cache=region,
        )
        yield Dependencies(settings, metrics, delivery)


def _rendition_size(rendition: Rendition) -> int:
    return len(rendition.body)
