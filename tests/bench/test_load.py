"""bench/load.py: the command line's checks, the open-file limit."""

from __future__ import annotations

import argparse
import resource

import pytest

from bench.load import SCENARIOS, budget, count, raise_open_files


def test_default_scenarios_include_both_overloads() -> None:
    assert {"paced", "flood"} <= set(SCENARIOS)
    assert "overload" not in SCENARIOS  # flood --flood-connections 20 is the old one


def test_counts_are_one_or_more() -> None:
    assert count("600") == 600
    with pytest.raises(argparse.ArgumentTypeError, match="expected 1 or more, got 0"):
        count("0")


def test_a_budget_is_bytes_and_zero_is_allowed() -> None:
    assert budget("0") == 0
    assert budget("1073741824") == 1 << 30
    with pytest.raises(argparse.ArgumentTypeError, match="expected bytes >= 0, got -1"):
        budget("-1")


def test_open_files_are_left_alone_when_enough() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_open_files(min(soft, 16)) == soft
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)
