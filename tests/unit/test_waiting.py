"""tests/waiting.py: a wait returns once its condition holds, or fails naming it at the deadline."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.waiting import until, until_blocking


def holds_from(look: int) -> tuple[Callable[[], bool], list[int]]:
    """A condition that holds from its `look`-th look on, and the looks it was given."""
    looks: list[int] = []

    def condition() -> bool:
        looks.append(len(looks) + 1)
        return len(looks) >= look

    return condition, looks


async def test_until_returns_once_the_condition_holds() -> None:
    condition, looks = holds_from(3)
    await until(condition, "the third look")
    assert looks == [1, 2, 3]


def test_until_blocking_returns_once_the_condition_holds() -> None:
    condition, looks = holds_from(3)
    until_blocking(condition, "the third look")
    assert looks == [1, 2, 3]


async def test_until_fails_at_the_deadline_naming_what_it_awaited() -> None:
    with pytest.raises(AssertionError, match="not within 0 s: one queued render"):
        await until(lambda: False, "one queued render", seconds=0)


def test_until_blocking_fails_at_the_deadline_naming_what_it_awaited() -> None:
    with pytest.raises(AssertionError, match="not within 0 s: the origin to answer"):
        until_blocking(lambda: False, "the origin to answer", seconds=0)


def test_a_condition_may_give_up_early() -> None:
    def exited() -> bool:
        raise AssertionError("the process exited")

    with pytest.raises(AssertionError, match="the process exited"):
        until_blocking(exited, "the process to log its port")
