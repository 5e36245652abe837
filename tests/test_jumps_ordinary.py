"""The jump check tells an ordinary day from a split or a spike without a logarithm, with the same verdicts.

A backtest checks every bar of its universe's and its candidates' histories (some 300,000 over a decade) and each
checkpoint's last bar: nearly all are ordinary days, whose close-to-close ratio is now compared with two bounds."""

from __future__ import annotations

import math
from datetime import date, timedelta
from fractions import Fraction

import pytest

from llmtrade.domain.market import Bar
from llmtrade.market import jumps
from llmtrade.market.jumps import _is_spike, _nearest, spikes, split_like, suspect_moves


def _bars(closes: list[float]) -> list[Bar]:
    day = date(2024, 1, 2)
    return [
        Bar(
            symbol="SPY",
            day=day + timedelta(days=i),
            open=c,
            high=c * 1.01,
            low=c * 0.99,
            close=c,
            volume=1000,
            source="test",
        )
        for i, c in enumerate(closes)
    ]


def _nearest_by_logs(ratio: float) -> Fraction | None:
    """`_nearest` as it was: the logarithm asked of every ratio."""
    if ratio <= 0 or abs(math.log(ratio)) < math.log(1.4):
        return None
    best = min(jumps._SPLITS, key=lambda f: abs(math.log(ratio / float(f))))
    return best if abs(math.log(ratio / float(best))) < jumps.TOLERANCE else None


RATIOS = sorted(
    {0.1, 0.24, 0.25, 0.26, 0.33, 0.49, 0.5, 0.51, 0.66, 0.6666, 0.7, 0.714, 0.7142857, 0.7142858, 0.74, 0.75}
    | {math.nextafter(0.75, 0), math.nextafter(0.75, 1), math.nextafter(1.3, 0), math.nextafter(1.3, 2), 1.3}
    | {0.9, 1.0, 1.1, 1.2, 1.39, 1.4, 1.41, 1.5, 1.6, 1.99, 2.0, 2.01, 3.0, 4.0, 10.0}
    | {round(0.70 + k / 1000, 4) for k in range(0, 700, 7)}
)


@pytest.mark.parametrize("ratio", RATIOS)
def test_the_nearest_split_is_the_one_the_logarithms_give(ratio: float) -> None:
    assert _nearest(ratio) == _nearest_by_logs(ratio)


@pytest.mark.parametrize("ratio", RATIOS)
def test_a_spike_is_what_the_logarithms_say(ratio: float) -> None:
    previous, bar, back, stays = _bars([100.0, 100.0 * ratio, 101.0, 100.0 * ratio])[0:4]
    for after in (back, stays):
        expected = abs(math.log(bar.close / previous.close)) >= math.log(2) and abs(
            math.log(after.close / previous.close)
        ) < math.log(1.15)
        assert _is_spike(previous, bar, after) is expected


def test_ordinary_days_are_checked_without_a_logarithm(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoLogs:
        def __getattr__(self, name: str) -> object:
            if name == "log":
                raise AssertionError("a logarithm asked of an ordinary day")
            return getattr(math, name)

    closes = [100.0]
    for i in range(299):
        closes.append(closes[-1] * (1.02 if i % 3 else 0.97))
    bars = _bars(closes)
    monkeypatch.setattr(jumps, "math", NoLogs())
    assert spikes("SPY", bars) == [] and split_like("SPY", bars) == [] and suspect_moves("SPY", bars) == []


def test_a_split_and_a_spike_among_ordinary_days_are_still_found() -> None:
    closes = [100.0, 101.0, 25.3, 25.5, 25.4, 60.0, 25.6, 25.7]
    bars = _bars(closes)
    bars[2] = bars[2].model_copy(update={"open": 25.2})
    moves = suspect_moves("SPY", bars)
    assert [(j.day, j.split) for j in moves] == [(bars[2].day, Fraction(1, 4)), (bars[5].day, None)]
