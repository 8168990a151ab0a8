"""Admission control for CPU work: a bounded pool of render workers and a bounded queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TypeVar

from imgfleet.core.errors import Overloaded

T = TypeVar("T")


class Admission:
    """Runs blocking work on `workers` workers with at most `queue` jobs waiting.

    Past that, `run` refuses at once with Overloaded (503 + Retry-After) instead of letting
    memory grow. A slot is freed only when its worker really finishes, so a client that
    disconnects cannot make more than `workers` renders run at once. The executor is a
    thread pool by default, or a process pool of the same size.
    """

    def __init__(
        self, workers: int, queue: int, retry_after: int = 1, executor: Executor | None = None
    ) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self.retry_after = retry_after
        self._executor = executor or ThreadPoolExecutor(workers, thread_name_prefix="render")
        self._slots = asyncio.Semaphore(workers)
        self.running = 0  # jobs holding a thread, until the thread really finishes
        self.queued = 0  # jobs waiting for a thread

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self.running + self.queued >= self.capacity:
            raise Overloaded("server is busy rendering; retry shortly", self.retry_after)
        self.queued += 1
        try:
            await self._slots.acquire()
        finally:
            self.queued -= 1
        self.running += 1
        loop = asyncio.get_running_loop()
        job: Future[T] = self._executor.submit(fn, *args)
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        return await asyncio.wrap_future(job)

    def _release(self) -> None:
        self.running -= 1
        self._slots.release()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
