"""`memory://?max_bytes=N`: the region cache in this process (one node, or tests)."""

from __future__ import annotations

from imgfleet.core.backend_url import BackendUrl
from imgfleet.core.lru import ByteLRU
from imgfleet.core.rendition import Rendition

DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class MemoryCache:
    """Least recently used renditions up to `max_bytes` of bodies."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._items = ByteLRU[str, Rendition](max_bytes, _size)

    @classmethod
    def from_url(cls, url: str) -> MemoryCache:
        parsed = BackendUrl.parse(url, {"max_bytes"})
        return cls(parsed.integer("max_bytes", DEFAULT_MAX_BYTES))

    async def get(self, key: str) -> Rendition | None:
        return self._items.get(key)

    async def put(self, key: str, rendition: Rendition) -> None:
        self._items.put(key, rendition)

    async def delete(self, key: str) -> None:
        self._items.pop(key)

    async def aclose(self) -> None:
        pass


def _size(rendition: Rendition) -> int:
    return len(rendition.body)
