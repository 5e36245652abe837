"""Forward returns of discovery's suggestions: recorded once each, only once matured, read point-in-time."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from llmtrade.discovery import outcomes
from llmtrade.domain.discovery import ForwardReturns, Suggestion, SuggestionsMade
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import DISCOVERY
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.service import MarketData
from llmtrade.market.synthetic import SyntheticMarket, candidate_classes
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage

CALENDAR = TradingCalendar()
SESSION = date(2026, 1, 6)  # a Tuesday


def _market(storage: Storage) -> MarketData:
    return MarketData([SyntheticMarket({"SPY": "equity"}, extra=candidate_classes())], BarCache(storage.conn), CALENDAR)


def _judge(storage: Storage, session: date, symbols: list[str], picker: str = "metric") -> None:
    made = SuggestionsMade(
        picker=picker,  # type: ignore[arg-type]
        asof=datetime.combine(session, datetime.min.time(), tzinfo=UTC),
        session=session,
        suggestions=[Suggestion(symbol=s, rank=i + 1, score=1.0) for i, s in enumerate(symbols)],
    )
    storage.events.append([NewEvent.of(made, stream=DISCOVERY)])


def _later(session: date, n: int) -> date:
    return outcomes.maturity(CALENDAR, session, n)


def test_a_forward_return_is_recorded_only_once_its_horizon_has_closed(storage: Storage) -> None:
    _judge(storage, SESSION, ["AAPL", "TLT"])
    market = _market(storage)
    four_later = _later(SESSION, 4)
    first = outcomes.fill(storage.events, market, four_later)
    assert [(f.session, f.horizon) for f in first] == [(SESSION, 1)]  # 5 and 20 have not matured
    assert outcomes.matured(storage.events, four_later) == first
    assert outcomes.matured(storage.events, SESSION) == []  # not visible as of the judged session itself
    fifth = _later(SESSION, 5)
    second = outcomes.fill(storage.events, market, fifth)
    assert [(f.horizon, f.matured) for f in second] == [(5, fifth)]
    assert outcomes.fill(storage.events, market, fifth) == []  # written once
    bars = market.bars(["AAPL", "SPY", "TLT"], SESSION, fifth).bars
    (five,) = second
    for symbol in ("AAPL", "TLT", "SPY"):
        assert five.returns[symbol] == pytest.approx(bars[symbol][-1].close / bars[symbol][0].close - 1)
    assert five.benchmark_return == pytest.approx(bars["SPY"][-1].close / bars["SPY"][0].close - 1)
    assert five.excess("AAPL") == pytest.approx(five.returns["AAPL"] - five.benchmark_return)
    assert five.excess("NOPE") is None


def test_the_last_run_of_a_session_is_the_one_measured(storage: Storage) -> None:
    _judge(storage, SESSION, ["AAPL"])
    _judge(storage, SESSION, ["TLT"])
    (made,) = outcomes.judged(storage.events.read(stream=DISCOVERY))[SESSION]
    assert [s.symbol for s in made.suggestions] == ["TLT"]


def test_stored_outcomes_are_filtered_by_maturity_for_a_reader_in_the_past(storage: Storage) -> None:
    _judge(storage, SESSION, ["AAPL"])
    twenty = _later(SESSION, 20)
    outcomes.fill(storage.events, _market(storage), twenty)
    horizons = lambda asof: sorted(f.horizon for f in outcomes.matured(storage.events, asof))  # noqa: E731
    assert horizons(twenty) == [1, 5, 20]
    assert horizons(_later(SESSION, 19)) == [1, 5]
    assert horizons(_later(SESSION, 1)) == [1]
    assert all(isinstance(f, ForwardReturns) for f in outcomes.matured(storage.events, twenty))
