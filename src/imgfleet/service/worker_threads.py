"""Render workers as threads of the server process.

The cheapest isolation, for tests, a fake engine, or a host that cannot spare the memory
of worker processes. A thread cannot be stopped from outside, so the deadline is only as
hard as the engine makes it in-thread (libvips' evaluation is killed when it reports
progress, which not every decoder and encoder does), and a crash in a codec library ends
the server; worker processes have neither limit.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class ThreadWorkers:
    def __init__(self, size: int) -> None:
        self._pool = ThreadPoolExecutor(size, thread_name_prefix="render")

    def submit(self, fn: Callable[[Any], T], job: Any, deadline: float) -> Future[T]:
        return self._pool.submit(fn, job)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
