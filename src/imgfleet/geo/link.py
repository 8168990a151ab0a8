"""A WAN link between two regions on one machine: a TCP proxy on loopback that delays every
byte by half the round trip in each direction, optionally caps the bandwidth, and can be
cut (its connections reset, new ones refused) and healed.

This kernel has no netem, so the delay is added in user space: each direction reads what
arrives, stamps it, and writes it once its time has come, in order. Latency so added is
exact to the event loop's timer resolution (about a millisecond); throughput is bounded by
`bandwidth` (bytes per second, each direction) when one is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, replace

log = logging.getLogger(__name__)

CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class LinkConfig:
    rtt: float  # seconds, round trip: each direction is delayed by half
    bandwidth: float | None = None  # bytes per second each way; None: no cap


class Link:
    """Listens on 127.0.0.1:`port` (0: any free port) and forwards to `target`."""

    def __init__(self, name: str, target: tuple[str, int], config: LinkConfig) -> None:
        self.name = name
        self.target = target
        self.config = config
        self.cut = False
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "link not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", port)

    def set_cut(self, cut: bool) -> None:
        """Cut: every connection is reset and new ones are refused, as a partition would;
        heal (`cut=False`): connections are taken again."""
        self.cut = cut
        if cut:
            for writer in list(self._writers):
                _reset(writer)

    def set_rtt(self, rtt: float) -> None:
        self.config = replace(self.config, rtt=rtt)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            _reset(writer)
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            _reset(writer)
            return
        self._writers.add(writer)  # from now on, a cut resets it
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(writer)
            _reset(writer)
            return
        self._writers.add(upstream_writer)
        if self.cut:  # cut while connecting upstream
            self._writers.difference_update((writer, upstream_writer))
            _reset(writer)
            _reset(upstream_writer)
            return
        pipes = [
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._pipes.difference_update(pipes)
            for end in (writer, upstream_writer):
                self._writers.discard(end)
                with contextlib.suppress(OSError, RuntimeError):
                    end.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One direction: what is read at t is written at t + rtt / 2, in order (the rtt as
        it is when the bytes are read: `set_rtt` slows or speeds open connections too)."""
        loop = asyncio.get_running_loop()
        queue: deque[tuple[float, bytes]] = deque()
        arrived = asyncio.Event()
        done = False

        async def send() -> None:
            budget_at = loop.time()  # when the bandwidth cap lets the next byte go
            while queue or not done:
                if not queue:
                    arrived.clear()
                    await arrived.wait()
                    continue
                due, data = queue.popleft()
                if self.config.bandwidth:
                    budget_at = max(budget_at, due) + len(data) / self.config.bandwidth
                    due = budget_at
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        sender = asyncio.create_task(send())
        try:
            while data := await reader.read(CHUNK):
                queue.append((loop.time() + self.config.rtt / 2, data))
                arrived.set()
            done = True
            arrived.set()
            await sender
        except (OSError, asyncio.IncompleteReadError):
            sender.cancel()
        finally:
            if not sender.done():
                sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError, RuntimeError):
                await sender


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a reset (what a cut looks like to both ends), not an orderly FIN."""
    transport = writer.transport
    with contextlib.suppress(OSError, RuntimeError):
        transport.abort()
