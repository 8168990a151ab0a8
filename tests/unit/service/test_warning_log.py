"""The engine's warnings in the log: a line per source per interval, on a manual clock."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from imgfleet.core.render_warnings import NO_WARNINGS, RenderWarnings
from imgfleet.logs import JsonFormatter
from imgfleet.service.warning_log import MAX_SOURCE_CHARS, WarningLog
from imgfleet.testing import ManualClock

TILE = RenderWarnings(3, ("error in tile 0 x 144", "error in tile 0 x 130"))


def lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        {k: getattr(r, k) for k in ("source", "count", "messages", "interval_seconds")}
        for r in caplog.records
        if r.name == "imgfleet.vips" and r.levelno == logging.WARNING
    ]


@pytest.fixture(autouse=True)
def _warnings_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "imgfleet.vips")


def test_a_sources_first_warnings_are_logged_at_once(caplog: pytest.LogCaptureFixture) -> None:
    WarningLog(ManualClock()).record("local:///cut.jpg", TILE)
    assert lines(caplog) == [
        {
            "source": "local:///cut.jpg",
            "count": 3,
            "messages": ["error in tile 0 x 144", "error in tile 0 x 130"],
            "interval_seconds": 60.0,
        }
    ]
    [record] = caplog.records
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["source"], line["count"]) == (
        "warning",
        "imgfleet.vips",
        "local:///cut.jpg",
        3,
    )


def test_then_one_line_per_interval_with_the_count_since_the_last(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    warning_log = WarningLog(clock)
    for _ in range(50):  # one request a second
        warning_log.record("local:///cut.jpg", TILE)
        clock.advance(1)
    assert [line["count"] for line in lines(caplog)] == [3]
    clock.advance(10)  # 60 s after the first line
    warning_log.record("local:///cut.jpg", RenderWarnings(1, ("not enough data",)))
    assert [line["count"] for line in lines(caplog)] == [3, 49 * 3 + 1]
    assert lines(caplog)[1]["messages"] == [
        "error in tile 0 x 144",
        "error in tile 0 x 130",
        "not enough data",
    ]
    warning_log.record("local:///cut.jpg", TILE)
    assert len(lines(caplog)) == 2


def test_sources_are_limited_apart(caplog: pytest.LogCaptureFixture) -> None:
    warning_log = WarningLog(ManualClock())
    for source in ("local:///a.png", "local:///b.png", "local:///a.png"):
        warning_log.record(source, TILE)
    assert [line["source"] for line in lines(caplog)] == ["local:///a.png", "local:///b.png"]


def test_a_render_without_warnings_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    WarningLog(ManualClock()).record("local:///photo.jpg", NO_WARNINGS)
    assert lines(caplog) == []


def test_memory_is_bounded_the_least_recent_source_forgotten_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warning_log = WarningLog(ManualClock(), max_sources=2)
    for source in ("a", "b", "a", "c", "a", "b"):  # c pushes b out; a stays, recent
        warning_log.record(source, TILE)
    assert [line["source"] for line in lines(caplog)] == ["a", "b", "c", "b"]
    long = "local:///" + "x" * (2 * MAX_SOURCE_CHARS)
    warning_log.record(long, TILE)
    warning_log.record(long + "y", TILE)  # the same source, once cut
    assert [len(line["source"]) for line in lines(caplog)[4:]] == [MAX_SOURCE_CHARS]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"interval_seconds": 0}, "interval_seconds: expected > 0, received 0"),
        ({"max_sources": 0}, "max_sources: expected at least 1, received 0"),
    ],
)
def test_bad_bounds_are_refused(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WarningLog(ManualClock(), **arguments)
