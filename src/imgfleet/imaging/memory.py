"""Freed memory handed back to the kernel after a render that needed much (glibc's heaps).

A render's buffers under glibc's mmap threshold (32 MB in the render processes, see
`service.worker_processes`) come from malloc's heaps, and glibc gives a heap's free pages
back only from its top, only above the trim threshold, and only from the thread's own
arena: most of a big render's memory stays resident once freed. `malloc_trim(0)` returns
the free whole pages of every arena. What it releases and costs: docs/memory.md.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, looked up once in the running process; None elsewhere."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # musl, macOS, Windows: no such call
        return None
    return trim


def release_freed_memory() -> bool:
    """Give the kernel the pages malloc holds free; whether any went (False without glibc).

    It walks every arena with each one's lock taken in turn, so a render thread that
    allocates meanwhile waits for it: call it between renders, not during one.
    """
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
