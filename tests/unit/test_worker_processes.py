"""Render processes: results and errors cross intact; a lost, late or stopped worker is
replaced."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from imgfleet.core.errors import (
    BadOption,
    ImgfleetError,
    Overloaded,
    RenderKilled,
    RenderWorkerLost,
)
from imgfleet.service.worker_processes import ProcessWorkers
from tests.waiting import until

T = TypeVar("T")


def set_up(marker: str) -> None:
    os.environ["WORKER_MARKER"] = marker


def marker_and_pid(_: object) -> tuple[str, int]:
    return os.environ["WORKER_MARKER"], os.getpid()


def raise_bad_option(_: object) -> None:
    raise BadOption("w", "an integer", "x")


class Unrebuildable(Exception):
    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} {second}")


def raise_unrebuildable(_: object) -> None:
    raise Unrebuildable("a", "b")


def die(_: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def stop(_: object) -> None:
    """As a hung worker: the process stops answering, without exiting."""
    os.kill(os.getpid(), signal.SIGSTOP)


def touch_after(job: tuple[str, float]) -> None:
    path, seconds = job
    time.sleep(seconds)
    Path(path).touch()


@pytest.fixture
async def workers() -> AsyncIterator[ProcessWorkers]:
    pool = ProcessWorkers(1, set_up, ("ready",))
    yield pool
    pool.shutdown(wait=True)


def later(seconds: float = 30) -> float:
    return time.monotonic() + seconds


async def run(pool: ProcessWorkers, fn: Callable[[Any], T], job: object = None) -> T:
    return await asyncio.wrap_future(pool.submit(fn, job, later()))


async def test_a_call_runs_in_a_set_up_worker_process(workers: ProcessWorkers) -> None:
    marker, pid = await run(workers, marker_and_pid)
    assert marker == "ready" and pid != os.getpid() and workers.pids == [pid]


async def test_imgfleet_errors_cross_intact_whatever_their_arguments(
    workers: ProcessWorkers,
) -> None:
    with pytest.raises(BadOption) as raised:
        await run(workers, raise_bad_option)
    assert raised.value.status == 400
    assert raised.value.public_message == BadOption("w", "an integer", "x").public_message


def test_imgfleet_errors_pickle_by_state() -> None:
    error = pickle.loads(pickle.dumps(Overloaded("busy", retry_after=7)))
    assert (type(error), error.public_message, error.retry_after) == (Overloaded, "busy", 7)


async def test_an_error_that_cannot_cross_becomes_a_server_fault(
    workers: ProcessWorkers,
) -> None:
    with pytest.raises(ImgfleetError) as raised:
        await run(workers, raise_unrebuildable)
    assert raised.value.status == 500 and "Unrebuildable" in raised.value.public_message
    assert (await run(workers, marker_and_pid))[0] == "ready"


async def test_a_worker_that_dies_fails_its_job_clearly_and_is_replaced() -> None:
    restarts: list[str] = []
    pool = ProcessWorkers(1, set_up, ("ready",), on_restart=restarts.append)
    try:
        (before,) = pool.pids
        with pytest.raises(RenderWorkerLost) as raised:
            await run(pool, die)
        assert raised.value.status == 500
        assert raised.value.public_message == "render: the worker process was killed by SIGKILL"
        marker, pid = await run(pool, marker_and_pid)
        assert marker == "ready" and pid != before and pool.pids == [pid]
        assert restarts == ["died"]
    finally:
        pool.shutdown(wait=True)


@pytest.mark.parametrize(("job", "held"), [(touch_after, ("/dev/null", 60.0)), (stop, None)])
async def test_a_worker_past_its_deadline_and_grace_is_killed_and_replaced(
    job: Callable[[Any], None], held: object
) -> None:
    """A render that cannot be interrupted, or a worker that stopped answering (SIGSTOP):
    504 once the deadline and the grace have passed, and a fresh worker takes its place."""
    restarts: list[str] = []
    pool = ProcessWorkers(1, set_up, ("ready",), grace=0.2, on_restart=restarts.append)
    try:
        await run(pool, marker_and_pid)  # started and set up
        (before,) = pool.pids
        started = time.monotonic()
        with pytest.raises(RenderKilled) as raised:
            await asyncio.wrap_future(pool.submit(job, held, later(0.3)))
        assert 0.5 <= time.monotonic() - started < 5
        assert raised.value.status == 504
        assert "stopped and replaced" in raised.value.public_message
        marker, pid = await run(pool, marker_and_pid)
        assert marker == "ready" and pid != before and restarts == ["deadline"]
        await until(lambda: not _alive(before), "the old worker gone")
    finally:
        pool.shutdown(wait=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone, but for its entry
        return stat.read().split(") ")[1][0] != "Z"


async def test_a_worker_that_died_while_idle_costs_no_job(workers: ProcessWorkers) -> None:
    (before,) = workers.pids
    os.kill(before, signal.SIGKILL)
    (worker,) = workers._workers
    await until(lambda: not worker.process.is_alive(), "the killed worker dead")
    marker, pid = await run(workers, marker_and_pid)
    assert marker == "ready" and pid != before


async def test_a_job_cancelled_while_it_waits_never_runs(
    workers: ProcessWorkers, tmp_path: Path
) -> None:
    busy = workers.submit(touch_after, (str(tmp_path / "first"), 0.3), later())
    waiting = workers.submit(touch_after, (str(tmp_path / "second"), 0), later())
    assert waiting.cancel() and not busy.cancel()  # the first already has the worker
    await asyncio.wrap_future(busy)
    assert (tmp_path / "first").exists()
    await run(workers, marker_and_pid)  # the worker is free again, and took no other job
    assert not (tmp_path / "second").exists()


async def test_shutdown_ends_the_workers(tmp_path: Path) -> None:
    pool = ProcessWorkers(2, set_up, ("ready",))
    await asyncio.gather(*(run(pool, marker_and_pid) for _ in range(4)))
    pool.shutdown(wait=True)
    assert all(not w.process.is_alive() for w in pool._workers)
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(marker_and_pid, None, later())


async def test_shutdown_cancels_the_jobs_still_waiting(tmp_path: Path) -> None:
    pool = ProcessWorkers(1, set_up, ("ready",))
    busy = pool.submit(touch_after, (str(tmp_path / "first"), 0.2), later())
    waiting = pool.submit(touch_after, (str(tmp_path / "second"), 0), later())
    pool.shutdown(wait=False)
    assert waiting.cancelled()
    with pytest.raises(RenderWorkerLost):  # its worker's socket closed under it
        await asyncio.wrap_future(busy)
    pool.shutdown(wait=True)
    assert not (tmp_path / "second").exists()


def test_at_least_one_worker() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ProcessWorkers(0, set_up)


def scheduling_policy(_: object) -> int:
    return os.sched_getscheduler(0)


async def test_workers_run_as_idle_work_by_default(workers: ProcessWorkers) -> None:
    assert await run(workers, scheduling_policy) == os.SCHED_IDLE


@pytest.mark.parametrize(
    ("name", "policy"), [("batch", os.SCHED_BATCH), ("normal", os.SCHED_OTHER)]
)
async def test_workers_run_under_the_policy_chosen(name: str, policy: int) -> None:
    pool = ProcessWorkers(1, set_up, ("ready",), scheduling=name)
    try:
        assert await run(pool, scheduling_policy) == policy
    finally:
        pool.shutdown(wait=True)
