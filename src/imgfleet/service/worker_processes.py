"""Render worker processes that the event loop feeds, one socket per worker.

Why not `ProcessPoolExecutor`: its jobs cross a queue-feeder thread, a shared pipe with a
lock and a result thread in the server, and a 1 MB source crosses that pipe in 64 KB pieces,
each one a wake-up of processes that compete with the renders for the same cores, so it
renders clearly fewer images per second than the same workers as threads, or as processes
rendering on their own (docs/performance.md, design decisions: "Render processes fed by the
event loop"). Here the loop writes a job straight into an idle worker's socket and reads
the reply when it arrives, so each job costs one wake-up each way, as with a thread.

`submit` must be called on the event loop's thread (the admission does). A job cancelled
before a worker takes it never runs; one that runs keeps its worker until it finishes, or
until its deadline plus a grace has passed: then the worker is killed (a render that
libvips cannot interrupt, a stopped or hung process) and replaced, and the job fails with
`RenderKilled` (504). A worker that dies during a job (a crash in a codec library, the OOM
killer) fails only that job, with `RenderWorkerLost` (500), and is replaced; one found
dead before a job is replaced first, so that job does not pay for it. Each replacement is
reported to `on_restart` with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from imgfleet.core.errors import ImgfleetError, RenderKilled, RenderWorkerLost

FRAME = struct.Struct("!Q")  # every message: its length, then the pickled value

# glibc's mallopt parameters. Every source reaches a worker in new memory; by default glibc
# hands freed memory back to the kernel after each job, and the next source and decode fault
# it in again, which makes each render measurably slower (docs/performance.md, design
# decisions: "Render processes fed by the event loop"). Kept in the heap up to these sizes,
# fresh copies cost what reused ones do.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
# Linux scheduling policies a render process may run under (`render.worker_scheduling`):
# "idle" runs renders only on CPU time no other task wants, so the waking event loop preempts
# them at once; "batch" is preempted less often than "normal" by other tasks' wake-ups.
SCHEDULING = {"idle": "SCHED_IDLE", "batch": "SCHED_BATCH", "normal": "SCHED_OTHER"}
KEEP_FREED_BYTES = 16 * 1024 * 1024
MMAP_ABOVE_BYTES = 32 * 1024 * 1024


class _Failure:
    """What a worker sends back when the call raised: the error, if it can be pickled."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class ProcessWorkers:
    """`size` spawned processes, each set up once by `initializer(*initargs)`.

    `grace` is how long past its deadline a job may run before its worker is killed;
    `scheduling` is the workers' Linux scheduling policy (`SCHEDULING`): with "idle", the
    server's own process (cache hits, refusals, the loop feeding the workers) takes a core the
    moment it wakes.
    """

    def __init__(
        self,
        size: int,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...] = (),
        *,
        grace: float = 1.0,
        scheduling: str = "idle",
        on_restart: Callable[[str], None] = lambda reason: None,
    ) -> None:
        if size < 1:
            raise ValueError(f"size: expected at least 1 worker, got {size}")
        self._context = multiprocessing.get_context("spawn")  # never fork a threaded server
        self._setup = (SCHEDULING[scheduling], initializer, initargs)
        self._grace = grace
        self._on_restart = on_restart
        self._idle: deque[_Worker] = deque(self._start() for _ in range(size))
        self._workers = set(self._idle)
        self._waiting: deque[tuple[Future[Any], bytes, float]] = deque()
        self._calls: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def pids(self) -> list[int]:
        return sorted(w.process.pid or 0 for w in self._workers)

    def submit(self, fn: Callable[[Any], Any], job: Any, deadline: float) -> Future[Any]:
        """`fn(job)` in a worker; `deadline` is a `time.monotonic()` instant."""
        if self._closed:
            raise RuntimeError("cannot submit to workers that were shut down")
        payload = pickle.dumps((fn, job), protocol=pickle.HIGHEST_PROTOCOL)
        future: Future[Any] = Future()
        self._waiting.append((future, payload, deadline))
        self._dispatch()
        return future

    def _dispatch(self) -> None:
        while self._idle and self._waiting:
            future, payload, deadline = self._waiting.popleft()
            if future.set_running_or_notify_cancel():
                call = asyncio.get_running_loop().create_task(
                    self._call(self._idle.popleft(), future, payload, deadline)
                )
                self._calls.add(call)
                call.add_done_callback(self._calls.discard)

    async def _call(
        self, worker: _Worker, future: Future[Any], payload: bytes, deadline: float
    ) -> None:
        if not worker.process.is_alive():  # died while idle (the OOM killer, say): not this job
            worker = self._replace(worker, "died")
        allowed = deadline + self._grace - time.monotonic()
        try:
            reply = await asyncio.wait_for(worker.call(payload), max(allowed, 0.0))
        except TimeoutError:
            future.set_exception(
                RenderKilled(
                    f"render: still running {self._grace:g} s past its deadline; its worker "
                    "process was stopped and replaced"
                )
            )
            worker = self._replace(worker, "deadline")
        except (OSError, EOFError):  # asyncio's IncompleteReadError is an EOFError
            if not self._closed:
                future.set_exception(RenderWorkerLost(f"render: {worker.obituary()}"))
                worker = self._replace(worker, "died")
            else:
                future.set_exception(RenderWorkerLost("render: the server is shutting down"))
        else:
            if isinstance(reply, _Failure):
                future.set_exception(reply.error)
            else:
                future.set_result(reply)
        if not self._closed:
            self._idle.append(worker)
            self._dispatch()

    def _start(self) -> _Worker:
        return _Worker(self._context, *self._setup)

    def _replace(self, lost: _Worker, reason: str) -> _Worker:
        lost.kill()
        self._workers.discard(lost)
        multiprocessing.active_children()  # reaps the workers that have exited
        if self._closed:
            return lost
        worker = self._start()
        self._workers.add(worker)
        self._on_restart(reason)
        return worker

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Close every worker's socket: each exits once its current job, if any, is done.

        Jobs still waiting for a worker are cancelled whatever `cancel_futures` says: no
        worker is left to run them.
        """
        self._closed = True
        while self._waiting:
            self._waiting.popleft()[0].cancel()
        for worker in self._workers:
            worker.close()
        if wait:
            for worker in self._workers:
                worker.process.join()


class _Worker:
    """One process and the server's end of its socket."""

    def __init__(
        self,
        context: Any,
        policy: str,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...],
    ) -> None:
        ours, theirs = socket.socketpair()
        self.process = context.Process(
            target=serve,
            args=(theirs, policy, initializer, initargs),
            name="imgfleet-render",
            daemon=True,
        )
        self.process.start()
        theirs.close()
        self._socket = ours
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def call(self, payload: bytes) -> Any:
        if self._streams is None:
            self._streams = await asyncio.open_connection(sock=self._socket)
        reader, writer = self._streams
        writer.writelines((FRAME.pack(len(payload)), payload))
        (size,) = FRAME.unpack(await reader.readexactly(FRAME.size))
        return pickle.loads(await reader.readexactly(size))

    def obituary(self) -> str:
        """How the process ended, as far as is known without waiting."""
        self.process.join(timeout=0.1)  # it closed its socket: it is exiting or gone
        code = self.process.exitcode
        if code is None:
            return "the worker process closed its socket"
        if code < 0:
            return f"the worker process was killed by {signal.Signals(-code).name}"
        return f"the worker process exited with status {code}"

    def kill(self) -> None:
        """Stop the process now, whatever it is doing (SIGKILL also ends a stopped one)."""
        with contextlib.suppress(OSError):
            self.process.kill()
        self.close()

    def close(self) -> None:
        """The worker sees the end of its socket at once, even before the loop runs again."""
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        if self._streams is not None:
            self._streams[1].close()
        else:
            self._socket.close()


