"""bench/enlargements.py: the memory and deadline report rows."""

from __future__ import annotations

from bench.corpus import MEDIUM
from bench.enlargements import (
    HUGE,
    Answer,
    DeadlineRun,
    MemoryRun,
    answer_timeout,
    budget_text,
    deadline_section,
    memory_section,
    seconds_row,
    statuses,
)

MB = 1024 * 1024


def test_the_huge_source_is_as_large_as_the_default_limit_allows() -> None:
    assert 49e6 < HUGE.width * HUGE.height <= 50e6  # limits.max_src_megapixels = 50


def test_statuses_and_seconds() -> None:
    answers = [Answer(504, 12.0), Answer(200, 30.0), Answer(0, 120.0), Answer(200, 20.0)]
    assert statuses(answers) == "no answer: 1, 200: 2, 504: 1"
    assert seconds_row(answers) == "25.0 / 120.0"
    assert seconds_row([]) == "n/a"


def test_budget_is_not_set_unless_given() -> None:
    assert budget_text(None) == "not set"
    assert budget_text(0) == "0 (derived from the machine)"
    assert budget_text(2 * 1024 * MB) == "2,147,483,648 bytes (2048 MB)"


def test_clients_wait_far_past_the_render_timeout() -> None:
    assert answer_timeout(10.0) == 120.0
    assert answer_timeout(30.0) == 300.0


def test_memory_row() -> None:
    run = MemoryRun(
        [Answer(200, 50.0)] * 3 + [Answer(504, 58.0)], 4, 98 * MB, 2569 * MB, 288 * MB, None
    )
    text = memory_section(run)
    assert text.startswith(
        "### memory: 4 distinct `rs:fit:8192:8192:1` + `.avif` renders of a 8640x5760"
    )
    assert (
        text.splitlines()[-1]
        == "| 200: 3, 504: 1 | 50.0 / 58.0 | 98 / 2569 / 288 | 2471 | not set |"
    )


def test_deadline_rows() -> None:
    run = DeadlineRun(
        single=Answer(504, 10.2),
        answers=[Answer(504, 10.1), Answer(504, 10.3), Answer(504, 20.5)],
        concurrency=2,
        render_timeout=10.0,
        cpu_after=0.4,
        probe_rows=["| cache hit, new connection | 200 | 90 | 1.0 | 3.0 | 4.0 |"],
    )
    lines = deadline_section(run, MEDIUM).splitlines()
    assert (
        lines[0]
        == "### deadline: `rs:fit:8192:8192:1` + `.gif` of a 2040x1360 JPEG, render timeout 10 s"
    )
    assert lines[4] == "| one alone | 1 | 504: 1 | 10.2 / 10.2 | |"
    assert lines[5] == "| 3 in a row | 2 | 504: 3 | 10.3 / 20.5 | 0.4 |"
    assert lines[-1] == run.probe_rows[0]
