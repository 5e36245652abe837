"""Performance numbers for `llmtrade status`, checked against values worked out by hand."""

from __future__ import annotations

import pytest

from llmtrade.market.metrics import hit_rate, max_drawdown, period_return, total_return

# ---------------------------------------------------------------- returns


def test_total_return_is_the_gain_as_a_fraction_of_the_start() -> None:
    assert total_return(100_000.0, 112_500.0) == pytest.approx(0.125)
    assert total_return(100_000.0, 90_000.0) == pytest.approx(-0.10)
    assert total_return(100_000.0, 100_000.0) == 0.0
    assert total_return(100_000.0, 0.0) == -1.0  # wiped out


@pytest.mark.parametrize("start", [0.0, -1_000.0, float("nan"), float("inf")])
def test_total_return_refuses_a_start_that_is_not_a_positive_number(start: float) -> None:
    with pytest.raises(ValueError, match="start_equity"):
        total_return(start, 100.0)


def test_period_return_is_the_change_over_the_period() -> None:
    assert period_return(50_000.0, 55_000.0) == pytest.approx(0.10)
    assert period_return(80_000.0, 60_000.0) == pytest.approx(-0.25)
    assert period_return(1.0, 1.0) == 0.0


@pytest.mark.parametrize("start", [0.0, -5.0, float("nan")])
def test_period_return_is_none_without_a_positive_start(start: float) -> None:
    assert period_return(start, 10.0) is None


# ---------------------------------------------------------------- drawdown


def test_max_drawdown_is_the_deepest_fall_from_a_running_peak() -> None:
    # 120 -> 90 is 25% of 120; the later 130 -> 104 is only 20% of 130, so 25% is the worst.
    assert max_drawdown([100.0, 120.0, 90.0, 130.0, 104.0]) == pytest.approx(0.25)


def test_max_drawdown_measures_from_the_peak_not_the_start() -> None:
    # 100 -> 150 -> 120: 20% below the peak though 20% above the start.
    assert max_drawdown([100.0, 150.0, 120.0]) == pytest.approx(0.20)


def test_max_drawdown_of_a_fall_from_the_first_mark() -> None:
    assert max_drawdown([100.0, 80.0, 50.0, 70.0]) == pytest.approx(0.50)


def test_max_drawdown_is_zero_for_a_monotone_rise_a_flat_line_a_single_mark_or_none() -> None:
    assert max_drawdown([1.0, 2.0, 3.0]) == 0.0
    assert max_drawdown([5.0, 5.0, 5.0]) == 0.0
    assert max_drawdown([42.0]) == 0.0
    assert max_drawdown([]) == 0.0


def test_max_drawdown_skips_marks_before_the_first_positive_equity() -> None:
    # No peak to fall from yet, so no division by zero; from 100 to 80 is 20%.
    assert max_drawdown([0.0, -10.0, 100.0, 80.0]) == pytest.approx(0.20)


def test_max_drawdown_past_zero_equity_exceeds_one() -> None:
    # A short can lose more than the account had: 100 -> -20 is a fall of 120% of the peak.
    assert max_drawdown([100.0, -20.0]) == pytest.approx(1.2)


def test_max_drawdown_accepts_a_tuple() -> None:
    assert max_drawdown((10.0, 9.0)) == pytest.approx(0.1)


# ---------------------------------------------------------------- hit rate


def test_hit_rate_is_wins_over_decided_trades_and_ignores_even_ones() -> None:
    assert hit_rate([10.0, -5.0, 3.0, 0.0, -1.0]) == 0.5  # 2 wins, 2 losses, 1 even
    assert hit_rate([5.0, -1.0, -2.0]) == pytest.approx(1 / 3)


def test_hit_rate_is_one_with_only_wins_and_zero_with_only_losses() -> None:
    assert hit_rate([1.0, 2.0]) == 1.0
    assert hit_rate([-1.0, 0.0]) == 0.0


def test_hit_rate_is_none_without_a_decided_trade() -> None:
    assert hit_rate([]) is None
    assert hit_rate([0.0, 0.0]) is None
