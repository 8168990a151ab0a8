"""A source loader over a dict: URL → bytes."""

from __future__ import annotations

from collections.abc import Mapping

from imgfleet.core.errors import SourceNotFound, TooLarge


class MemorySource:
    def __init__(self, objects: Mapping[str, bytes] | None = None) -> None:
        self.objects = dict(objects or {})
        self.fetches = 0  # calls of `fetch`, found or not

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        self.fetches += 1
        data = self.objects.get(url)
        if data is None:
            raise SourceNotFound(f"source not found: {url}")
        if len(data) > max_bytes:
            raise TooLarge(f"source is {len(data)} bytes; the limit is {max_bytes}")
        return data
