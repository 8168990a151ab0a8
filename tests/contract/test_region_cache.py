"""The RegionCache port: the in-process adapter and Redis (the server on 127.0.0.1:6379)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from imgfleet.adapters.cache.memory import MemoryCache
from imgfleet.adapters.cache.redis import RedisCache
from imgfleet.core.errors import CacheUnavailable
from imgfleet.core.rendition import Rendition
from imgfleet.ports import RegionCache
from tests.redis_server import REDIS, need_redis


@dataclass
class Case:
    cache: RegionCache
    limited: Callable[[int], RegionCache]  # the same adapter keeping items up to N bytes


@pytest.fixture(params=["memory", "redis"])
async def case(request: pytest.FixtureRequest) -> AsyncIterator[Case]:
    if request.param == "memory":
        yield Case(MemoryCache(), lambda n: MemoryCache(max_bytes=n))
        return
    need_redis()
    prefix = f"imgfleet-test:{uuid.uuid4().hex}:"
    opened: list[RegionCache] = []

    def open_redis(options: str = "") -> RegionCache:
        cache = RedisCache.from_url(f"{REDIS}?prefix={prefix}{options}")
        opened.append(cache)
        return cache

    yield Case(open_redis(), lambda n: open_redis(f"&max_item_bytes={n}"))
    for cache in opened:
        await cache.aclose()


RED = Rendition(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "image/png")
BLUE = Rendition(b"RIFF....WEBPVP8 \n\n\n", "image/webp")


async def test_a_rendition_reads_back_whole(case: Case) -> None:
    await case.cache.put("k1", RED)
    assert await case.cache.get("k1") == RED


async def test_an_unknown_key_is_a_miss(case: Case) -> None:
    assert await case.cache.get("never-written") is None


async def test_a_put_replaces_and_a_delete_removes(case: Case) -> None:
    await case.cache.put("k2", RED)
    await case.cache.put("k2", BLUE)
    assert await case.cache.get("k2") == BLUE
    await case.cache.delete("k2")
    assert await case.cache.get("k2") is None
    await case.cache.delete("k2")  # deleting what is gone is no error


async def test_what_does_not_fit_is_dropped_not_refused(case: Case) -> None:
    small = case.limited(len(BLUE.body))
    await small.put("big", RED)
    await small.put("fits", BLUE)
    assert (await small.get("big"), await small.get("fits")) == (None, BLUE)


async def test_redis_that_is_down_is_unavailable_not_a_hang() -> None:
    with socket.socket() as held:  # bound and never listening: connections are refused
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        await _refused_on(port)


async def _refused_on(port: int) -> None:
    cache = RedisCache.from_url(f"redis://127.0.0.1:{port}/0?timeout=0.5")
    try:
        for call in (cache.get("k"), cache.put("k", RED), cache.delete("k")):
            with pytest.raises(CacheUnavailable) as down:
                await call
            assert down.value.status == 503
    finally:
        await cache.aclose()
