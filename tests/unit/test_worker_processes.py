"""The render-process executor: results and errors cross intact, a lost worker is replaced."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from imgfleet.core.errors import BadOption, ImgfleetError, Overloaded
from imgfleet.service.worker_processes import ProcessWorkers, WorkerLost
from tests.waiting import until

T = TypeVar("T")


def set_up(marker: str) -> None:
    os.environ["WORKER_MARKER"] = marker


def marker_and_pid() -> tuple[str, int]:
    return os.environ["WORKER_MARKER"], os.getpid()


def raise_bad_option() -> None:
    raise BadOption("w", "an integer", "x")


class Unrebuildable(Exception):
    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} {second}")


def raise_unrebuildable() -> None:
    raise Unrebuildable("a", "b")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def touch_after(path: str, seconds: float) -> None:
    time.sleep(seconds)
    Path(path).touch()


@pytest.fixture
async def workers() -> AsyncIterator[ProcessWorkers]:
    pool = ProcessWorkers(1, set_up, ("ready",))
    yield pool
    pool.shutdown(wait=True)


async def run(pool: ProcessWorkers, fn: Callable[..., T], *args: object) -> T:
    return await asyncio.wrap_future(pool.submit(fn, *args))


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


async def test_a_worker_that_dies_fails_its_job_and_is_replaced(workers: ProcessWorkers) -> None:
    (before,) = workers.pids
    with pytest.raises(WorkerLost) as raised:
        await run(workers, die)
    assert raised.value.status == 500
    marker, pid = await run(workers, marker_and_pid)
    assert marker == "ready" and pid != before and workers.pids == [pid]


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
    busy = workers.submit(touch_after, str(tmp_path / "first"), 0.3)
    waiting = workers.submit(touch_after, str(tmp_path / "second"), 0)
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
        pool.submit(marker_and_pid)


async def test_shutdown_cancels_the_jobs_still_waiting(tmp_path: Path) -> None:
    pool = ProcessWorkers(1, set_up, ("ready",))
    busy = pool.submit(touch_after, str(tmp_path / "first"), 0.2)
    waiting = pool.submit(touch_after, str(tmp_path / "second"), 0)
    pool.shutdown(wait=False)
    assert waiting.cancelled()
    with pytest.raises(WorkerLost):  # its worker's socket closed under it
        await asyncio.wrap_future(busy)
    pool.shutdown(wait=True)
    assert not (tmp_path / "second").exists()


def test_at_least_one_worker() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ProcessWorkers(0, set_up)
