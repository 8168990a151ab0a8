"""bench/probe.py: when probes count as recovered after a load, and their tables."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bench.probe import Probe, RecoveryRule, Sample, nearest_rank

RULE = RecoveryRule(window=3, factor=1.5, slack_ms=1.0)


def samples(ms: Sequence[float], statuses: Sequence[int] | None = None) -> list[Sample]:
    """One probe every 0.1 s from t = 100.0, `ms` long each."""
    codes = statuses or [200] * len(ms)
    return [
        Sample("hit", s, m, 100.0 + i / 10) for i, (m, s) in enumerate(zip(ms, codes, strict=True))
    ]


def test_limit_is_a_factor_of_the_baseline_or_a_slack_above_it() -> None:
    assert RULE.limit_ms(20.0) == 30.0  # 1.5 x 20 > 20 + 1
    assert RULE.limit_ms(0.5) == 1.5  # 0.5 + 1 > 1.5 x 0.5: sub-ms noise is not a relapse


def test_recovered_at_the_first_probe_of_the_first_good_window() -> None:
    probes = samples([300, 29, 31, 28, 29, 30, 500])
    # 29 starts a run but 31 breaks it; 28, 29, 30 (t = 100.3 ..) is the first good window
    assert RULE.recovered_at(probes, 20.0, since=100.0) == pytest.approx(0.3)


def test_a_refusal_breaks_the_window_however_fast() -> None:
    probes = samples([10, 10, 10, 10, 10, 10], [200, 503, 200, 200, 503, 200])
    assert RULE.recovered_at(probes, 20.0, since=100.0) is None


def test_not_recovered_while_the_window_is_not_full() -> None:
    assert RULE.recovered_at(samples([10, 10]), 20.0, since=100.0) is None
    assert RULE.recovered_at([], 20.0, since=100.0) is None


def test_a_probe_sent_before_the_load_ended_counts_as_zero() -> None:
    assert RULE.recovered_at(samples([10, 10, 10]), 20.0, since=100.05) == 0.0


def test_the_definition_is_printed_with_its_numbers() -> None:
    text = RecoveryRule().describe(0.1)
    assert "10 probes in a row (~1 s)" in text
    assert "max(1.5 x the pre-load p50, pre-load p50 + 1 ms)" in text


def test_nearest_rank() -> None:
    assert nearest_rank([5.0, 1.0, 3.0], 0.5) == 3.0
    assert nearest_rank(list(range(100)), 0.99) == 99
    assert nearest_rank([7.0], 0.99) == 7.0


def test_rows_per_kind_and_status_and_quantiles_of_the_200s() -> None:
    probe = Probe(0, "/hot", iter(()))
    probe.samples += [
        Sample("hit", 200, 2.0, 1.0),
        Sample("hit", 200, 4.0, 2.0),
        Sample("miss", 503, 1.0, 1.5),
        Sample("miss", 0, 15000.0, 2.5),
    ]
    assert probe.rows() == [
        "| cache hit, new connection | 200 | 2 | 3.0 | 4.0 | 4.0 |",
        "| fresh miss (M), new connection | no answer | 1 | 15000.0 | 15000.0 | 15000.0 |",
        "| fresh miss (M), new connection | 503 | 1 | 1.0 | 1.0 | 1.0 |",
    ]
    assert probe.quantile_ms("hit", 0.99) == 4.0
    assert probe.quantile_ms("miss", 0.5) is None  # no 200 among them
    assert probe.counts("miss") == {503: 1, 0: 1}
