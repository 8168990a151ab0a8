import platform

import pytest

from imgfleet.allocator import limit_arenas


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt arenas are glibc's")
def test_arena_cap_is_accepted_by_glibc() -> None:
    assert limit_arenas(2) is True
