"""The delivery path of a GET: signature → options → cache key → cache → single-flight → render.

Everything here is orchestration over ports; the rules live in `core`, the pixels in the
engine and the bytes in the source adapters.

The HTTP shell may answer a repeated GET before parsing it (`http/hot.py`). It may skip only
what this service decides from the request path and Accept alone (signature, options,
negotiation, cache key), and only for a delivery marked `reusable`; the rendition itself it
must take from `cached_rendition`, which every answer from the cache goes through. A check
that every request must pass (a rate limit, read-your-writes, a tenant) therefore goes into
`cached_rendition`, or makes `reusable` false.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from imgfleet.core import limits
from imgfleet.core.cache_key import render_key
from imgfleet.core.encoding import Qualities
from imgfleet.core.errors import (
    BadRequest,
    BadSignature,
    CacheUnavailable,
    ClientGone,
    Expired,
    ForbiddenSource,
    ImgfleetError,
    Overloaded,
    RenderKilled,
    TooLarge,
)
from imgfleet.core.hlc import Hlc
from imgfleet.core.lru import ByteLRU
from imgfleet.core.negotiation import negotiate
from imgfleet.core.option_parser import ParsedPath, Presets, parse_path
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.core.render_warnings import RenderWarnings
from imgfleet.core.rendition import Rendition
from imgfleet.core.signing import KeyPair, verify
from imgfleet.core.source import SourceInfo
from imgfleet.ports import Clock, DeliveryMetrics, RegionCache, SourceLoader
from imgfleet.service.admission import Admission, Place
from imgfleet.service.asset_source import SCHEME, AssetSource, asset_id_of
from imgfleet.service.render_job import RenderJob, RenderResult, prepare
from imgfleet.service.single_flight import SingleFlight
from imgfleet.service.warning_log import WarningLog

T = TypeVar("T")

log = logging.getLogger(__name__)

ACCEPT_ENTRIES = 256  # distinct Accept headers whose negotiated format is remembered


@dataclass(frozen=True, slots=True)
class Presentation:
    """How a request's rendition is answered: its ETag, caching, negotiation and file name.

    It follows from the path and Accept alone, not from the bytes.
    """

    key: str  # canonical cache key; the strong ETag
    negotiated: bool  # the format followed Accept: the response must say Vary: Accept
    signed: bool  # a signed URL names one immutable rendition
    expires: int | None
    disposition: bool  # the URL asked for a file name or an attachment
    filename: str | None  # `fn`, else the source's stem
    attachment: bool


class Tier(StrEnum):
    """Where a delivery's rendition came from."""

    MEMORY = "hit"  # this node's memory (L1)
    REGION = "region"  # the region cache (L2), shared by the region's nodes
    STORED = "stored"  # an asset's rendition stored in the blob store
    RENDERED = "miss"  # rendered for this request, or for one it joined


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the HTTP shell needs to answer a GET."""

    rendition: Rendition
    presentation: Presentation
    tier: Tier

    @property
    def cache_hit(self) -> bool:
        return self.tier is Tier.MEMORY

    @property
    def reusable(self) -> bool:
        """Whether the same path and Accept may be answered again from `cached_rendition`
        without this service seeing the request: a hit on a URL that does not expire."""
        return self.cache_hit and self.presentation.expires is None


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    key_pairs: tuple[KeyPair, ...]
    signature_size: int
    presets: Presets
    only_presets: bool
    allow_security_options: bool
    defaults: ProcessingOptions
    limits: limits.Limits
    qualities: Qualities
    prefer_avif: bool
    prefer_webp: bool
    render_timeout: float
    threads: int  # libvips' threads per render


class DeliveryService:
    def __init__(
        self,
        config: DeliveryConfig,
        *,
        engine_version: str,
        probe: Callable[[bytes], SourceInfo],
        render: Callable[[RenderJob], RenderResult],
        sources: Mapping[str, SourceLoader],
        admission: Admission,
        clock: Clock,
        metrics: DeliveryMetrics,
        result_cache: ByteLRU[str, Rendition],
        source_cache: ByteLRU[str, bytes],
        region_cache: RegionCache | None = None,
        assets: AssetSource | None = None,
    ) -> None:
        self.config = config
        self.engine_version = engine_version
        self.probe = probe  # reads a header in this process, before admission
        self.render = render  # runs on an admitted worker: a thread or a process
        self.sources = sources
        self.admission = admission
        self.clock = clock
        self.metrics = metrics
        self.results = result_cache
        self.source_bytes = source_cache
        self.region = region_cache
        self.assets = assets
        # Which asset each rendition in memory was made of, to drop them when it goes.
        self._asset_of: dict[str, str] = {}
        self.results.on_evict = lambda key: self._asset_of.pop(key, None)
        self.warning_log = WarningLog(clock)  # the engine's warnings: a line per source a minute
        self._renders: SingleFlight[str, tuple[Rendition, Tier]] = SingleFlight(metrics.coalesced)
        self._fetches: SingleFlight[str, bytes] = SingleFlight()
        # Browsers send a handful of distinct Accept headers: negotiate each once.
        self._negotiated: dict[str, ImageFormat | None] = {}

    async def deliver(
        self,
        raw_path: str,
        accept: str,
        gone: Callable[[], Awaitable[object]] | None = None,
        written: str | None = None,
    ) -> Delivery:
        """The rendition for a request path; `gone()` returns when the client disconnects;
        `written`, a write's clock the client sent back, asks for read-your-writes: an asset
        source is first brought up to that write (`AssetSource.caught_up`).

        A miss races its render against `gone`: a client that leaves drops its wait (and the
        render itself while it is still queued, when nobody else waits for it) instead of
        holding a queue place until a worker is free. Hits never look at `gone`.
        """
        started = self.clock.monotonic()
        parsed = self.resolve(raw_path)
        if written is not None:
            await self._caught_up(parsed.source_url, written)
        options = parsed.options
        if options.expires is not None and options.expires < self.clock.time():
            raise Expired("the URL has expired")
        target, negotiated = self._target(options, accept)
        key = render_key(
            options, parsed.source_url, target, self.engine_version, self._quality(target)
        )
        presentation = Presentation(
            key=key,
            negotiated=negotiated,
            signed=bool(self.config.key_pairs),
            expires=options.expires,
            disposition=options.filename is not None or options.return_attachment,
            filename=options.filename or _stem(parsed.source_url),
            attachment=options.return_attachment,
        )
        rendition = self.cached_rendition(key)
        if rendition is not None:
            return Delivery(rendition, presentation, Tier.MEMORY)

        self.metrics.cache_miss()
        # A miss that would start a render takes its admission place before anything
        # awaits (refused at once when there is none); with a region cache, after its
        # lookup, which may spare the render.
        place = None
        if self.region is None and key not in self._renders:
            place = self.admission.reserve()
        try:
            deadline = started + self.config.render_timeout
            flight: Awaitable[tuple[tuple[Rendition, Tier], bool]] = self._renders.run(
                key, lambda: self._miss(key, parsed, target, negotiated, deadline, place)
            )
            if gone is not None:
                flight = _unless_gone(flight, gone)
            (rendition, tier), _ = await flight
        finally:
            if place is not None:
                place.release()  # unused, or this caller left: its render takes another
        return Delivery(rendition, presentation, tier)

    def refusal(self) -> Overloaded | None:
        """The answer a miss would get now, before any work, when it would be refused (no
        admission place free, no region cache that might spare the render); None otherwise.
        Under overload the HTTP shell answers a request that is not in its hot table with it,
        unparsed: this node's own hits are in the table."""
        return None if self.region is not None else self.admission.refusal()

    def cached_rendition(self, key: str) -> Rendition | None:
        """The rendition cached under `key`, counted as a hit; None on a miss; no await.

        Every answer from the cache comes through here, the HTTP shell's hot path included.
        """
        rendition = self.results.get(key)
        if rendition is not None:
            self.metrics.cache_hit()
        return rendition

    def resolve(self, raw_path: str) -> ParsedPath:
        """Verify and parse a request path: its options and source (raises the 4xx errors)."""
        signature, path = _split_signature(raw_path)
        self._verify(signature, path)
        return self._parse(path)

    def _verify(self, signature: str, path: str) -> None:
        pairs, size = self.config.key_pairs, self.config.signature_size
        try:
            verify(signature, path, pairs, size)
        except BadSignature:
            # Proxies may re-encode ':' in the options; imgproxy's clients sign it unescaped.
            unescaped = unquote(path)
            if unescaped == path:
                raise
            verify(signature, unescaped, pairs, size)

    def _parse(self, path: str) -> ParsedPath:
        c = self.config
        return parse_path(
            path,
            defaults=c.defaults,
            presets=c.presets,
            only_presets=c.only_presets,
            allow_security_options=c.allow_security_options,
        )

    def _target(self, options: ProcessingOptions, accept: str) -> tuple[ImageFormat | None, bool]:
        """The output format asked for, or the negotiated one (None: the source's own)."""
        if options.format is not None:
            return options.format, False
        c = self.config
        if not (c.prefer_avif or c.prefer_webp):
            return None, False
        try:
            return self._negotiated[accept], True
        except KeyError:
            target = negotiate(accept, prefer_avif=c.prefer_avif, prefer_webp=c.prefer_webp)
            if len(self._negotiated) >= ACCEPT_ENTRIES:
                self._negotiated.clear()  # a client varying Accept cannot grow this
            self._negotiated[accept] = target
            return target, True

    def _quality(self, fmt: ImageFormat | None) -> int | None:
        return None if fmt is None else self.config.qualities.for_format(fmt)

    async def _miss(
        self,
        key: str,
        parsed: ParsedPath,
        target: ImageFormat | None,
        negotiated: bool,
        deadline: float,
        place: Place | None,
    ) -> tuple[Rendition, Tier]:
        """A rendition missing from memory: from the region cache, else (for an asset) the
        blob store, else rendered (and then shared with the region); kept in memory.

        An asset is checked first: a deleted one is never served from a shared tier.
        """
        asset_id = asset_id_of(parsed.source_url)
        if asset_id is not None:
            if self.assets is None:
                raise ForbiddenSource("asset sources are not enabled on this node")
            await self.assets.live(asset_id)
        tier = Tier.REGION
        rendition = await self._from_region(key)
        if rendition is None and asset_id is not None and self.assets is not None:
            tier = Tier.STORED
            rendition = await self.assets.stored(asset_id, key)
            if rendition is not None:
                await self._to_region(key, rendition)
        if rendition is None:
            tier = Tier.RENDERED
            rendition = await self._render(key, parsed, target, negotiated, deadline, place)
            if asset_id is not None and self.assets is not None:
                self.assets.store_later(asset_id, key, rendition)
            await self._to_region(key, rendition)
        self.results.put(key, rendition)
        if asset_id is not None:
            self._asset_of[key] = asset_id
        self.metrics.result_cache_bytes(self.results.size)
        return rendition, tier

    async def _caught_up(self, source_url: str, written: str) -> None:
        asset_id = asset_id_of(source_url)
        if asset_id is None or self.assets is None:
            return  # only assets have writes
        try:
            clock = Hlc.parse(written)
        except ValueError as error:
            raise BadRequest(f"Imgfleet-Hlc: {error}") from None
        if await self.assets.caught_up(asset_id, clock):
            self.forget_asset(asset_id)
        await self.assets.live(asset_id)  # 410 for a delete it caught up with

    def forget_asset(self, asset_id: str) -> None:
        """Drop everything this node keeps of an asset that changed or went: its record, its
        original's bytes and its renditions in memory (so the hot path misses them too)."""
        if self.assets is not None:
            self.assets.forget(asset_id)
        self.source_bytes.pop(f"{SCHEME}{asset_id}")
        for key in [key for key, owner in self._asset_of.items() if owner == asset_id]:
            self.results.pop(key)
            del self._asset_of[key]

    async def _from_region(self, key: str) -> Rendition | None:
        """The region's copy; a failing region cache counts as a miss (and as an error)."""
        if self.region is None:
            return None
        try:
            rendition = await self.region.get(key)
        except CacheUnavailable:
            self.metrics.region_cache("error")
            return None
        self.metrics.region_cache("miss" if rendition is None else "hit")
        return rendition

    async def _to_region(self, key: str, rendition: Rendition) -> None:
        if self.region is None:
            return
        try:
            await self.region.put(key, rendition)
        except CacheUnavailable:
            self.metrics.region_cache("error")

    async def _render(
        self,
        key: str,
        parsed: ParsedPath,
        target: ImageFormat | None,
        negotiated: bool,
        deadline: float,
        place: Place | None,
    ) -> Rendition:
        """Render `parsed` in an admission place, taken before any work if not given; the
        source's header and the plan are read here, so that admission can weigh the render's
        memory and a render that breaks a limit never takes a worker."""
        if place is None or not place.held:
            place = self.admission.reserve()
        try:
            options = parsed.options
            lim = self.config.limits.overridden(options.security)
            data = await self._fetch(parsed.source_url, lim.max_src_bytes)
            c = self.config
            job = prepare(
                self.probe, data, options, target, negotiated, lim, c.qualities, deadline, c.threads
            )
            if isinstance(job, RenderResult):  # the source, served as it is
                return Rendition(job.body, job.media_type)
            try:
                result = await self.admission.run(
                    place, self.render, job, cost=job.memory, deadline=deadline
                )
            except ImgfleetError as error:
                self._warned(parsed.source_url, error.render_warnings)
                context = {"key": key, "source": parsed.source_url}
                if isinstance(error, RenderKilled):
                    log.warning(error.public_message, extra=context)
                elif error.is_fault:
                    log.error(error.public_message, extra=context)
                raise
            self._warned(parsed.source_url, result.warnings)
            self.metrics.rendered(job.format, result.seconds)
            return Rendition(result.body, result.media_type)
        finally:
            place.release()  # a no-op once the render started

    def _warned(self, source_url: str, warnings: RenderWarnings) -> None:
        """Count what the engine warned in a render; log it as often as the warning log says."""
        if warnings.count:
            self.metrics.render_warnings(warnings.count)
            self.warning_log.record(source_url, warnings)

    async def _fetch(self, url: str, max_bytes: int) -> bytes:
        cached = self.source_bytes.get(url)
        if cached is None:
            cached, _ = await self._fetches.run(url, lambda: self._fetch_uncached(url, max_bytes))
        if len(cached) > max_bytes:
            # Cached under a request whose limit was raised by an override.
            raise TooLarge(f"source is {len(cached)} bytes; the limit is {max_bytes}")
        return cached

    async def _fetch_uncached(self, url: str, max_bytes: int) -> bytes:
        scheme = url.partition(":")[0].lower()
        loader = self.sources.get(scheme)
        if loader is None:
            if scheme == "local":
                raise ForbiddenSource(
                    "local sources are not enabled: set IMGFLEET_SOURCES__LOCAL_ROOT"
                )
            if scheme == "s3":
                raise ForbiddenSource(
                    "s3 sources are not enabled: set IMGFLEET_SOURCES__S3_BUCKETS"
                )
            raise BadRequest(
                f"source: expected an asset://, local://, http(s):// or s3:// URL, received {url!r}"
            )
        try:
            data = await loader.fetch(url, max_bytes)
        except ImgfleetError as error:
            self.metrics.source_failed(error.reason)
            raise
        self.source_bytes.put(url, data)
        return data


async def _unless_gone(work: Awaitable[T], gone: Callable[[], Awaitable[object]]) -> T:
    """`work`'s result, or ClientGone (and `work` cancelled) if `gone()` finishes first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(gone())
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        raise ClientGone("the client disconnected before the render was done")
    return task.result()


def _stem(source_url: str) -> str | None:
    """The source's file name without extension, for Content-Disposition (like imgproxy)."""
    name = PurePosixPath(urlsplit(source_url).path).stem
    return name or None


def _split_signature(raw_path: str) -> tuple[str, str]:
    signature, slash, rest = raw_path.lstrip("/").partition("/")
    if not slash or not rest:
        raise BadRequest("expected /<signature>/<options>/<source>")
    return signature, "/" + rest
