"""The Redis the tests use: the machine's, on 127.0.0.1:6379."""

from __future__ import annotations

import socket

import pytest

REDIS = "redis://127.0.0.1:6379/0"


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


def need_redis() -> None:
    """Skip without Redis; under IMGFLEET_REQUIRE_SERVICES=1 the skip fails the run."""
    if not redis_reachable():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
