"""This node's hybrid logical clock (`core.hlc`): what every write it makes is stamped with."""

from __future__ import annotations

from imgfleet.core.hlc import Hlc, receive, tick
from imgfleet.ports import Clock

_NO_CAP = 1 << 62  # ms: a write orders after the record it replaces, however far ahead


class HlcClock:
    """This node's hybrid logical clock: every write it stamps sorts after the last."""

    def __init__(self, region: str, clock: Clock) -> None:
        self._clock = clock
        self._last = Hlc(0, 0, region)

    def now(self) -> Hlc:
        self._last = tick(self._last, int(self._clock.time() * 1000))
        return self._last

    def after(self, seen: Hlc) -> Hlc:
        """The clock of a write that replaces a record stamped `seen` (perhaps by another
        region, whose clock may run ahead of ours): later than it, so that it wins. Skew is
        capped where records arrive (`service.replicator`), not here."""
        self._last = receive(self._last, seen, int(self._clock.time() * 1000), _NO_CAP)
        return self._last
