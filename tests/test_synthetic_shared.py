"""Markets built on one universe share one path (a backtest builds its providers anew for every job), and
a single session's bars, kept once asked for, are the bars a range read gives."""

from __future__ import annotations

import itertools
import json
import statistics
from datetime import date

import pytest

from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataError
from llmtrade.market.synthetic import ORIGIN, SyntheticMarket, candidate_classes
from llmtrade.storage.jsonb_read import as_read, jsonb_object

UNIVERSE = {"SPY": "equity", "TLT": "rates", "GLD": "gold"}
DAY = date(2024, 3, 6)


def test_a_single_sessions_bars_are_the_range_reads_bars_for_that_day() -> None:
    market = SyntheticMarket(UNIVERSE, extra={"AAPL": "equity"})
    one = market.daily_bars(["SPY", "AAPL"], DAY, DAY)
    again = SyntheticMarket(UNIVERSE, extra={"AAPL": "equity"}).daily_bars(["SPY", "AAPL"], DAY, DAY)
    assert one == again and [b.day for b in one["SPY"]] == [DAY] and len(one["AAPL"]) == 1
    assert one["SPY"][0] == SyntheticMarket(UNIVERSE).daily_bars(["SPY"], date(2024, 3, 1), DAY)["SPY"][-1]


def test_another_seed_moves_every_bar_and_another_universe_none_of_the_others() -> None:
    seven = SyntheticMarket(UNIVERSE).daily_bars(["SPY"], ORIGIN, DAY)["SPY"]
    eight = SyntheticMarket(UNIVERSE, seed=8).daily_bars(["SPY"], ORIGIN, DAY)["SPY"]
    assert seven[-1].close != eight[-1].close
    # An operator's trial took LQD out of assets.yaml mid-week: QQQ's prices were rewritten (2082 -> 617) and a
    # position sold at the new one. A symbol added or taken out moves no other symbol's bars, on any day.
    wider = SyntheticMarket({**UNIVERSE, "QQQ": "equity", "LQD": "credit"})
    assert wider.daily_bars(["SPY"], ORIGIN, DAY)["SPY"] == seven
    other = SyntheticMarket({**UNIVERSE, "ABC": "equity"}).daily_bars(["SPY", "ABC"], ORIGIN, DAY)
    assert other["SPY"] == seven and other["ABC"][-1].close > 0  # a symbol of no KNOWN row: a stream of its own
    narrower = SyntheticMarket({"GLD": "gold"}).daily_bars(["GLD"], ORIGIN, DAY)["GLD"]
    assert narrower == SyntheticMarket(UNIVERSE).daily_bars(["GLD"], ORIGIN, DAY)["GLD"]
    # The factors still tie them: SPY and QQQ (both equity) move together.
    both = wider.daily_bars(["SPY", "QQQ"], ORIGIN, DAY)
    moves = {s: [b.close / a.close - 1 for a, b in itertools.pairwise(bars)] for s, bars in both.items()}
    assert statistics.correlation(moves["SPY"], moves["QQQ"]) > 0.8


def test_a_symbol_outside_the_universe_or_an_unknown_class_still_fails_on_a_shared_path() -> None:
    SyntheticMarket(UNIVERSE).daily_bars(["SPY"], DAY, DAY)
    with pytest.raises(MarketDataError, match="does not know AAPL"):
        SyntheticMarket(UNIVERSE).daily_bars(["AAPL"], DAY, DAY)
    with pytest.raises(MarketDataError, match="no factor"):
        SyntheticMarket({**UNIVERSE, "XYZ": "crypto"})
    with pytest.raises(MarketDataError, match="no factor"):  # not remembered as built after failing
        SyntheticMarket({**UNIVERSE, "XYZ": "crypto"})


def test_the_candidates_classes_are_a_copy_each_call() -> None:
    first = candidate_classes()
    first.clear()
    assert candidate_classes() and "AAPL" in candidate_classes()


@pytest.mark.parametrize(
    "payload",
    [
        {"b": ["x", 1, True, None, 2.5], "a": ("t", 1.0), "cc": [{"z": 1, "y": [0.1, -0.0]}]},
        {"m": [1.0, float("nan")], "k": "v"},  # NaN is no JSON value: parsed from the text instead
        {"m": [1, float("inf")]},
        {"e": [json.JSONDecodeError.__name__, 3], "n": {"2": 2, "10": 10}},
    ],
)
def test_a_held_payload_is_what_postgresql_would_give_back(payload: dict[str, object]) -> None:
    held, _ = as_read(payload)
    expected = json.loads(json.dumps(payload), object_pairs_hook=jsonb_object)
    assert json.dumps(held) == json.dumps(expected)
    assert list(held) == list(expected)


def test_a_ranges_bars_built_unvalidated_are_the_bars_validation_builds() -> None:
    extra = dict(sorted(candidate_classes().items())[:5])
    market = SyntheticMarket({"SPY": "equity", "TLT": "rates"}, extra=extra)
    ranges = market.daily_bars(["SPY", "TLT", *extra], date(2016, 1, 4), date(2016, 12, 30))
    for bars in ranges.values():
        assert len(bars) == 252
        for bar in bars:
            checked = Bar.model_validate(bar.__dict__)  # what `Bar(...)` makes of the same fields
            assert bar == checked and hash(bar) == hash(checked)
            assert [type(v) for v in bar.__dict__.values()] == [type(v) for v in checked.__dict__.values()]
            assert bar.model_dump_json() == checked.model_dump_json()
            assert bar.model_fields_set == checked.model_fields_set


def test_a_known_symbols_bars_are_its_own_in_the_universe_or_not_and_at_any_class_given() -> None:
    # A trial took USO out of assets.yaml while an account was short it at 11.17: priced as a discovery candidate
    # instead, the week's roll bought it back at 95.37 and the account's equity went to -53,549.
    held = SyntheticMarket({**UNIVERSE, "USO": "oil"}, extra=candidate_classes()).daily_bars(["USO"], ORIGIN, DAY)
    gone = SyntheticMarket(UNIVERSE, extra=candidate_classes()).daily_bars(["USO"], ORIGIN, DAY)
    assert gone == held
    assert SyntheticMarket(UNIVERSE).daily_bars(["USO"], ORIGIN, DAY) == held  # no candidates asked for either
    # The class assets.yaml gives groups it for the risk gate; its prices stay the symbol's.
    regrouped = SyntheticMarket({**UNIVERSE, "USO": "equity"}).daily_bars(["USO", "SPY"], ORIGIN, DAY)
    assert regrouped["USO"] == held["USO"]
    assert regrouped["SPY"] == SyntheticMarket(UNIVERSE).daily_bars(["SPY"], ORIGIN, DAY)["SPY"]
