"""Hybrid logical clocks (Kulkarni et al., "Logical Physical Clocks", 2014).

A timestamp is (wall milliseconds, counter, region): close to physical time, yet ordered so
that a write which has seen another always sorts after it, whatever the clocks' skew. Order
is by wall, then counter, then region id, which breaks ties between regions; last writer
wins by this order. Pure: the caller passes the physical time in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Text form: 13-digit wall ms, 6-digit counter, region: sorts as text in clock order.
# ASCII digits only: `\d` would also take other scripts' digits, which `str()` never writes.
_TEXT = re.compile(r"([0-9]{13})-([0-9]{6})-([a-z0-9][a-z0-9-]{0,31})")
MAX_COUNTER = 999_999


@dataclass(frozen=True, slots=True, order=True)
class Hlc:
    wall: int  # milliseconds since the epoch
    counter: int
    region: str

    def __str__(self) -> str:
        return f"{self.wall:013d}-{self.counter:06d}-{self.region}"

    @classmethod
    def parse(cls, text: str) -> Hlc:
        """The clock `str()` wrote; ValueError for anything else."""
        match = _TEXT.fullmatch(text)
        if match is None:
            raise ValueError(
                f"expected a clock such as 1765000000000-000000-eu, received {text!r:.60}"
            )
        return cls(int(match[1]), int(match[2]), match[3])


class ClockSkew(ValueError):
    """A peer's clock is further ahead of ours than we accept."""


def tick(last: Hlc, now_ms: int) -> Hlc:
    """The clock of a local event after `last`, at physical time `now_ms`."""
    if now_ms > last.wall:
        return Hlc(now_ms, 0, last.region)
    return _next(last.wall, last.counter, last.region)


def receive(last: Hlc, remote: Hlc, now_ms: int, max_skew_ms: int) -> Hlc:
    """Our clock after an event stamped `remote`: after both it and `last`.

    A remote clock more than `max_skew_ms` ahead of our physical time raises `ClockSkew`
    instead: taking it would drag every later write of ours into the future with it.
    """
    if remote.wall - now_ms > max_skew_ms:
        raise ClockSkew(
            f"clock {remote} is {remote.wall - now_ms} ms ahead of ours (at most {max_skew_ms})"
        )
    wall = max(last.wall, remote.wall, now_ms)
    if wall == last.wall == remote.wall:
        return _next(wall, max(last.counter, remote.counter), last.region)
    if wall == last.wall:
        return _next(wall, last.counter, last.region)
    if wall == remote.wall:
        return _next(wall, remote.counter, last.region)
    return Hlc(wall, 0, last.region)


def _next(wall: int, counter: int, region: str) -> Hlc:
    """One step after (wall, counter): the counter, or past its room, the next millisecond."""
    if counter >= MAX_COUNTER:
        return Hlc(wall + 1, 0, region)
    return Hlc(wall, counter + 1, region)
