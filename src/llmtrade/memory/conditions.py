"""A week's market condition as numbers, built from its snapshot; and how two are compared.

`market_condition(snapshot, week_id)` is pure. Features (fixed names, in this order; None where no
instrument of the snapshot gives it or its history is too short):

| name                 | what                                                        | unit              |
|----------------------|-------------------------------------------------------------|-------------------|
| universe_return_1w   | mean 5-session return of the universe's instruments         | fraction          |
| universe_return_4w   | mean 20-session return                                      | fraction          |
| universe_return_12w  | mean 60-session return                                      | fraction          |
| spy_return_1w/4w/12w | SPY's own returns                                           | fraction          |
| universe_vol_20      | mean annualised 20-session realised volatility              | fraction per year |
| spy_vol_20           | SPY's                                                       | fraction per year |
| universe_drawdown    | mean drawdown from the 52-week high (<= 0)                  | fraction          |
| spy_drawdown         | SPY's                                                       | fraction          |
| universe_corr_spy    | mean 60-session correlation with SPY of the others          | -1..1             |
| breadth_above_sma50  | share of instruments closing above their 50-session average | 0..1              |
| spy_rsi_14           | SPY's 14-session RSI                                        | 0..100            |
| rates_long_4w        | TLT's 20-session return (long rates proxy)                  | fraction          |
| rates_mid_4w         | IEF's                                                       | fraction          |
| rates_short_4w       | SHY's                                                       | fraction          |
| curve_4w             | TLT's minus SHY's 20-session return (a steepening proxy)    | fraction          |
| dollar_4w            | UUP's 20-session return (dollar proxy)                      | fraction          |

The snapshot carries each instrument's correlation with SPY, not the full matrix, so "correlation of the
universe" is the mean of those. Values are stored raw; `standardise` turns them into z-scores against the
conditions known before the as-of time only, so no later week shapes how an earlier one is compared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date
from statistics import fmean

from llmtrade.domain.market import IndicatorSet
from llmtrade.domain.memory import MarketCondition
from llmtrade.domain.research import MarketSnapshot

Field = Callable[[IndicatorSet], float | None]

FEATURES: tuple[str, ...] = (
    "universe_return_1w",
    "universe_return_4w",
    "universe_return_12w",
    "spy_return_1w",
    "spy_return_4w",
    "spy_return_12w",
    "universe_vol_20",
    "spy_vol_20",
    "universe_drawdown",
    "spy_drawdown",
    "universe_corr_spy",
    "breadth_above_sma50",
    "spy_rsi_14",
    "rates_long_4w",
    "rates_mid_4w",
    "rates_short_4w",
    "curve_4w",
    "dollar_4w",
)


def condition_id(week_id: date) -> str:
    return f"condition:{week_id}"


def market_condition(snapshot: MarketSnapshot, week_id: date) -> MarketCondition:
    """The week's MarketCondition: FEATURES' raw values from `snapshot` (see the module docstring)."""
    sets = snapshot.indicators
    spy = sets.get("SPY")
    everyone = [sets[s] for s in sorted(sets)]

    def mean_of(field: Field, among: Sequence[IndicatorSet] = everyone) -> float | None:
        found = [v for v in (field(i) for i in among) if v is not None and math.isfinite(v)]
        return fmean(found) if found else None

    def of(symbol: str, field: Field) -> float | None:
        held = sets.get(symbol)
        value = field(held) if held is not None else None
        return value if value is not None and math.isfinite(value) else None

    above = [i.price_vs_sma_50 > 0 for i in everyone if i.price_vs_sma_50 is not None]
    tlt, shy = of("TLT", lambda i: i.return_4w), of("SHY", lambda i: i.return_4w)
    values: dict[str, float | None] = {
        "universe_return_1w": mean_of(lambda i: i.return_1w),
        "universe_return_4w": mean_of(lambda i: i.return_4w),
        "universe_return_12w": mean_of(lambda i: i.return_12w),
        "spy_return_1w": of("SPY", lambda i: i.return_1w),
        "spy_return_4w": of("SPY", lambda i: i.return_4w),
        "spy_return_12w": of("SPY", lambda i: i.return_12w),
        "universe_vol_20": mean_of(lambda i: i.realized_vol_20),
        "spy_vol_20": of("SPY", lambda i: i.realized_vol_20),
        "universe_drawdown": mean_of(lambda i: i.drawdown_from_52w_high),
        "spy_drawdown": of("SPY", lambda i: i.drawdown_from_52w_high),
        "universe_corr_spy": mean_of(lambda i: i.corr_spy_60, [i for i in everyone if i is not spy]),
        "breadth_above_sma50": sum(above) / len(above) if above else None,
        "spy_rsi_14": of("SPY", lambda i: i.rsi_14),
        "rates_long_4w": tlt,
        "rates_mid_4w": of("IEF", lambda i: i.return_4w),
        "rates_short_4w": shy,
        "curve_4w": tlt - shy if tlt is not None and shy is not None else None,
        "dollar_4w": of("UUP", lambda i: i.return_4w),
    }
    return MarketCondition(
        memory_id=condition_id(week_id),
        week_id=week_id,
        known_at=snapshot.asof,
        session=snapshot.session,
        names=FEATURES,
        values=tuple(values[name] for name in FEATURES),
    )


class Scale:
    """Per-feature mean and standard deviation of a history of conditions (those known before an as-of)."""

    def __init__(self, history: Sequence[tuple[Sequence[str], Sequence[float | None]]]):
        columns: dict[str, list[float]] = {}
        for names, values in history:
            for name, value in zip(names, values, strict=True):
                if value is not None:
                    columns.setdefault(name, []).append(value)
        self._stats: dict[str, tuple[float, float]] = {}
        for name, column in columns.items():
            if len(column) >= 2:
                mu = fmean(column)
                sd = math.sqrt(sum((v - mu) ** 2 for v in column) / (len(column) - 1))
                if sd > 0:
                    self._stats[name] = (mu, sd)

    def z(self, names: Sequence[str], values: Sequence[float | None]) -> dict[str, float]:
        """z-scores of the features this history can scale (a feature with no spread, or missing, is left out)."""
        out: dict[str, float] = {}
        for name, value in zip(names, values, strict=True):
            stats = self._stats.get(name)
            if stats is not None and value is not None:
                out[name] = (value - stats[0]) / stats[1]
        return out


def distance(a: dict[str, float], b: dict[str, float]) -> float:
    """Root-mean-square z-score difference over the features both have; inf when they share none."""
    shared = sorted(a.keys() & b.keys())
    if not shared:
        return math.inf
    return math.sqrt(sum((a[k] - b[k]) ** 2 for k in shared) / len(shared))
