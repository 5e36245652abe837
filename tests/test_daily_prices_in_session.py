"""A symbol with daily prices only (a CSV folder without its intraday file) inside a session: priced at the session's
open, the one price of the session known before its close, and an order sent then filled at the session's close.

It was priced by a "daily bridge", a path drawn through the session's own open, high, low and close: the 12:00 price
of such a path is shaped by the close still to come (a path pinned to its end: a rise from the open to noon foretells
more of the same to the close), so a checkpoint's stop, conviction and order, and the order's fill, read the future.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import psycopg
import pytest

from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.board_notes import fill_price_notes
from llmtrade.app.container import Container
from llmtrade.app.leaderboard import leaderboard
from llmtrade.brokers.paper import PaperBroker
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.market import Bar, Quote
from llmtrade.domain.trading import Fill, OrderStatus, Side
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_quotes import CsvQuotes
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.database import backtest_database
from tests.test_backtest import _unique, _url
from tests.test_backtest_bad_start import WEEK, _write, history
from tests.test_paper_broker import Clock, _order

DAY = WEEK + timedelta(days=1)  # a Thursday inside the first backtest week
SECOND = WEEK + timedelta(days=7)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NEW_YORK)


def _reshaped(bars: dict[str, list[Bar]], day: date) -> dict[str, list[Bar]]:
    """`bars` with every symbol's `day` given another high, low and close (the same open)."""

    def other(b: Bar) -> Bar:
        if b.day != day:
            return b
        return b.model_copy(update={"high": b.open * 1.2, "low": b.open * 0.7, "close": b.open * 0.75})

    return {s: [other(b) for b in rows] for s, rows in bars.items()}


def test_a_symbol_with_daily_prices_only_is_priced_all_session_at_its_open_and_nothing_else_of_the_day(
    tmp_path: Path,
) -> None:
    bars = history(WEEK + timedelta(days=7))
    _write(tmp_path / "a", bars)
    _write(tmp_path / "b", _reshaped(bars, DAY))
    bar = next(b for b in bars["SPY"] if b.day == DAY)
    times = [_at(DAY, 9, 31), _at(DAY, 12), _at(DAY, 14), _at(DAY, 15, 50)]
    seen = {
        folder: [CsvQuotes(tmp_path / folder, TradingCalendar()).latest(["SPY", "TLT"], t) for t in times]
        for folder in ("a", "b")
    }
    assert seen["a"] == seen["b"]  # the day's high, low and close changed: no price before the close moved
    for quotes in seen["a"]:
        spy = quotes["SPY"]
        assert (spy.price, spy.kind, spy.as_of, spy.tradable) == (bar.open, "daily-open", _at(DAY, 9, 30), False)


class _Quotes:
    """The quote service as the paper broker asks it, answering what a CSV folder gives a daily-only symbol."""

    def __init__(self, price: float):
        self.price = price

    def quote(self, symbol: str, now: datetime | None = None) -> Quote:
        assert now is not None
        opened = datetime.combine(now.astimezone(NEW_YORK).date(), time(9, 30), NEW_YORK)
        return Quote(symbol=symbol, price=self.price, as_of=opened, provider="csv", kind="daily-open")

    def quotes(self, symbols: Sequence[str], now: datetime | None = None) -> dict[str, Quote]:
        return {s: self.quote(s, now) for s in symbols}


class _Session:
    def __init__(self, opens: float, closes: float):
        self.opens, self.closes = opens, closes
        self.asked: list[tuple[str, date]] = []

    def opening_price(self, symbol: str, day: date) -> float | None:
        self.asked.append(("open", day))
        return self.opens

    def closing_price(self, symbol: str, day: date) -> float | None:
        self.asked.append(("close", day))
        return self.closes


def test_an_order_sent_at_a_sessions_open_given_all_day_fills_at_the_close_never_before(storage: Storage) -> None:
    clock = Clock(_at(DAY, 12))
    session = _Session(opens=100.0, closes=104.0)
    broker = PaperBroker(
        "acct_1",
        starting_cash=100_000.0,
        events=storage.events,
        clock=clock,
        calendar=TradingCalendar(),
        prices=session,
        quotes=_Quotes(100.0),
        slippage_bps=0,
    )
    sent = broker.submit(_order("SPY", Side.BUY, 10, "open"))
    assert sent.status is OrderStatus.ACCEPTED  # not filled at the 9:30 price, hours before it was sent
    kept = broker.submit(_order("TLT", Side.BUY, 10, "hedge"))
    clock.set(_at(DAY, 15, 59))
    assert broker.account({"SPY": 100.0}).positions == {}
    assert {o.client_order_id for o in broker.open_orders()} == {sent.client_order_id, kept.client_order_id}
    canceled = broker.cancel(kept.client_order_id)  # before the close: still queued, so canceled
    assert canceled is not None and canceled.asked
    clock.set(_at(DAY, 16))
    [fill] = broker.fills()
    assert (fill.price, fill.price_source, fill.filled_at) == (104.0, "daily close", _at(DAY, 16))
    assert fill.symbol == "SPY" and fill.filled_at > _at(DAY, 12)
    assert ("open", DAY) not in session.asked  # the session's open priced nothing


