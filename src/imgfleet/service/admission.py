"""Admission control for CPU work: a bounded pool of render workers and a bounded queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TypeVar

from imgfleet.core.errors import Overloaded

T = TypeVar("T")


class Admission:
    """Runs blocking work on `workers` workers with at most `queue` jobs waiting.

    Past that, `run` refuses at once with Overloaded (503 + Retry-After) instead of letting
    memory grow. Admitted jobs go straight into the executor's own queue, so a worker takes
    its next job the moment it finishes one, without a round trip through the event loop,
    which left the render threads idle for a good part of the time (docs/performance.md,
    design decisions: "Admitted renders go straight into the executor's queue"). A job
    whose caller goes away while it waits is cancelled there and never runs; one already
    running keeps its place until its worker really finishes, so no more than `workers`
    renders ever run at once. The executor is a thread pool by default, or a process pool.
    """

    def __init__(
        self, workers: int, queue: int, retry_after: int = 1, executor: Executor | None = None
    ) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self.retry_after = retry_after
        self._executor = executor or ThreadPoolExecutor(workers, thread_name_prefix="render")
        self._pending = 0  # submitted and not yet finished (or cancelled), as the loop saw

    @property
    def running(self) -> int:
        return min(self._pending, self.workers)

    @property
    def queued(self) -> int:
        return self._pending - self.running

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self._pending >= self.capacity:
            raise Overloaded("server is busy rendering; retry shortly", self.retry_after)
        loop = asyncio.get_running_loop()
        job: Future[T] = self._executor.submit(fn, *args)
        self._pending += 1
        job.add_done_callback(lambda _: self._finished(loop))
        return await asyncio.wrap_future(job, loop=loop)

    def _finished(self, loop: asyncio.AbstractEventLoop) -> None:
        """From the worker (or, for a cancelled job, the loop): count it on the loop."""
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody counts any more
            loop.call_soon_threadsafe(self._count_done)

    def _count_done(self) -> None:
        self._pending -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