def serve(
    sock: socket.socket,
    policy: str,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
) -> None:
    """A worker's life: set up, then answer calls until the server closes the socket."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    with contextlib.suppress(AttributeError, OSError):  # not Linux
        os.sched_setscheduler(0, getattr(os, policy), os.sched_param(0))
    _keep_freed_memory()
    initializer(*initargs)
    with sock:
        while (payload := _receive(sock)) is not None:
            fn, job = pickle.loads(payload)
            try:
                outcome: Any = fn(job)
            except Exception as exc:  # the server re-raises it on its side
                outcome = _Failure(exc)
            try:
                reply = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
                if isinstance(outcome, _Failure):
                    pickle.loads(reply)  # some errors pickle but cannot be rebuilt
            except Exception:
                what = outcome.error if isinstance(outcome, _Failure) else outcome
                failed = ImgfleetError(f"render: its {type(what).__name__} could not be returned")
                reply = pickle.dumps(_Failure(failed))
            try:
                sock.sendall(FRAME.pack(len(reply)) + reply)
            except OSError:  # the server went away
                return


def _receive(sock: socket.socket) -> bytearray | None:
    """One message, or None when the server closed the socket."""
    header = _exactly(sock, FRAME.size)
    if header is None:
        return None
    (size,) = FRAME.unpack(header)
    return _exactly(sock, size)


def _exactly(sock: socket.socket, size: int) -> bytearray | None:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        try:
            count = sock.recv_into(view[received:])
        except ConnectionResetError:
            count = 0
        if count == 0:
            return None
        received += count
    return buffer


def _keep_freed_memory() -> None:
    """Set glibc's malloc to keep freed memory (see the thresholds above); elsewhere, nothing."""
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(name)
        libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREED_BYTES)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_ABOVE_BYTES)
