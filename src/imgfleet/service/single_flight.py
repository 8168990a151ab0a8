"""Single-flight: concurrent calls for one key share one execution."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """The first caller for a key starts the work as a task; later callers await that task.

    Each caller awaits through `asyncio.shield`, so a client that goes away cancels only its
    own wait, never the work the others are waiting for.
    """

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Task[V]] = {}

    def __len__(self) -> int:
        return len(self._running)

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """Return the work's result and whether this caller shared another's execution."""
        task = self._running.get(key)
        shared = task is not None
        if task is None:
            task = asyncio.ensure_future(work())
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(task), shared
