"""A clock that moves only when told to."""

from __future__ import annotations


class ManualClock:
    def __init__(self, time: float = 1_800_000_000.0, monotonic: float = 1_000.0) -> None:
        self._time = time
        self._monotonic = monotonic

    def time(self) -> float:
        return self._time

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"seconds: a clock never goes back, received {seconds}")
        self._time += seconds
        self._monotonic += seconds
