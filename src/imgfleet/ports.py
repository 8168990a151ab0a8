"""The interfaces the service depends on; adapters and the imaging engine implement them."""

from __future__ import annotations

from typing import Protocol

from imgfleet.core.geometry import Plan
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.core.source import SourceInfo


class SourceLoader(Protocol):
    """Fetches the bytes of one source URL scheme."""

    async def fetch(self, url: str, max_bytes: int) -> bytes: ...


class Engine(Protocol):
    """Reads headers and renders; synchronous, called from worker threads."""

    version: str

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


class Clock(Protocol):
    def time(self) -> float: ...  # unix seconds, for `expires`

    def monotonic(self) -> float: ...  # for deadlines and durations
