"""The interfaces the service depends on; adapters, the imaging engine and the metrics
implement them, and `imgfleet.testing` holds a test double of each."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from imgfleet.core.geometry import Plan
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.core.render_warnings import WarningTally
from imgfleet.core.rendition import Rendition
from imgfleet.core.source import SourceInfo


class SourceLoader(Protocol):
    """Fetches the bytes of one source URL scheme.

    Raises `SourceNotFound` for a missing source, `TooLarge` past `max_bytes`,
    `ForbiddenSource` for one it may not read, `OriginError`/`OriginTimeout` when the place
    it reads from fails.
    """

    async def fetch(self, url: str, max_bytes: int) -> bytes: ...


class Engine(Protocol):
    """Reads headers and renders; synchronous, called from worker threads or processes."""

    @property
    def version(self) -> str:
        """Names everything that changes the bytes rendered for the same inputs."""
        ...

    def probe(self, data: bytes) -> SourceInfo: ...

    def render(
        self,
        data: bytes,
        info: SourceInfo,
        plan: Plan,
        options: ProcessingOptions,
        fmt: ImageFormat,
        quality: int,
        deadline: float,
    ) -> bytes: ...

    def captured_warnings(self) -> AbstractContextManager[WarningTally]:
        """Collect, instead of logging, the warnings the engine logs for the render run in
        the block on this thread; the tally is complete once the block has exited."""
        ...

    def release_memory(self) -> None:
        """Hand memory freed by earlier renders back to the system; called after a render
        that needed much, between renders."""
        ...


class RegionCache(Protocol):
    """Renditions shared by the nodes of a region, by cache key: the second tier after each
    node's memory. Best effort: `put` may drop what does not fit, and an adapter whose
    backend fails raises `CacheUnavailable`, which callers take as a miss."""

    async def get(self, key: str) -> Rendition | None: ...

    async def put(self, key: str, rendition: Rendition) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def aclose(self) -> None: ...


class Clock(Protocol):
    def time(self) -> float: ...  # unix seconds, for `expires`

    def monotonic(self) -> float: ...  # for deadlines and durations


class DeliveryMetrics(Protocol):
    """What the delivery service counts; `imgfleet.metrics.Metrics` exports it."""

    def cache_hit(self) -> None: ...

    def cache_miss(self) -> None: ...

    def coalesced(self) -> None: ...  # a miss that joined another's render

    def rendered(self, fmt: ImageFormat, seconds: float) -> None: ...

    def source_failed(self, reason: str) -> None: ...

    def result_cache_bytes(self, size: int) -> None: ...

    def region_cache(self, result: str) -> None: ...  # "hit", "miss" or "error"

    def render_warnings(self, count: int) -> None: ...  # warnings the engine logged in a render
