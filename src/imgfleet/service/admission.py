"""Admission control for renders: bounded workers, a bounded queue and a memory budget.

A render starts when a worker is free and its estimated peak memory fits in what the
running renders leave of the budget; otherwise it waits in a queue of bounded length, and
past that it is refused at once (503 + Retry-After) instead of letting latency and memory
grow. A render that could never fit the budget is refused at once too (422). The queue is
served oldest first while it has room, and newest first once it is full: under overload
the newest waiters are the ones whose clients are most likely still there, and a waiter
that does not get a worker within `queue_timeout` is refused (503) rather than held for a
client that has likely given up. A waiter whose client disconnects leaves the queue at
once (its task is cancelled). Retry-After carries jitter, so that refused clients do not
all come back in the same second.

A job that started keeps its worker and its memory until the worker is really done with
it, even when its caller has gone: never more than `workers` renders run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from imgfleet.core.errors import OverLimit, Overloaded

T = TypeVar("T")
MB = 1024 * 1024


class Workers(Protocol):
    """Where admitted renders run: threads of this process, or worker processes."""

    def submit(self, fn: Callable[[Any], T], job: Any, deadline: float) -> Future[T]:
        """Start `fn(job)` at once (admission never submits more than there are workers);
        the future fails with RenderTimeout once `deadline` has passed, where the workers
        can enforce it."""
        ...

    def shutdown(self) -> None: ...


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    workers: int  # renders run at once
    queue: int  # renders waiting for a worker, at most
    memory_budget: int  # bytes the running renders' estimated peaks may add up to
    queue_timeout: float  # seconds a render may wait for a worker
    retry_after: int  # seconds; refusals say between this and twice this


@dataclass(slots=True)
class _Waiter:
    cost: int
    turn: asyncio.Future[None]


class Admission:
    def __init__(
        self,
        config: AdmissionConfig,
        workers: Workers,
        *,
        on_refused: Callable[[], object] = lambda: None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._workers = workers
        self._on_refused = on_refused
        self._rng = rng
        self._waiting: deque[_Waiter] = deque()
        self.running = 0
        self.memory_in_use = 0  # bytes: the running renders' estimates

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def check(self) -> None:
        """Refuse now if a render would be refused: call before working for one."""
        c = self.config
        if len(self._waiting) >= c.queue and (self._waiting or self.running >= c.workers):
            raise self._refusal("server is busy rendering; retry shortly")

    async def run(self, fn: Callable[[Any], T], job: Any, *, cost: int, deadline: float) -> T:
        """`fn(job)` on a worker, once admitted; `cost` is its estimated peak memory."""
        budget = self.config.memory_budget
        if cost > budget:
            raise OverLimit(
                f"render: needs an estimated {_mb(cost)} of memory; the render memory "
                f"budget is {_mb(budget)}"
            )
        if self._waiting or not self._fits(cost):
            await self._wait_turn(cost)  # returns with the place taken
        else:
            self._take(cost)
        loop = asyncio.get_running_loop()
        try:
            work = self._workers.submit(fn, job, deadline)
        except BaseException:
            self._release(cost)
            raise
        work.add_done_callback(lambda _: _call_soon(loop, self._release, cost))
        return await asyncio.wrap_future(work, loop=loop)

    def _fits(self, cost: int) -> bool:
        return (
            self.running < self.config.workers
            and self.memory_in_use + cost <= self.config.memory_budget
        )

    def _take(self, cost: int) -> None:
        self.running += 1
        self.memory_in_use += cost

    def _release(self, cost: int) -> None:
        self.running -= 1
        self.memory_in_use -= cost
        self._dispatch()

    async def _wait_turn(self, cost: int) -> None:
        self.check()
        waiter = _Waiter(cost, asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.turn), self.config.queue_timeout)
        except BaseException as leaving:  # timed out, or the caller went away
            if waiter.turn.done():  # given a place at the same moment: hand it on
                self._release(cost)
            else:
                self._waiting.remove(waiter)
                waiter.turn.cancel()
            if isinstance(leaving, TimeoutError):
                message = "server is busy rendering; no worker came free in time"
                raise self._refusal(message) from None
            raise

    def _dispatch(self) -> None:
        """Give free places to waiters: oldest first, newest first once the queue is full."""
        while self._waiting:
            newest_first = len(self._waiting) >= self.config.queue
            waiter = self._waiting[-1] if newest_first else self._waiting[0]
            if not self._fits(waiter.cost):
                return  # it waits for memory; skipping it could starve large renders
            self._waiting.remove(waiter)
            self._take(waiter.cost)
            waiter.turn.set_result(None)

    def _refusal(self, message: str) -> Overloaded:
        self._on_refused()
        base = self.config.retry_after
        return Overloaded(message, base + int(self._rng() * (base + 1)))

    def shutdown(self) -> None:
        self._workers.shutdown()


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[int], None], cost: int) -> None:
    """From a worker thread (or the loop): run `fn` on the loop."""
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody counts any more
        loop.call_soon_threadsafe(fn, cost)


def _mb(size: int) -> str:
    return f"{size / MB:,.0f} MB"
