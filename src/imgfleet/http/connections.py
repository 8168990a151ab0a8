"""How many client connections the HTTP server holds, and the log of those it refuses.

Each connection holds a file descriptor. At the process's open-file limit the kernel's
accept fails and clients see resets, with nothing logged. So the server raises its soft
limit to the hard one when it starts, and holds fewer connections than that: a reserve stays
for everything else the process opens (source files, render workers' sockets, connections to
origins and the region cache, log files). A connection over the cap is closed as soon as it
is accepted, counted, and logged: at most one line a second, so that a flood writes one line
a second, not one per connection.
"""

from __future__ import annotations

import logging
import resource
from collections.abc import Callable
from typing import Any, Protocol

RESERVE = 256  # descriptors kept for what is not a client connection
LOG_INTERVAL = 1.0  # seconds between two lines about refused connections

server_log = logging.getLogger("imgfleet.server")


def raise_open_file_limit() -> int:
    """The soft open-file limit, first raised to the hard one: the most this process may
    open without privileges. Where raising fails, the soft limit as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass  # a platform that refuses; keep what we have
    if soft == resource.RLIM_INFINITY:
        return 1 << 20  # unbounded: a cap is still needed; this is Linux's default nr_open
    return soft


def connection_cap(open_files: int) -> int:
    """Connections to hold at most under `open_files` descriptors: all but `RESERVE`, or
    half of them where the limit is too low for that to leave most."""
    return max(open_files - RESERVE, open_files // 2, 1)


class Scheduler(Protocol):
    """What `RefusalLog` needs of an event loop."""

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Any: ...


class RefusalLog:
    """Warnings about refused connections, at most one per `LOG_INTERVAL`: the first refusal
    is logged at once, those that follow within the interval in one line at its end, with
    how many they were."""

    def __init__(self, max_connections: int, logger: logging.Logger = server_log) -> None:
        self.max_connections = max_connections
        self._log = logger
        self._pending = 0  # refused since the last line
        self._quiet = False  # a line was written less than an interval ago

    def refused(self, loop: Scheduler) -> None:
        self._pending += 1
        if not self._quiet:
            self._flush(loop)

    def _flush(self, loop: Scheduler) -> None:
        if not self._pending:
            self._quiet = False
            return
        self._log.warning(
            "connections refused: over max_connections",
            extra={"refused": self._pending, "max_connections": self.max_connections},
        )
        self._pending = 0
        self._quiet = True
        loop.call_later(LOG_INTERVAL, self._flush, loop)
