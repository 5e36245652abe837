"""The shortcuts a backtest's start takes through the bars it builds ahead (a decade: some 290,000 Bars for
discovery's candidates), each held to the full path it shortens: the validator's clean-series verdict to every
check made in full, the bar cache's row list for validated series to the upsert's dictionary of keys (and to
the rows read back from a real PostgreSQL), a PairHistory's spread loop to the per-pair estimator, bit for bit.
"""

from __future__ import annotations

import itertools
import math
import random
from array import array
from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from llmtrade.discovery import features
from llmtrade.domain.market import Bar, trusted_bar
from llmtrade.market.validation import _clean, _problems, validate_series
from llmtrade.storage.bar_cache import BarCache, row_of, rows_of
from llmtrade.storage.bootstrap import Storage
from tests.market_series import SESSIONS, good_bars

_ROWS = "SELECT synthetic, symbol, day, open, high, low, close, volume, source FROM market_bars ORDER BY 1, 2, 3"


def _raw(bar: Bar, **changes: object) -> Bar:
    """`bar` with `changes`, unvalidated (a provider that skipped the model, as the validator must expect)."""
    return Bar.model_construct(**{**bar.__dict__, **changes})


def _mutations(bars: list[Bar]) -> dict[str, list[Bar]]:
    """One defect each: every kind the validator names, and shapes the clean verdict must not take for clean."""
    mid = len(bars) // 2
    sunday = next(d for d in (bars[mid].day + timedelta(days=k) for k in range(7)) if d.weekday() == 6)
    return {
        "hole": bars[:mid] + bars[mid + 1 :],
        "stale": bars[:-2],
        "duplicate": [*bars[: mid + 1], bars[mid], *bars[mid + 1 :]],
        "unordered": [*bars[:mid], bars[mid + 1], bars[mid], *bars[mid + 2 :]],
        "sunday": [*bars[:mid], _raw(bars[mid], day=sunday), *bars[mid + 1 :]],
        "sunday_instead": [*bars[:mid], _raw(bars[mid], day=sunday), *bars[mid + 1 :][:-1]],
        "before_the_range": [_raw(bars[0], day=SESSIONS[0] - timedelta(days=3)), *bars],
        "nan_close": [*bars[:mid], _raw(bars[mid], close=math.nan), *bars[mid + 1 :]],
        "inf_high": [*bars[:mid], _raw(bars[mid], high=math.inf), *bars[mid + 1 :]],
        "zero_low": [*bars[:mid], _raw(bars[mid], low=0.0), *bars[mid + 1 :]],
        "negative_volume": [*bars[:mid], _raw(bars[mid], volume=-1.0), *bars[mid + 1 :]],
        "nan_volume": [*bars[:mid], _raw(bars[mid], volume=math.nan), *bars[mid + 1 :]],
        "close_above_high": [*bars[:mid], _raw(bars[mid], close=bars[mid].high + 1), *bars[mid + 1 :]],
        "open_below_low": [*bars[:mid], _raw(bars[mid], open=bars[mid].low / 2), *bars[mid + 1 :]],
        "high_below_low": [*bars[:mid], _raw(bars[mid], high=bars[mid].low / 2), *bars[mid + 1 :]],
        "empty": [],
    }


def test_a_clean_series_passes_by_the_shortcut_and_every_defect_gets_the_full_checks_verdict() -> None:
    bars = good_bars()
    assert _clean(bars, SESSIONS) and _problems("SPY", bars, SESSIONS, where=None) == []
    assert validate_series("SPY", bars, SESSIONS) == []
    # History that starts later than asked is clean too (the range's last sessions, all there).
    assert _clean(bars[5:], SESSIONS) and validate_series("SPY", bars[5:], SESSIONS) == []
    for name, series in _mutations(bars).items():
        full = _problems("SPY", series, SESSIONS, where="f.csv")
        assert not _clean(series, SESSIONS) or not full, name  # the shortcut never passes what the checks refuse
        assert validate_series("SPY", series, SESSIONS, where="f.csv") == full, name
        assert full or name == "before_the_range", name  # each defect is one the checks name (one they let pass)


def test_the_shortcut_never_passes_a_randomly_broken_series() -> None:
    bars = good_bars()
    rng = random.Random(13)
    for _ in range(400):
        series = list(bars)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(series))
            field, value = rng.choice(
                [
                    ("day", series[i].day + timedelta(days=rng.choice([-1, 1, 2]))),
                    ("close", series[i].high * rng.choice([1.0, 1.01])),
                    ("low", series[i].low * rng.choice([1.0, 1.5])),
                    ("volume", rng.choice([0.0, -0.5])),
                ]
            )
            series[i] = _raw(series[i], **{field: value})
        if rng.random() < 0.3:
            del series[rng.randrange(len(series))]
        verdict = _problems("SPY", series, SESSIONS, where=None)
        assert not (_clean(series, SESSIONS) and verdict)
        assert validate_series("SPY", series, SESSIONS) == verdict


