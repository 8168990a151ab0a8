"""Everything one imgfleet process needs, built from settings: opened at start, closed at
shutdown in reverse order. The web shell is not among them (`wiring.app` adds it)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from imgfleet.adapters.bus.nats_peer import NatsPeerFeed
from imgfleet.adapters.clock import SystemClock
from imgfleet.adapters.peers import HttpPeers
from imgfleet.adapters.source.http import HttpSource
from imgfleet.adapters.source.local import LocalSource
from imgfleet.core.lru import ByteLRU
from imgfleet.core.rendition import Rendition
from imgfleet.imaging.engine import VipsEngine, configure_vips
from imgfleet.metrics import Metrics
from imgfleet.ports import BlobStore, Clock, Engine, MetadataStore, Peers, SourceLoader
from imgfleet.service import render_job
from imgfleet.service.admission import Admission, Workers
from imgfleet.service.api_keys import KeyService
from imgfleet.service.asset_source import AssetSource
from imgfleet.service.assets import AssetService
from imgfleet.service.change_feed import ChangeFeed
from imgfleet.service.collector import Collector
from imgfleet.service.delivery import DeliveryService
from imgfleet.service.outbox_relay import OutboxRelay
from imgfleet.service.pull_through import PullCounts, PullThrough
from imgfleet.service.render_job import RenderJob, RenderResult
from imgfleet.service.replicator import Replicator
from imgfleet.service.worker_processes import ProcessWorkers
from imgfleet.service.worker_threads import ThreadWorkers
from imgfleet.settings import RenderIsolation, Settings
from imgfleet.wiring.backends import BLOB_STORES, EVENT_BUSES, METADATA_STORES, REGION_CACHES
from imgfleet.wiring.config import (
    admission_config,
    assets_config,
    blobs_url,
    bus_url,
    delivery_config,
    encoder_config,
    http_source_config,
    metadata_url,
    relay_config,
    s3_source_config,
)


@dataclass(frozen=True, slots=True)
class RegionLinks:
    """This region's links to its peers: none for a region on its own."""

    replicators: tuple[Replicator, ...] = ()  # one per peer
    pull: PullThrough | None = None
    peers: Peers | None = None


@dataclass(frozen=True, slots=True)
class Dependencies:
    settings: Settings
    metrics: Metrics
    delivery: DeliveryService
    assets: AssetService
    keys: KeyService
    relay: OutboxRelay
    feed: ChangeFeed
    collector: Collector
    links: RegionLinks = RegionLinks()  # to the other regions


@asynccontextmanager
async def open_metadata(settings: Settings) -> AsyncIterator[MetadataStore]:
    """The metadata store in settings, its migrations applied, while the block runs."""
    if not settings.storage.metadata:
        settings.storage.data.mkdir(parents=True, exist_ok=True)
    store = await METADATA_STORES.open(metadata_url(settings.storage))
    try:
        yield store
    finally:
        await store.aclose()


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
        s3_config = s3_source_config(settings.sources)
        if s3_config is not None:
            from imgfleet.adapters.source.s3 import S3Source  # imported only when used

            s3 = S3Source(s3_config)
            stack.push_async_callback(s3.aclose)
            sources["s3"] = s3

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

        clock = clock or SystemClock()
        store = await stack.enter_async_context(open_metadata(settings))
        if not settings.storage.blobs:
            (settings.storage.data / "blobs").mkdir(parents=True, exist_ok=True)
        blobs = BLOB_STORES.open(blobs_url(settings.storage))
        stack.push_async_callback(blobs.aclose)
        bus = EVENT_BUSES.open(bus_url(settings))
        stack.push_async_callback(bus.aclose)
        links = await stack.enter_async_context(open_region_links(settings, store, blobs, clock))
        asset_source = AssetSource(
            store, blobs, region=settings.region.name, clock=clock, pull=links.pull
        )
        stack.push_async_callback(asset_source.settle)  # before the blob store closes
        sources["asset"] = asset_source

        delivery = DeliveryService(
            delivery_config(settings),
            engine_version=engine.version,
            probe=engine.probe,
            render=run_render,
            sources=sources,
            admission=admission,
            clock=clock,
            metrics=metrics,
            result_cache=ByteLRU[str, Rendition](settings.cache.result_bytes, _rendition_size),
            source_cache=ByteLRU[str, bytes](settings.sources.cache_bytes, len),
            region_cache=region,
            assets=asset_source,
        )
        relay = OutboxRelay(relay_config(settings.events), store, bus, clock)
        assets = AssetService(
            assets_config(settings),
            store=store,
            blobs=blobs,
            probe=engine.probe,
            describe=render_job.describe_in_process
            if processes
            else functools.partial(render_job.describe, engine),
            admission=admission,
            clock=clock,
            region_cache=region,
            bus=bus,
            pull=links.pull,
            caught_up=asset_source.caught_up,
            forget=delivery.forget_asset,
            committed=relay.wake,
        )
        storage = settings.storage
        metrics.replication.watch(
            lambda: [(r.peer, r.state) for r in links.replicators],
            lambda: PullCounts() if links.pull is None else links.pull.counts,
            lambda: {} if links.peers is None else links.peers.breakers(),
        )
        deps = Dependencies(
            settings,
            metrics,
            delivery,
            assets,
            KeyService(store, clock, settings.region.name),
            relay,
            ChangeFeed(store, delivery.forget_asset, storage.feed_interval),
            Collector(
                store,
                blobs,
                clock,
                grace=storage.delete_grace,
                interval=storage.collect_interval,
                region=settings.region.name,
                peers=links.peers,
                peer_names=[peer.name for peer in settings.region.peers],
            ),
            links,
        )
        await deps.feed.poll()  # from the feed's present position on
        tasks = [
            asyncio.create_task(deps.relay.run(), name="outbox relay"),
            asyncio.create_task(deps.feed.run(), name="change feed"),
            asyncio.create_task(deps.collector.run(), name="collector"),
            *(
                asyncio.create_task(replicator.run(), name=f"replication from {replicator.peer}")
                for replicator in deps.links.replicators
            ),
        ]
        for replicator in deps.links.replicators:  # after the cancel (the stack is LIFO)
            stack.push_async_callback(replicator.settle)
        stack.push_async_callback(_cancel, tasks)
        yield deps


@asynccontextmanager
async def open_region_links(
    settings: Settings, store: MetadataStore, blobs: BlobStore, clock: Clock
) -> AsyncIterator[RegionLinks]:
    region = settings.region
    if not region.peers:
        yield RegionLinks()
        return
    peers = HttpPeers(
        {peer.name: peer.url for peer in region.peers},
        region.secret,
        timeout=region.peer_timeout,
    )
    feeds = [
        NatsPeerFeed(peer.nats, peer.name, region.name, timeout=region.peer_timeout)
        for peer in region.peers
    ]
    nearest = sorted(region.peers, key=lambda peer: peer.rtt)
    try:
        yield RegionLinks(
            tuple(
                Replicator(peer.name, feed, store=store, blobs=blobs, peers=peers, clock=clock)
                for peer, feed in zip(region.peers, feeds, strict=True)
            ),
            PullThrough(
                [peer.name for peer in nearest],
                peers,
                store=store,
                blobs=blobs,
                clock=clock,
                # The next peer is asked once the nearest has had two round trips (a record,
                # then an original), and never sooner than 50 ms.
                hedge_after=max(0.05, 2 * nearest[0].rtt / 1000),
            ),
            peers,
        )
    finally:
        for feed in feeds:
            await feed.aclose()
        await peers.aclose()


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _rendition_size(rendition: Rendition) -> int:
    return len(rendition.body)
