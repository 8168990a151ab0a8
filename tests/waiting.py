"""Waiting for a condition with a deadline: a wait that times out fails, never falls through.

`until` waits on the event loop; `until_blocking` waits where no loop runs (a subprocess, a
server in a thread). Both fail with an `AssertionError` naming what was awaited; a condition
may raise itself to give up early (a process that exited will never answer).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    """Return once `condition()` holds; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.005)


def until_blocking(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    """`until` for a test with no event loop: blocks the thread between looks."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.005)
