"""The write clock a read carries for read-your-writes: header first, then cookie."""

from __future__ import annotations

import pytest

from imgfleet.http.headers import written_clock

CLOCK = "1765000000000-000003-eu"


@pytest.mark.parametrize(
    ("headers", "clock"),
    [
        ([], None),
        ([(b"accept", b"image/webp")], None),
        ([(b"imgfleet-hlc", CLOCK.encode())], CLOCK),
        ([(b"imgfleet-hlc", b"  ")], None),  # empty: none sent
        ([(b"cookie", f"a=1; imgfleet_hlc={CLOCK}; b=2".encode())], CLOCK),
        ([(b"cookie", b"imgfleet_hlc=x"), (b"imgfleet-hlc", CLOCK.encode())], CLOCK),
        ([(b"cookie", b"other=imgfleet_hlc")], None),
        ([(b"cookie", b'imgfleet_hlc="unterminated')], None),  # not a cookie header
    ],
)
def test_a_read_carries_the_clock_of_a_write_by_header_or_cookie(
    headers: list[tuple[bytes, bytes]], clock: str | None
) -> None:
    assert written_clock(headers) == clock
