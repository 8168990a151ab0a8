"""The connection cap under the open-file limit, and the rate-limited refusal log."""

from __future__ import annotations

import logging
import resource
from collections.abc import Callable
from typing import Any

import pytest

from imgfleet.http.connections import (
    LOG_INTERVAL,
    RESERVE,
    RefusalLog,
    connection_cap,
    raise_open_file_limit,
)
from imgfleet.http.server import ServerConfig
from imgfleet.settings import ServerSettings


class Timers:
    """A scheduler whose timers run only when the test says so."""

    def __init__(self) -> None:
        self.due: list[tuple[float, Callable[..., Any], tuple[Any, ...]]] = []

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> None:
        self.due.append((delay, callback, args))

    def fire(self) -> None:
        (_, callback, args), *self.due = self.due
        callback(*args)


def refusals(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [r.refused for r in caplog.records]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("open_files", "cap"),
    [(1_048_576, 1_048_576 - RESERVE), (1024, 1024 - RESERVE), (300, 150), (1, 1)],
)
def test_the_cap_keeps_a_reserve_or_half_the_limit(open_files: int, cap: int) -> None:
    assert connection_cap(open_files) == cap


def test_the_setting_names_the_reserve_kept() -> None:
    description = ServerSettings.model_fields["max_connections"].description
    assert description is not None and f"less {RESERVE} descriptors" in description


def test_the_soft_open_file_limit_is_raised_to_the_hard_one() -> None:
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(before[1], 512), before[1]))
        limit = raise_open_file_limit()
        assert limit == before[1] == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_refusals_are_logged_at_once_then_summed_once_an_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log, timers = RefusalLog(5), Timers()
    with caplog.at_level(logging.WARNING, "imgfleet.server"):
        log.refused(timers)
        assert refusals(caplog) == [1]  # the first at once
        assert [delay for delay, _, _ in timers.due] == [LOG_INTERVAL]
        for _ in range(9):
            log.refused(timers)
        assert refusals(caplog) == [1] and len(timers.due) == 1  # the rest wait
        timers.fire()
        assert refusals(caplog) == [1, 9]
        timers.fire()  # a quiet interval: nothing to say, and the next is logged at once
        assert refusals(caplog) == [1, 9] and timers.due == []
        log.refused(timers)
        assert refusals(caplog) == [1, 9, 1]
    assert caplog.records[0].max_connections == 5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "value"), [("header_timeout", 0), ("max_header_bytes", 0), ("max_connections", -1)]
)
def test_the_server_config_refuses_a_limit_that_cannot_hold(field: str, value: float) -> None:
    limits: dict[str, Any] = {
        "header_timeout": 10.0,
        "max_header_bytes": 32768,
        "max_connections": 0,
    }
    with pytest.raises(ValueError, match=field):
        ServerConfig("127.0.0.1", 0, True, **{**limits, field: value})
