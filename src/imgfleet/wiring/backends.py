"""Backend URLs → adapters: the one registry.

Settings name each backend by URL and the scheme picks its adapter, built by the adapter's
`from_url` (which reads the options it knows from the query and refuses any other). A port
is a `Backends` table; a new adapter is one row, a new port one table. A port whose
adapters connect before they can be used (the metadata store, which migrates its schema)
has `from_url` check the URL at once and return an awaitable of the opened adapter:
`await TABLE.open(url)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from imgfleet.adapters.blob.fs import FsBlobStore
from imgfleet.adapters.blob.memory import MemoryBlobStore
from imgfleet.adapters.bus.memory import InProcessEventBus
from imgfleet.adapters.bus.nats import NatsEventBus
from imgfleet.adapters.cache.memory import MemoryCache
from imgfleet.adapters.cache.redis import RedisCache
from imgfleet.adapters.meta.postgres import PostgresMetadataStore
from imgfleet.adapters.meta.sqlite import SqliteMetadataStore
from imgfleet.core.backend_url import scheme_of
from imgfleet.ports import BlobStore, EventBus, MetadataStore, RegionCache

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backends(Generic[T]):
    setting: str  # the environment variable that names the URL, for messages
    adapters: Mapping[str, Callable[[str], T]]  # scheme → the adapter's `from_url`

    def open(self, url: str) -> T:
        """The adapter for `url`; ValueError naming the setting for a bad one."""
        factory = self.adapters.get(scheme_of(url))
        if factory is None:
            schemes = ", ".join(f"{scheme}://" for scheme in self.adapters)
            raise ValueError(f"{self.setting}: expected a URL starting {schemes}; received {url!r}")
        try:
            return factory(url)
        except ValueError as error:
            raise ValueError(f"{self.setting}: {error}") from None


REGION_CACHES: Backends[RegionCache] = Backends(
    "IMGFLEET_CACHE__REGION", {"memory": MemoryCache.from_url, "redis": RedisCache.from_url}
)
EVENT_BUSES: Backends[EventBus] = Backends(
    "IMGFLEET_EVENTS__BUS", {"memory": InProcessEventBus.from_url, "nats": NatsEventBus.from_url}
)


def _s3_blob_store(url: str) -> BlobStore:
    """Imports the S3 client (aiobotocore, aiohttp: about half a second) only when used."""
    from imgfleet.adapters.blob.s3 import S3BlobStore

    return S3BlobStore.from_url(url)


BLOB_STORES: Backends[BlobStore] = Backends(
    "IMGFLEET_STORAGE__BLOBS",
    {"memory": MemoryBlobStore.from_url, "file": FsBlobStore.from_url, "s3": _s3_blob_store},
)

METADATA_STORES: Backends[Awaitable[MetadataStore]] = Backends(
    "IMGFLEET_STORAGE__METADATA",
    {"sqlite": SqliteMetadataStore.from_url, "postgresql": PostgresMetadataStore.from_url},
)
