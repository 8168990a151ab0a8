"""Admission: workers, a bounded queue, a memory budget, a queue timeout, jittered refusals."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import pytest

from imgfleet.core.errors import OverLimit, Overloaded
from imgfleet.service.admission import Admission, AdmissionConfig
from imgfleet.service.worker_threads import ThreadWorkers
from tests.waiting import until

MB = 1024 * 1024
CONFIG = AdmissionConfig(
    workers=1, queue=2, memory_budget=100 * MB, queue_timeout=30.0, retry_after=2
)


class HeldWorkers:
    """Workers whose jobs finish when the test says: job i ends with `finish(i)`."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, Future[Any]]] = []

    def submit(self, fn: Callable[[Any], Any], job: Any, deadline: float) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        self.jobs.append((job, future))
        return future

    @property
    def started(self) -> list[Any]:
        return [job for job, _ in self.jobs]

    def finish(self, job: Any) -> None:
        for name, future in self.jobs:
            if name == job:
                future.set_result(name)

    def shutdown(self) -> None:
        pass


def admission(held: HeldWorkers, **changes: Any) -> Admission:
    return Admission(replace(CONFIG, **changes), held, rng=lambda: 0.99)


def run(gate: Admission, name: str, cost: int = MB) -> asyncio.Task[Any]:
    """A render that takes its place now, as a miss does before its first await."""
    place = gate.reserve()
    return asyncio.create_task(gate.run(place, str, name, cost=cost, deadline=0.0))


async def test_renders_past_the_workers_wait_and_past_the_queue_are_refused_with_jitter() -> None:
    workers = HeldWorkers()
    refusals: list[None] = []
    gate = Admission(CONFIG, workers, on_refused=lambda: refusals.append(None), rng=lambda: 0.99)
    tasks = [run(gate, name) for name in "abc"]
    await until(lambda: (gate.running, gate.queued) == (1, 2), "1 running, 2 queued")
    with pytest.raises(Overloaded) as refused:
        gate.reserve()
    assert refused.value.retry_after == 4  # between retry_after and twice it
    assert len(refusals) == 1
    for name in "acb":  # the queue was full, so c went before b
        await until(lambda n=name: workers.started[-1] == n, f"{name} started")  # type: ignore[misc]
        workers.finish(name)
    assert await asyncio.gather(*tasks) == list("abc")
    assert (gate.running, gate.queued, gate.memory_in_use) == (0, 0, 0)


@pytest.mark.parametrize(("draw", "retry_after"), [(0.0, 2), (0.5, 3), (0.999, 4)])
async def test_retry_after_spreads_between_the_setting_and_twice_it(
    draw: float, retry_after: int
) -> None:
    workers = HeldWorkers()
    gate = Admission(replace(CONFIG, queue=0), workers, rng=lambda: draw)
    busy = run(gate, "busy")
    await until(lambda: gate.running == 1, "the one worker busy")
    with pytest.raises(Overloaded) as refused:
        gate.reserve()
    assert refused.value.retry_after == retry_after
    workers.finish("busy")
    await busy


async def test_a_full_queue_serves_its_newest_waiter_first() -> None:
    workers = HeldWorkers()
    gate = admission(workers, queue=2)
    first = run(gate, "first")
    await until(lambda: workers.started == ["first"], "first running")
    older, newer = run(gate, "older"), run(gate, "newer")
    await until(lambda: gate.queued == 2, "two waiting: the queue is full")
    workers.finish("first")
    await until(lambda: workers.started == ["first", "newer"], "the newest served first")
    workers.finish("newer")
    await until(lambda: workers.started[-1] == "older", "then the older one")
    workers.finish("older")
    assert await asyncio.gather(first, older, newer) == ["first", "older", "newer"]


async def test_a_waiter_that_gets_no_worker_in_time_is_refused_and_leaves_the_queue() -> None:
    workers = HeldWorkers()
    gate = admission(workers, queue_timeout=0.05)
    running = run(gate, "running")
    await until(lambda: gate.running == 1, "the one worker busy")
    place = gate.reserve()
    with pytest.raises(Overloaded, match="no worker came free in time"):
        await gate.run(place, str, "late", cost=MB, deadline=0.0)
    place.release()  # as the caller does, whatever happened
    assert gate.queued == 0
    workers.finish("running")
    assert await running == "running"


async def test_a_waiter_whose_caller_leaves_leaves_the_queue_and_its_place_comes_back() -> None:
    workers = HeldWorkers()
    gate = admission(workers, queue=1)
    running = run(gate, "running")
    await until(lambda: gate.running == 1, "the one worker busy")
    place = gate.reserve()
    leaving = asyncio.create_task(gate.run(place, str, "leaving", cost=MB, deadline=0.0))
    await until(lambda: gate.waiting == 1, "the second waiting")
    leaving.cancel()
    await until(lambda: gate.waiting == 0, "it left the queue")
    place.release()  # as its caller does, whatever happened
    assert gate.queued == 0
    gate.reserve()  # there is room again
    workers.finish("running")
    await running
    assert workers.started == ["running"]


async def test_memory_budget_renders_wait_until_their_estimate_fits() -> None:
    workers = HeldWorkers()
    gate = admission(workers, workers=3, memory_budget=100 * MB)
    big, small = run(gate, "big", 60 * MB), run(gate, "small", 30 * MB)
    await until(lambda: workers.started == ["big", "small"], "both fit: 90 of 100 MB")
    other = run(gate, "other", 40 * MB)
    await until(lambda: gate.waiting == 1, "40 MB more does not fit: it waits")
    assert gate.memory_in_use == 90 * MB
    workers.finish("big")
    await until(lambda: "other" in workers.started, "started once the big one ended")
    assert gate.memory_in_use == 70 * MB
    for name in ("small", "other"):
        workers.finish(name)
    await asyncio.gather(big, small, other)
    assert gate.memory_in_use == 0


async def test_a_render_that_could_never_fit_is_refused_at_once_naming_the_budget() -> None:
    gate = admission(HeldWorkers(), memory_budget=100 * MB)
    with pytest.raises(OverLimit) as refused:
        await gate.run(gate.reserve(), str, "huge", cost=150 * MB, deadline=0.0)
    assert refused.value.status == 422
    assert refused.value.public_message == (
        "render: needs an estimated 150 MB of memory; the render memory budget is 100 MB"
    )


async def test_a_thread_keeps_its_place_until_it_finishes_even_after_its_caller_left() -> None:
    gate = Admission(replace(CONFIG, queue=0), ThreadWorkers(1))
    release = threading.Event()
    place = gate.reserve()
    task = asyncio.create_task(
        gate.run(place, lambda _: release.wait(5), None, cost=MB, deadline=0.0)
    )
    await until(lambda: gate.running == 1, "the job running")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gate.running == 1  # the thread still works: its place stays taken
    with pytest.raises(Overloaded):
        gate.reserve()
    release.set()
    await until(lambda: gate.running == 0, "the thread finished")
    gate.shutdown()
