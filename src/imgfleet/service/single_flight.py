"""Single-flight: concurrent calls for one key share one execution."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


@dataclass(slots=True)
class _Flight(Generic[V]):
    task: asyncio.Task[V]
    waiters: int = 0


class SingleFlight(Generic[K, V]):
    """The first caller for a key starts the work as a task; later callers await that task.

    Each caller awaits through `asyncio.shield`, so a client that goes away cancels only its
    own wait, never the work the others are waiting for. When the last waiter goes away
    before the work is done, the work is cancelled: a render still queued for a worker is
    dropped instead of holding a place nobody will collect.
    """

    def __init__(self, on_shared: Callable[[], None] | None = None) -> None:
        self._flights: dict[K, _Flight[V]] = {}
        self._on_shared = on_shared  # called as a caller joins another's execution

    def __len__(self) -> int:
        return len(self._flights)

    def __contains__(self, key: K) -> bool:
        """Whether work for `key` is under way: a caller would join it."""
        return key in self._flights

    def run(self, key: K, work: Callable[[], Awaitable[V]]) -> Awaitable[tuple[V, bool]]:
        """The work's result and whether this caller shared another's execution, to await.

        The flight is registered before this returns, so that a caller can tell with `in`,
        without awaiting, whether a later call for `key` would join it.
        """
        flight = self._flights.get(key)
        shared = flight is not None
        if shared and self._on_shared is not None:
            self._on_shared()
        if flight is None:
            flight = _Flight(asyncio.ensure_future(work()))
            self._flights[key] = flight
            flight.task.add_done_callback(lambda _: self._flights.pop(key, None))
        flight.waiters += 1
        return self._wait(flight, shared)

    @staticmethod
    async def _wait(flight: _Flight[V], shared: bool) -> tuple[V, bool]:
        try:
            return await asyncio.shield(flight.task), shared
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                flight.task.cancel()