def _bars(symbol: str, first: date, n: int, *, source: str = "test") -> list[Bar]:
    return [
        Bar(symbol=symbol, day=first + timedelta(days=k), open=10 + k / 3, high=11 + k / 3, low=9.9,
            close=10 + k / 3, volume=1000 + k, source=source)
        for k in range(n)
    ]  # fmt: skip


def test_validated_series_are_listed_in_order_and_anything_else_through_the_dictionary_of_keys() -> None:
    def upserted(bars: dict[str, list[Bar]]) -> list[tuple[object, ...]]:
        return list({(b.synthetic, b.symbol, b.day): row_of(b) for s in bars.values() for b in s}.values())

    validated = {"SPY": _bars("SPY", date(2026, 1, 5), 4), "TLT": _bars("TLT", date(2026, 1, 5), 3)}
    assert isinstance(rows_of(validated), list) and list(rows_of(validated)) == upserted(validated)
    twice = _bars("SPY", date(2026, 1, 5), 3)
    later = _bars("SPY", date(2026, 1, 6), 1, source="later")
    unchecked = {
        "day twice": {"SPY": [*twice, *later]},
        "backwards": {"SPY": list(reversed(twice))},
        "another symbol's bar": {"SPY": twice, "TLT": _bars("SPY", date(2026, 1, 5), 2, source="later")},
    }
    for name, bars in unchecked.items():
        assert list(rows_of(bars)) == upserted(bars), name
    assert [r[-1] for r in rows_of(unchecked["day twice"])] == ["test", "later", "test"]  # the later bar won


def test_stored_rows_read_back_as_the_upsert_leaves_them(storage: Storage) -> None:
    cache = BarCache(storage.conn)
    first = date(2026, 1, 5)
    validated = {"SPY": _bars("SPY", first, 5), "TLT": _bars("TLT", first, 5)}
    cache.store(validated, first, first + timedelta(days=4), provider="test", synthetic=False)
    again = {"SPY": [*_bars("SPY", first, 2, source="one"), *_bars("SPY", first + timedelta(days=1), 1, source="two")]}
    cache.store(again, first, first + timedelta(days=1), provider="test", synthetic=False)
    rows = storage.conn.execute(_ROWS).fetchall()
    expected = {
        (b.synthetic, b.symbol, b.day): row_of(b) for batch in (validated, again) for s in batch.values() for b in s
    }
    assert rows == [expected[key] for key in sorted(expected)]
    assert [r[-1] for r in rows if r[1] == "SPY"] == ["one", "two", "test", "test", "test"]


def test_a_pair_historys_spreads_are_the_per_pair_estimates_bit_for_bit() -> None:
    rng = random.Random(5)
    bars, price = [], 50.0
    for k in range(600):
        close = price * math.exp(rng.gauss(0, 0.03))
        open_ = price * math.exp(rng.gauss(0, 0.01))
        high, low = max(open_, close) * (1 + abs(rng.gauss(0, 0.01))), min(open_, close) * (1 - abs(rng.gauss(0, 0.01)))
        if k % 7 == 0:  # a day without range beyond open and close, and runs of equal highs and lows
            high, low = max(open_, close), min(open_, close)
        if k % 11 == 0 and bars:
            high, low = bars[-1].high, bars[-1].low
            open_ = close = (high + low) / 2
        day = date(2020, 1, 1) + timedelta(days=k)
        bars.append(
            trusted_bar("X", day, round(open_, 4), round(high, 4), round(low, 4), round(close, 4), 1e6, "t", True)
        )
        price = close
    history = features.PairHistory(bars)
    pairs = [features.corwin_schultz(a, b) for a, b in itertools.pairwise(bars)]
    assert history.spreads.tobytes() == array("d", pairs).tobytes()
    assert 0.0 in pairs and any(p > 0 for p in pairs)  # both of max(estimate, 0)'s branches were taken
    window = features.PairHistory(bars, 100).features(100, 400, "X", asset_class="equity")
    assert window == features.features("X", bars[100:400], asset_class="equity")


def test_trusted_bars_share_one_set_of_every_field_that_nothing_changes() -> None:
    day = date(2026, 1, 5)
    one, two = (trusted_bar(s, day, 10.0, 11.0, 9.0, 10.5, 100.0, "t", True) for s in ("SPY", "TLT"))
    validated = Bar(
        symbol="SPY", day=day, open=10.0, high=11.0, low=9.0, close=10.5, volume=100.0, source="t", synthetic=True
    )
    assert one == validated and one.model_fields_set == validated.model_fields_set == set(Bar.model_fields)
    copied = one.model_copy(update={"close": 10.25})
    assert copied.model_fields_set is not one.model_fields_set and copied.close == 10.25
    with pytest.raises(ValidationError):
        one.close = 1.0  # type: ignore[misc]  # frozen: refused before its fields set is touched
    assert one.model_fields_set == two.model_fields_set == set(Bar.model_fields)
    assert one.close == 10.5 and one.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)