def _sources(admin_url: str, name: str) -> list[tuple[str, datetime, datetime]]:
    """Each recorded fill's price source, fill time and the time its order was accepted."""
    with psycopg.connect(_url(admin_url, backtest_database(name))) as conn:
        accepted = {
            cid: datetime.fromisoformat(at)
            for cid, at in conn.execute(
                "SELECT payload->'order'->>'client_order_id', occurred_at::text FROM events "
                "WHERE type = 'PaperOrderAccepted'"
            )
        }
        return [
            (source, datetime.fromisoformat(filled), accepted[cid])
            for source, filled, cid in conn.execute(
                "SELECT payload->'fill'->>'price_source', payload->'fill'->>'filled_at', "
                "payload->'fill'->>'client_order_id' FROM events WHERE type = 'OrderFilled'"
            )
        ]


def _before(admin_url: str, name: str, until: datetime) -> list[tuple[str, str]]:
    """Every event of the books stamped before `until`: (type, payload), in order, but the backtest's own record."""
    with psycopg.connect(_url(admin_url, backtest_database(name))) as conn:
        rows = conn.execute(
            "SELECT type, payload::text FROM events WHERE occurred_at < %s AND stream <> 'backtest' ORDER BY id",
            (until,),
        ).fetchall()
    return [(t, p) for t, p in rows]


def test_nothing_a_backtest_does_before_a_sessions_close_reads_that_sessions_high_low_or_close(
    database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """The look-ahead audit for checkpoints: two backtests on files that differ only in one session's high, low and
    close record the same events, prompts, quotes, decisions and orders, up to that session's close. With the daily
    bridge its 12:00, 14:00 and 15:50 checkpoints priced every symbol on a path through them."""
    bars = history(SECOND + timedelta(days=10))
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    names = []
    for folder, data in (("a", bars), ("b", _reshaped(bars, DAY))):
        _write(tmp_path / folder, data)
        names.append(_unique())
        spec = BacktestSpec(name=names[-1], first=WEEK, last=WEEK, offline=True, replay=False, csv=tmp_path / folder)
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    closes = _at(DAY, 16)
    a, b = (_before(pg_admin_url, n, closes) for n in names)
    inside = [
        p for t, p in a if t == "QuoteFetched" and datetime.fromisoformat(json.loads(p)["now"]) >= _at(DAY, 9, 30)
    ]
    assert inside, "the premise: checkpoints quoted inside the session"
    assert a == b
    # And the days after it did read the new close: the two books part there.
    assert _before(pg_admin_url, names[0], _at(DAY + timedelta(days=1), 16)) != _before(
        pg_admin_url, names[1], _at(DAY + timedelta(days=1), 16)
    )


def test_fills_at_the_close_are_after_their_orders_and_counted_beside_the_figures(
    database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(SECOND + timedelta(days=10)))
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=SECOND, offline=True, replay=False, csv=folder)
    backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    fills = _sources(pg_admin_url, name)
    assert {s for s, _, _ in fills} <= {"daily open", "daily close"}  # no modelled price anywhere
    at_close = [f for f in fills if f[0] == "daily close"]
    assert at_close and len(at_close) < len(fills)  # the premise: orders sent before the open and inside sessions
    for _, filled, accepted in fills:
        assert filled > accepted  # never a fill priced before its order
    for _, filled, _ in at_close:
        assert filled.astimezone(NEW_YORK).time() in (time(16), time(13))  # a session's close (13:00 on early ones)
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 2, 20, tzinfo=UTC)), None, print)
    board = leaderboard(live, backtest=name)
    [note] = [n for n in board.notes if n.startswith("filled at the close")]
    assert f"{len(at_close)} of the accounts' {len(fills)} fills" in note
    assert not any(n.startswith("intraday prices modelled") for n in board.notes)


@pytest.mark.parametrize("source", ["csv daily-bridge", "daily close"])
def test_books_of_either_version_say_what_priced_their_fills(source: str) -> None:
    """Books a backtest of an earlier version ran keep their bridged fills: the note still says what they are."""
    fills = [
        Fill(
            client_order_id=f"c{i}",
            account_id="acct_1",
            symbol="SPY",
            side=Side.BUY,
            qty=1,
            price=100.0,
            commission=0.0,
            filled_at=_at(DAY, 16),
            price_source=src,
        )
        for i, src in enumerate([source, "daily open"])
    ]
    [note] = fill_price_notes(fills)
    assert "1 of the accounts' 2 fills (acct_1 1)" in note
    said = "open, high, low and close" if source.endswith("daily-bridge") else "filled at that session's close"
    assert said in note, note
