"""`memory://`: blobs in this process, for tests and a single node that may lose them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from imgfleet.core.backend_url import BackendUrl
from imgfleet.core.blobs import blob_key, blob_prefix, verified
from imgfleet.ports import BlobInfo


class MemoryBlobStore:
    """A dict of bytes by key, with the checks of every blob store (keys, sha256)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._blobs: dict[str, tuple[bytes, float]] = {}

    @classmethod
    def from_url(cls, url: str) -> MemoryBlobStore:
        BackendUrl.parse(url)  # takes no option
        return cls()

    async def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        self._blobs[blob_key(key)] = (bytes(data), self._clock())

    async def has(self, key: str) -> bool:
        return blob_key(key) in self._blobs

    async def get(self, key: str, sha256: str | None = None) -> bytes | None:
        stored = self._blobs.get(blob_key(key))
        return None if stored is None else verified(key, stored[0], sha256)

    async def delete(self, key: str) -> None:
        self._blobs.pop(blob_key(key), None)

    async def list(self, prefix: str) -> AsyncIterator[BlobInfo]:
        """What matched when the listing started, in key order."""
        blob_prefix(prefix)
        matching = sorted(key for key in self._blobs if key.startswith(prefix))
        for key in matching:
            stored = self._blobs.get(key)
            if stored is not None:  # not deleted since
                yield BlobInfo(key, len(stored[0]), stored[1])

    async def aclose(self) -> None:
        pass
