"""Admission control for renders: bounded workers, a bounded queue and a memory budget.

A miss first takes a `Place`, synchronously, before any work is done for it: there are
`workers + queue` places, and past that the miss is refused at once (503 + Retry-After)
instead of letting latency and memory grow. Refusing before the first await matters under
a flood, where every await is a trip round a loop crowded with other requests. A render
starts when a worker is free and its estimated peak memory fits in what the running
renders leave of the budget; until then it waits, holding its place. A render that could
never fit the budget is refused at once (422).

Waiters are served oldest first while the queue has room, and newest first once it is
full: under overload the newest waiters are the ones whose clients are most likely still
there, and a waiter that gets no worker within `queue_timeout` is refused (503) rather
than held for a client that has likely given up. A waiter whose client disconnects leaves
at once (its task is cancelled). Retry-After carries jitter, so that refused clients do
not all come back in the same second.

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


class Place:
    """A render's place in admission, from before its source is fetched until it runs.

    Release it if the render does not happen; `release` is idempotent, and a no-op once the
    render has started (its place then became a worker's).
    """

    __slots__ = ("_admission", "held")

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._admission.places -= 1


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
        self.places = 0  # held by renders not yet running: being prepared, or waiting
        self.memory_in_use = 0  # bytes: the running renders' estimates

    @property
    def queued(self) -> int:
        """Renders admitted and not running yet: being prepared, or waiting for a worker."""
        return self.places

    @property
    def waiting(self) -> int:
        """Renders ready to run, waiting for a worker or for memory."""
        return len(self._waiting)

    def reserve(self) -> Place:
        """A place for one render, or Overloaded (503) when all are taken; no await."""
        refusal = self.refusal()
        if refusal is not None:
            raise refusal
        self.places += 1
        return Place(self)

    def refusal(self) -> Overloaded | None:
        """The refusal a render would get now (counted as one), or None: a place is free."""
        c = self.config
        if self.running + self.places >= c.workers + c.queue:
            return self._refusal("server is busy rendering; retry shortly")
        return None

    async def run(
        self, place: Place, fn: Callable[[Any], T], job: Any, *, cost: int, deadline: float
    ) -> T:
        """`fn(job)` on a worker, once a worker is free and `cost` (its estimated peak
        memory) fits; until then the render waits, holding its place."""
        budget = self.config.memory_budget
        if cost > budget:
            raise OverLimit(
                f"render: needs an estimated {_mb(cost)} of memory; the render memory "
                f"budget is {_mb(budget)}"
            )
        if self._waiting or not self._fits(cost):
            await self._wait_turn(cost)  # returns with the worker taken for it
        else:
            self._take(cost)
        place.release()  # it is a worker's now
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
        """Return once the dispatcher has taken a worker (and memory) for this render."""
        waiter = _Waiter(cost, asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.turn), self.config.queue_timeout)
        except BaseException as leaving:  # timed out, or the caller went away
            if waiter.turn.done():  # given a worker at the same moment: hand it on
                self._release(cost)
            else:
                self._waiting.remove(waiter)
                waiter.turn.cancel()
            if isinstance(leaving, TimeoutError):
                message = "server is busy rendering; no worker came free in time"
                raise self._refusal(message) from None
            raise

    def _dispatch(self) -> None:
        """Take workers for waiters that fit: oldest first, newest first once the queue
        is full (the newest waiters' clients are the likeliest to be still there)."""
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
