"""Hybrid logical clocks: monotonic ticks, receive after both clocks, text form, skew cap."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from imgfleet.core.hlc import MAX_COUNTER, ClockSkew, Hlc, receive, tick

WALL_LIMIT = 10**13 - 2  # the text form has 13 digits; room for one rollover past the last
walls = st.integers(min_value=0, max_value=WALL_LIMIT)
counters = st.integers(min_value=0, max_value=MAX_COUNTER)
regions = st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True)
clocks = st.builds(Hlc, walls, counters, regions)


def stamp(clock: Hlc) -> tuple[int, int]:
    return clock.wall, clock.counter


@given(clocks, st.lists(walls, max_size=50))
def test_tick_is_strictly_increasing_whatever_the_physical_time_does(
    start: Hlc, times: list[int]
) -> None:
    clock = start
    for now in times:  # any order: clocks that jump back, stand still or leap ahead
        after = tick(clock, now)
        assert after > clock and stamp(after) > stamp(clock)
        assert after.region == start.region
        assert after.wall >= now
        clock = after


def test_tick_takes_a_later_physical_time_and_restarts_the_counter() -> None:
    assert tick(Hlc(1_000, 7, "eu"), 1_005) == Hlc(1_005, 0, "eu")


@pytest.mark.parametrize("now", [1_000, 999, 0])
def test_tick_at_or_before_the_last_wall_counts_up(now: int) -> None:
    assert tick(Hlc(1_000, 7, "eu"), now) == Hlc(1_000, 8, "eu")


def test_a_full_counter_rolls_over_to_the_next_millisecond() -> None:
    assert tick(Hlc(1_000, MAX_COUNTER, "eu"), 1_000) == Hlc(1_001, 0, "eu")
    assert tick(Hlc(1_000, MAX_COUNTER, "eu"), 1_001) == Hlc(1_001, 0, "eu")


@given(clocks, clocks, walls, st.integers(min_value=0, max_value=10**7))
def test_receive_is_after_both_clocks(last: Hlc, remote: Hlc, now: int, max_skew: int) -> None:
    assume(remote.wall - now <= max_skew)
    after = receive(last, remote, now, max_skew)
    assert stamp(after) > stamp(last) and stamp(after) > stamp(remote)
    assert after.wall >= now
    assert after.region == last.region


@given(clocks, clocks, walls, st.integers(min_value=0, max_value=10**7))
def test_receive_refuses_a_clock_too_far_ahead(
    last: Hlc, remote: Hlc, now: int, max_skew: int
) -> None:
    assume(remote.wall - now > max_skew)
    with pytest.raises(ClockSkew) as skewed:
        receive(last, remote, now, max_skew)
    assert isinstance(skewed.value, ValueError)
    assert f"at most {max_skew}" in str(skewed.value)


@pytest.mark.parametrize(
    ("last", "remote", "now", "expected"),
    [
        # both walls equal and ahead of physical time: past the larger counter
        (Hlc(2_000, 3, "eu"), Hlc(2_000, 9, "us"), 1_000, Hlc(2_000, 10, "eu")),
        (Hlc(2_000, 9, "eu"), Hlc(2_000, 3, "us"), 2_000, Hlc(2_000, 10, "eu")),
        # ours is ahead: past our counter
        (Hlc(2_000, 3, "eu"), Hlc(1_500, 9, "us"), 1_000, Hlc(2_000, 4, "eu")),
        # theirs is ahead (within the cap): past their counter
        (Hlc(1_500, 3, "eu"), Hlc(2_000, 9, "us"), 1_900, Hlc(2_000, 10, "eu")),
        # physical time is ahead of both: it, counter 0
        (Hlc(1_500, 3, "eu"), Hlc(1_600, 9, "us"), 3_000, Hlc(3_000, 0, "eu")),
        # full counters roll over to the next millisecond
        (Hlc(2_000, MAX_COUNTER, "eu"), Hlc(2_000, 1, "us"), 1_000, Hlc(2_001, 0, "eu")),
        (Hlc(1_000, 0, "eu"), Hlc(2_000, MAX_COUNTER, "us"), 1_999, Hlc(2_001, 0, "eu")),
    ],
)
def test_receive_cases(last: Hlc, remote: Hlc, now: int, expected: Hlc) -> None:
    assert receive(last, remote, now, max_skew_ms=1_500) == expected


def test_receive_at_the_skew_cap_is_accepted_and_one_past_it_refused() -> None:
    last = Hlc(1_000, 0, "eu")
    assert receive(last, Hlc(1_500, 0, "us"), 1_000, 500) == Hlc(1_500, 1, "eu")
    with pytest.raises(ClockSkew, match="501 ms ahead"):
        receive(last, Hlc(1_501, 0, "us"), 1_000, 500)


@given(clocks)
def test_text_round_trips(clock: Hlc) -> None:
    text = str(clock)
    assert Hlc.parse(text) == clock
    assert str(Hlc.parse(text)) == text


@given(st.lists(clocks, min_size=2, max_size=20))
def test_text_sorts_in_clock_order(many: list[Hlc]) -> None:
    assert sorted(many, key=str) == sorted(many)


def test_text_form_is_fixed_width() -> None:
    assert str(Hlc(1_765_000_000_000, 42, "eu-west")) == "1765000000000-000042-eu-west"
    assert str(Hlc(5, 0, "a")) == "0000000000005-000000-a"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1765000000000-000000",  # no region
        "1765000000000-000000-",
        "176500000000-000000-eu",  # 12-digit wall
        "1765000000000-00000-eu",  # 5-digit counter
        "1765000000000-000000-EU",  # upper case
        "1765000000000-000000--eu",  # region starts with '-'
        "1765000000000-000000-eu\n",
        " 1765000000000-000000-eu",
        "1765000000000-000000-" + "a" * 33,  # region too long
        "\u0661\u0667\u0666\u0665000000000-000000-eu",  # Arabic-Indic digits
        "1765000000000-\uff10\uff10\uff10\uff10\uff10\uff10-eu",  # full-width digits
    ],
)
def test_parse_refuses_what_str_did_not_write(text: str) -> None:
    with pytest.raises(ValueError, match="expected a clock"):
        Hlc.parse(text)


@given(st.text(max_size=60))
def test_parse_takes_only_its_own_text_and_raises_only_value_error(text: str) -> None:
    try:
        clock = Hlc.parse(text)
    except ValueError:
        return
    assert str(clock) == text
