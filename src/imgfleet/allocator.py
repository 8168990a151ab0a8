"""The C allocator's arena count: glibc gives every thread that allocates its own arena.

libvips allocates from each of its worker threads, and each arena keeps freed memory for
reuse, so a render server's RSS grows with the number of threads that ever rendered rather
than with the work in flight. Capping the arenas (what MALLOC_ARENA_MAX does, set here at
run time for the arenas not yet created) keeps RSS near the live set.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas at `count`; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, count))
