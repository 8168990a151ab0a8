"""`redis://host:port/db?ttl=S&timeout=S&max_item_bytes=N&prefix=P`: the region cache that
every node of a region shares.

A rendition is stored as its media type, a newline and its body, under `prefix + key`, with
a time to live (renditions are immutable, so a TTL only bounds what a region keeps; Redis'
own eviction policy bounds its memory). Every call has a timeout; Redis' failures become
`CacheUnavailable`, which the service takes as a miss.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from imgfleet.core.backend_url import BackendUrl
from imgfleet.core.errors import CacheUnavailable
from imgfleet.core.rendition import Rendition

OPTIONS = {"ttl", "timeout", "max_item_bytes", "prefix"}


class RedisCache:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        ttl: int = 7 * 24 * 3600,
        max_item_bytes: int = 8 * 1024 * 1024,
        prefix: str = "imgfleet:r:",
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._max_item_bytes = max_item_bytes
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisCache:
        parsed = BackendUrl.parse(url, OPTIONS)
        timeout = parsed.seconds("timeout", 0.25)
        client = aioredis.Redis.from_url(
            parsed.without_options(),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
        )
        return cls(
            client,
            ttl=parsed.integer("ttl", 7 * 24 * 3600, minimum=1),
            max_item_bytes=parsed.integer("max_item_bytes", 8 * 1024 * 1024, minimum=1),
            prefix=parsed.text_option("prefix", "imgfleet:r:"),
        )

    async def get(self, key: str) -> Rendition | None:
        with _unavailable():
            stored = await self._client.get(self._prefix + key)
        if stored is None:
            return None
        data = stored if isinstance(stored, bytes) else stored.encode("latin-1")
        media_type, newline, body = data.partition(b"\n")
        if not newline:  # not written by this adapter: treat as absent
            return None
        return Rendition(body, media_type.decode("latin-1"))

    async def put(self, key: str, rendition: Rendition) -> None:
        if len(rendition.body) > self._max_item_bytes:
            return
        value = rendition.media_type.encode("latin-1") + b"\n" + rendition.body
        with _unavailable():
            await self._client.set(self._prefix + key, value, ex=self._ttl)

    async def delete(self, key: str) -> None:
        with _unavailable():
            await self._client.delete(self._prefix + key)

    async def aclose(self) -> None:
        await self._client.aclose()


@contextmanager
def _unavailable() -> Iterator[None]:
    """Redis' errors, translated once, here."""
    try:
        yield
    except (RedisError, OSError) as error:
        raise CacheUnavailable(f"region cache: {type(error).__name__}") from error
