import asyncio

import pytest

from imgfleet.core.lru import ByteLRU
from imgfleet.service.single_flight import SingleFlight


def test_lru_evicts_least_recently_used_by_bytes() -> None:
    cache: ByteLRU[str, bytes] = ByteLRU(10, len)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # a is now the most recent
    cache.put("c", b"1234")  # 12 bytes > 10: evict b
    assert cache.get("b") is None
    assert cache.get("a") == b"1234" and cache.get("c") == b"1234"
    assert cache.size == 8


def test_lru_tells_of_each_key_it_evicts_but_not_of_those_popped() -> None:
    evicted: list[str] = []
    cache: ByteLRU[str, bytes] = ByteLRU(4, len, on_evict=evicted.append)
    cache.put("a", b"12")
    cache.put("b", b"12")
    cache.pop("b")
    cache.put("c", b"123")  # 5 bytes > 4: a goes
    assert evicted == ["a"]


def test_lru_skips_values_larger_than_capacity_and_replaces() -> None:
    cache: ByteLRU[str, bytes] = ByteLRU(4, len)
    cache.put("a", b"12")
    cache.put("huge", b"12345")
    assert cache.get("huge") is None and cache.get("a") == b"12"
    cache.put("a", b"123")
    assert cache.size == 3 and len(cache) == 1


async def test_single_flight_runs_work_once_for_concurrent_callers() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0
    gate = asyncio.Event()

    async def work() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 42

    waiters = [asyncio.create_task(flight.run("k", work)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters)
    assert calls == 1
    assert [value for value, _ in results] == [42] * 50
    assert sum(shared for _, shared in results) == 49
    assert len(flight) == 0


async def test_single_flight_survives_a_cancelled_caller() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()

    async def work() -> int:
        await gate.wait()
        return 7

    first = asyncio.create_task(flight.run("k", work))
    second = asyncio.create_task(flight.run("k", work))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == (7, True)


async def test_single_flight_shares_errors_and_forgets_them() -> None:
    flight: SingleFlight[str, int] = SingleFlight()

    async def fail() -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        await flight.run("k", fail)
    assert len(flight) == 0


async def test_single_flight_drops_work_nobody_waits_for() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    started = asyncio.Event()
    cancelled = False

    async def work() -> int:
        nonlocal cancelled
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled = True
            raise
        return 1

    caller = asyncio.create_task(flight.run("k", work))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0)
    assert cancelled and len(flight) == 0
