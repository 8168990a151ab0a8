"""The Clock port: the system clock and the test kit's manual clock."""

from __future__ import annotations

import pytest

from imgfleet.adapters.clock import SystemClock
from imgfleet.ports import Clock
from imgfleet.testing import ManualClock


@pytest.fixture(params=["system", "manual"])
def clock(request: pytest.FixtureRequest) -> Clock:
    return SystemClock() if request.param == "system" else ManualClock()


def test_time_is_unix_seconds(clock: Clock) -> None:
    assert 1_600_000_000 < clock.time() < 4_000_000_000


def test_monotonic_time_never_goes_back(clock: Clock) -> None:
    readings = [clock.monotonic() for _ in range(1000)]
    assert readings == sorted(readings)


def test_a_manual_clock_moves_both_readings_only_when_told() -> None:
    clock = ManualClock(time=100.0, monotonic=5.0)
    assert (clock.time(), clock.monotonic()) == (100.0, 5.0)
    clock.advance(2.5)
    assert (clock.time(), clock.monotonic()) == (102.5, 7.5)
    with pytest.raises(ValueError, match="never goes back"):
        clock.advance(-1)
