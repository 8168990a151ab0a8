"""The backend registry and backend URLs: the scheme picks the adapter, options are strict."""

from __future__ import annotations

import pytest

from imgfleet.adapters.cache.memory import MemoryCache
from imgfleet.adapters.cache.redis import RedisCache
from imgfleet.core.backend_url import BackendUrl, scheme_of
from imgfleet.wiring.backends import REGION_CACHES


async def test_the_scheme_picks_the_adapter() -> None:
    assert isinstance(REGION_CACHES.open("memory://"), MemoryCache)
    redis = REGION_CACHES.open("redis://127.0.0.1:6379/0?ttl=60&timeout=0.1")
    assert isinstance(redis, RedisCache)
    await redis.aclose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://bucket", "expected a URL starting memory://, redis://; received 's3://bucket'"),
        ("memory", "expected a URL starting memory://"),
        ("memory://?max_byte=5", "unknown option 'max_byte' (options: max_bytes)"),
        ("memory://?max_bytes=lots", "max_bytes expects an integer, received 'lots'"),
        ("memory://?max_bytes=-1", "max_bytes must be at least 0, received -1"),
        ("redis://h/0?timeout=0", "timeout must be more than 0"),
        ("redis://h/0?timeout=soon", "timeout expects seconds, received 'soon'"),
        ("redis://h:70000/0", "is not a URL"),
    ],
)
def test_a_bad_url_names_the_setting_and_the_problem(url: str, message: str) -> None:
    with pytest.raises(ValueError) as bad:
        REGION_CACHES.open(url)
    assert str(bad.value).startswith("IMGFLEET_CACHE__REGION: ") and message in str(bad.value)


def test_a_backend_url_keeps_host_port_path_and_options() -> None:
    url = BackendUrl.parse("Redis://user@cache.internal:6380/2?prefix=a:&ttl=9", {"prefix", "ttl"})
    assert (url.scheme, url.host, url.port, url.path) == ("redis", "cache.internal", 6380, "/2")
    assert url.text_option("prefix", "x") == "a:" and url.text_option("other", "d") == "d"
    assert url.integer("ttl", 1) == 9 and url.seconds("timeout", 0.5) == 0.5
    assert url.without_options() == "Redis://user@cache.internal:6380/2"
    assert (scheme_of("NATS://x"), scheme_of("plain")) == ("nats", "")


@pytest.mark.parametrize("text", ["memory", "/var/cache", "redis:/host"])
def test_text_without_a_scheme_and_authority_is_not_a_backend_url(text: str) -> None:
    with pytest.raises(ValueError, match="expected a URL such as memory://"):
        BackendUrl.parse(text)
