"""release_freed_memory: glibc's freed heap pages go back to the kernel; elsewhere nothing."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgfleet.imaging import memory, release_freed_memory

BLOCK = 64 * 1024  # under glibc's default mmap threshold: served from the heap
BLOCKS = 1600  # 100 MiB


def resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def fresh_lookup() -> Iterator[None]:
    memory._malloc_trim.cache_clear()
    yield
    memory._malloc_trim.cache_clear()


@pytest.mark.skipif(memory._malloc_trim() is None, reason="needs glibc")
def test_freed_heap_pages_go_back_to_the_kernel() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    blocks = [libc.malloc(BLOCK) for _ in range(BLOCKS)]
    for block in blocks:
        libc.memset(block, 1, BLOCK)  # resident
    for block in blocks[:-1]:
        libc.free(block)  # the last one holds the heap's top: glibc cannot trim on its own
    held = resident_bytes()
    try:
        assert release_freed_memory() is True
        assert held - resident_bytes() > BLOCK * BLOCKS // 2
    finally:
        libc.free(blocks[-1])


def test_without_glibc_it_does_nothing(fresh_lookup: None, monkeypatch: pytest.MonkeyPatch) -> None:
    class NoTrim:  # musl or macOS: a C library without malloc_trim
        def __init__(self, name: object) -> None:
            pass

    monkeypatch.setattr(memory.ctypes, "CDLL", NoTrim)
    assert release_freed_memory() is False


def test_without_a_c_library_it_does_nothing(
    fresh_lookup: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(name: object) -> None:
        raise OSError("no such library")

    monkeypatch.setattr(memory.ctypes, "CDLL", missing)
    assert release_freed_memory() is False
