"""A split whose ex-day is uncertain (no run for several sessions: the cache ends before it, the restated answer has
several new sessions) is placed by the fills in its window: a fill at the old price traded before the split. Before,
it went on the window's first day whatever was traded, and a position bought that day at the old price came after
the split in the books, was never multiplied, and read as a 75% loss on a 4-for-1 (found by stop 37's review).
Provider mocked at yfinance.download, as the other split tests do."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction
from functools import partial

import pytest

from llmtrade.brokers.fills import record_new_fills
from llmtrade.brokers.paper import PaperBroker
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.trading import Side
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.splits import Restatement, placed, splits_before, traded
from llmtrade.market.yfinance_data import YFinanceProvider
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.market_series import START, good_bars
from tests.test_live_price_jumps import _scaled
from tests.test_paper_broker import Clock, _order
from tests.test_split_detection import BEFORE, answer, splits

MON, TUE, WED, THU = (date(2025, 12, d) for d in (15, 16, 17, 18))  # no run from Monday's open to Thursday


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 12, 12, 23, tzinfo=UTC))


def _run(storage: Storage, run_id: str, said: list[str]) -> MarketData:
    """A run's market as the container wires it, the fills recorded placing an uncertain split's day."""
    recording = Recording(
        storage.events,
        run_id,
        say=said.append,
        splits_before=partial(splits_before, storage.events),
        traded=partial(traded, storage.events),
    )
    return MarketData([YFinanceProvider()], BarCache(storage.conn), TradingCalendar(), recording)


def _bar(day: date):
    return next(b for b in good_bars() if b.day == day)


def test_a_buy_at_the_old_price_on_the_uncertain_windows_first_day_is_multiplied_by_the_split(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    answer(monkeypatch, _scaled(good_bars(), 4.0, before=date.max))  # the old prices, before the split
    market = _run(storage, "r1", said)
    market.bars(["SPY"], START, BEFORE)  # Friday's run: cached to Friday
    broker = PaperBroker(
        "acct_1", starting_cash=100_000.0, events=storage.events, clock=clock, calendar=TradingCalendar(), prices=market
    )
    broker.submit(_order("SPY", Side.BUY, 50, "open"))  # for Monday's open
    clock.set(datetime(2025, 12, 15, 16, tzinfo=UTC))  # Monday 11:00 New York: filled at the old open, recorded
    [fill] = record_new_fills(storage.events, broker, week_id=BEFORE, run_id="r1")
    assert fill.price == pytest.approx(_bar(MON).open * 4.0, rel=1e-3)
    # Thursday: the split came on Wednesday, and the provider restated the whole history.
    answer(monkeypatch, good_bars())
    clock.set(datetime(2025, 12, 18, 23, tzinfo=UTC))
    _run(storage, "r2", said).bars(["SPY"], START, WED)
    [split] = splits(storage)
    # Not Monday: the fill that day traded at the old price. Tuesday or Wednesday, taken as Tuesday, priced there.
    assert (split["ex_day"], split["latest"]) == (str(TUE), str(WED))
    assert split["price"] == pytest.approx(_bar(TUE).open)
    assert f"a fill on {MON} traded at the old price" in split["evidence"]
    assert f"between {TUE} and {WED}" in said[-1]
    account = broker.account({"SPY": _bar(WED).close})
    assert account.positions["SPY"].qty == 200
    assert account.positions["SPY"].avg_price == pytest.approx(fill.price / 4, abs=1e-4)
    # The value moved with the stock, not by three quarters.
    assert account.equity == pytest.approx(100_000 - 50 * fill.price + 200 * _bar(WED).close, abs=0.01)
    assert account.equity > 100_000 - 50 * fill.price * 0.5
    # The container wires the fills to a run's market.
    from llmtrade.app.container import Container

    app = Container(Settings(), load_config(None), FixedClock(clock.now()), None, say=lambda _: None, offline=True)
    wired = app.market(storage, run_id="r3").recording
    assert wired is not None and wired.traded is not None
    assert list(wired.traded("SPY", MON, WED)) == [(MON, fill.price)]


_BARS = [b for b in good_bars() if b.day <= WED]
_UNCERTAIN = Restatement("SPY", MON, Fraction(4), _bar(MON).open, 5, 0, START, WED)


@pytest.mark.parametrize(
    ("trades", "ex_day", "latest"),
    [
        ([], MON, WED),  # nothing traded: the window's first day, as before
        ([(MON, _bar(MON).open * 4)], TUE, WED),  # bought at the old price on Monday: after it
        ([(MON, _bar(MON).open * 4), (TUE, _bar(TUE).open * 4.04)], WED, None),  # old on Tuesday too: Wednesday
        ([(TUE, _bar(TUE).open * 0.99)], MON, TUE),  # at the new price on Tuesday: by then
        ([(MON, _bar(MON).open * 4), (TUE, _bar(TUE).open)], TUE, None),  # old Monday, new Tuesday: Tuesday
        ([(WED, _bar(WED).open * 4)], THU, None),  # old on the answer's last day: the next session
        ([(date(2025, 12, 12), 1.0), (date(2025, 12, 19), 1.0)], MON, WED),  # outside the window: not evidence
    ],
)
def test_the_fills_in_the_window_place_the_split_after_the_last_at_the_old_price_and_by_the_first_at_the_new(
    trades: list[tuple[date, float]], ex_day: date, latest: date | None
) -> None:
    found = placed(_UNCERTAIN, _BARS, trades, THU)
    assert (found.ex_day, found.latest) == (ex_day, latest)
    assert found.price == pytest.approx(_bar(WED).close if ex_day == THU else _bar(ex_day).open)
