"""Trades the user makes by hand in an Alpaca paper account llmtrade trades too, through the command line (the real
alpaca-py client against the loopback fake, the user's orders sent with alpaca-py as a script of theirs would): they
are the user's, in neither llmtrade's return, its week P/L, its breaker nor its sizing (README: Reconciliation)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest
from typer.testing import CliRunner

from llmtrade.clock import FixedClock
from llmtrade.risk.controls import breaker_state
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.crash_points import url_of
from tests.fakes.by_hand import trade_by_hand
from tests.support import FIXED_NOW
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    KEY,
    OPENED,
    SECRET,
    CountingAlpaca,
    Runs,
    World,
    alpaca,
    runs,
)
from tests.test_crash_points import world as crash_world  # noqa: F401  (fixture)

runner = CliRunner()
RISE_FROM = "2026-01-12"


@pytest.fixture(scope="module")
def world(crash_world: World) -> Iterator[World]:  # noqa: F811
    """The crash tests' market with QQQ 10% higher from Monday 2026-01-12 on (open, high, low and close)."""
    path = crash_world.csv / "QQQ.csv"
    header, *rows = path.read_text().splitlines()
    moved = []
    for row in rows:
        day, *values = row.split(",")
        if day >= RISE_FROM:
            values[:4] = [str(float(v) * 1.1) for v in values[:4]]
        moved.append(",".join([day, *values]))
    path.write_text("\n".join([header, *moved]) + "\n")
    yield crash_world


def _by_hand(alpaca: CountingAlpaca, side: str, qty: int, symbol: str) -> None:  # noqa: F811
    """An order the user sends from a script of their own (an id of theirs): alpaca-py against the same account."""
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    client = TradingClient(KEY, SECRET, paper=True, url_override=alpaca.server.base_url)
    order = MarketOrderRequest(
        symbol=symbol,
        qty=qty,
        side=OrderSide(side),
        time_in_force=TimeInForce.DAY,
        client_order_id=f"mine-{side}-{symbol}",
    )
    client.submit_order(order)


def test_a_round_trip_made_by_hand_is_neither_the_accounts_return_nor_its_breakers_peak(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """The user buys 200 AAPL by hand at 100 and sells them at 150. Before, the 10,000 they made was in the equity
    llmtrade called its own once the position was closed (only an open one's P/L was taken out): status showed acct_1
    +10.0% and a week P/L of +10,000, the checkpoint valued it at 110,000 and the breaker's peak rose to it (a later
    loss by hand would have halted llmtrade's trading), and the next week would have been sized on it."""
    name = runs.fresh_beside(alpaca)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))
    runs.invoke(["run-weekly"], OPENED)
    before = runs.account_shown(ALPACA_ACCOUNT, "2026-01-07T11:00:00-05:00")

    alpaca.server.set_price("AAPL", 100.0)
    _by_hand(alpaca, "buy", 200, "AAPL")
    alpaca.server.set_price("AAPL", 150.0)
    _by_hand(alpaca, "sell", 200, "AAPL")
    after = runs.account_shown(ALPACA_ACCOUNT, "2026-01-07T11:45:00-05:00")
    assert {d["difference"]["kind"] for d in after["differences"]} == {"unknown_fill"}  # seen, and said
    assert after["cash"] > before["cash"] + 9_999  # the broker's cash holds the user's 10,000
    assert (after["equity"], after["total_return"], after["week_pnl"]) == (
        before["equity"],
        before["total_return"],
        before["week_pnl"],
    )

    runs.invoke(["checkpoint", "12:00"], "2026-01-07T12:00:00-05:00")
    recorded = [(t, e) for _, t, e in runs.events(name) if e.get("account_id") == ALPACA_ACCOUNT]
    valued = [e["equity"] for t, e in recorded if t == "AccountValued" and e["occasion"].startswith("checkpoint")]
    assert valued and max(valued) < 100_500  # not 110,000
    assert _breaker_peak(runs, name) < 100_500


def test_the_leaderboard_folds_llmtrades_own_fills_not_the_trades_made_by_hand(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """Every fill Alpaca lists is recorded (the audit log), the user's included. Before, the leaderboard folded them
    all into acct_1's books: a round trip made by hand in a symbol the market data has no file for (AAPL, outside the
    universe) refused the whole leaderboard (exit 2), and one in a universe symbol (GLD) was credited to acct_1. Now
    its books are its own orders' fills, as status's figures are."""
    runs.fresh_beside(alpaca)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))
    runs.invoke(["run-weekly"], OPENED)
    for symbol in ("AAPL", "GLD"):
        alpaca.server.set_price(symbol, 100.0)
        _by_hand(alpaca, "buy", 100, symbol)
        alpaca.server.set_price(symbol, 150.0)
        _by_hand(alpaca, "sell", 100, symbol)
    # 50 QQQ bought by hand and adopted on Thursday: the books hold them from then, at Wednesday's close.
    alpaca.server.set_price("QQQ", 90.0)
    _by_hand(alpaca, "buy", 50, "QQQ")
    runs.invoke(["positions", "adopt", ALPACA_ACCOUNT, "QQQ"], "2026-01-08T10:00:00-05:00")
    after = "2026-01-14T07:00:00-05:00"
    runs.invoke(["postmortem"], after)  # records the hand fills with the week's

    board = json.loads(runs.invoke(["leaderboard", "--live", "--json"], after))
    row = {s["name"]: s for s in board["standings"]}[ALPACA_ACCOUNT]
    curve = {c["name"]: c for c in board["curves"]}[ALPACA_ACCOUNT]
    # Its own SPY, bought at Wednesday's open and marked at the close, and the QQQ adopted: the hand trades' 10,000
    # (+10%) nowhere.
    equity = dict(zip(curve["sessions"], curve["equity"], strict=True))
    qqq = float(_close(runs, "QQQ", "2026-01-09"))
    assert equity["2026-01-12"] - equity["2026-01-09"] == pytest.approx(50 * qqq * 0.1, rel=1e-3)  # the adopted QQQ
    assert equity["2026-01-09"] == pytest.approx(equity["2026-01-07"])  # adopted at that close: nothing made before
    assert -0.05 < equity["2026-01-07"] / 100_000.0 - 1 < 0
    assert row["total_return"] == pytest.approx(curve["equity"][-1] / 100_000.0 - 1)


def _breaker_peak(runs: Runs, name: str) -> float:  # noqa: F811
    """acct_1's breaker peak as llmtrade reads it (risk/controls.breaker_state: its last recorded state, else the
    starting equity). The BreakerUpdated events alone, read with a default, passed whatever the breaker held when it
    recorded none."""
    with open_storage(Settings(DATABASE_URL=url_of(runs.world.admin, name)), FixedClock(FIXED_NOW)) as storage:
        state, _ = breaker_state(storage.events, ALPACA_ACCOUNT, 100_000.0)
    return state.peak_equity


def _close(runs: Runs, symbol: str, day: str) -> str:  # noqa: F811
    for row in (runs.world.csv / f"{symbol}.csv").read_text().splitlines():
        if row.startswith(day):
            return row.split(",")[4]
    raise AssertionError(f"no {symbol} close on {day}")


def test_an_option_held_by_hand_that_llmtrade_cannot_price_is_neither_the_accounts_return_nor_its_peak(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """The user buys 2 call contracts at 5.00 by hand (1,000: a contract is 100 shares' worth) and they rise to 9.00.
    llmtrade's data prices no option, so it took their P/L out at their cost, i.e. not at all: status showed acct_1
    +0.8% and a week P/L of +800, the checkpoint valued the account 800 higher and the breaker's peak rose with it.
    Alpaca marks the position itself (`unrealized_pl`): that P/L is the user's and is taken out."""
    name = runs.fresh_beside(alpaca)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))
    runs.invoke(["run-weekly"], OPENED)
    before = runs.account_shown(ALPACA_ACCOUNT, "2026-01-07T11:00:00-05:00")

    call = "SPY260116C00600000"
    alpaca.server.set_price(call, 5.0)
    _by_hand(alpaca, "buy", 2, call)
    alpaca.server.set_price(call, 9.0)
    after = runs.account_shown(ALPACA_ACCOUNT, "2026-01-07T11:45:00-05:00")
    assert after["cash"] < before["cash"] - 999  # the broker's cash paid the user's 1,000
    assert {d["difference"]["kind"] for d in after["differences"]} == {"unknown_fill", "unmanaged_position"}
    assert (after["equity"], after["total_return"], after["week_pnl"]) == (
        before["equity"],
        before["total_return"],
        before["week_pnl"],
    )

    runs.invoke(["checkpoint", "12:00"], "2026-01-07T12:00:00-05:00")
    recorded = [(t, e) for _, t, e in runs.events(name) if e.get("account_id") == ALPACA_ACCOUNT]
    valued = [e["equity"] for t, e in recorded if t == "AccountValued" and e["occasion"].startswith("checkpoint")]
    assert valued and max(valued) < before["equity"] + 100  # not 800 higher
    assert _breaker_peak(runs, name) < before["equity"] + 100


def test_an_option_bought_and_sold_by_hand_is_neither_the_accounts_return_nor_its_peak(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """The user buys 1 call by hand at 5.00 and sells it at 9.00: Alpaca's cash gains 400 (a contract is 100 shares'
    worth). The realised P/L of trades made by hand, taken out of the managed equity, was folded per contract without
    its multiplier: 4 taken out, and 396 of the user's gain read as acct_1's (status, its return, its week P/L)."""
    runs.fresh_beside(alpaca)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))
    runs.invoke(["run-weekly"], OPENED)
    before = runs.account_shown(ALPACA_ACCOUNT, "2026-01-07T11:00:00-05:00")

    for put_or_call in ("SPY260116C00600000", "SPY260116P00550000"):
        alpaca.server.set_price(put_or_call, 5.0)
        _by_hand(alpaca, "buy", 1, put_or_call)
        alpaca.server.set_price(put_or_call, 9.0)
        _by_hand(alpaca, "sell", 1, put_or_call)
    after = runs.account_shown(ALPACA_ACCOUNT, "2026-01-07T11:45:00-05:00")
    assert after["cash"] > before["cash"] + 799  # the broker's cash holds the user's 2 x 400
    assert (after["equity"], after["total_return"], after["week_pnl"]) == (
        before["equity"],
        before["total_return"],
        before["week_pnl"],
    )


def test_a_fraction_of_a_unit_bought_by_hand_is_neither_the_accounts_return_nor_its_peak(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """The user buys 0.05 BTCUSD by hand at 40,000 (2,000) and it rises to 50,000. Under one whole unit it is no
    position of the account's, and the broker's mark of it was kept only for positions: its 500 gain read as acct_1's
    (status, its return, its week P/L). Now the broker's mark of a holding under one unit is taken out too."""
    runs.fresh_beside(alpaca)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))
    runs.invoke(["run-weekly"], OPENED)
    before = runs.account_shown(ALPACA_ACCOUNT, "2026-01-07T11:00:00-05:00")

    alpaca.server.set_price("BTCUSD", 40_000.0)
    trade_by_hand(alpaca.server, "BTCUSD", 0.05)
    alpaca.server.set_price("BTCUSD", 50_000.0)
    after = runs.account_shown(ALPACA_ACCOUNT, "2026-01-07T11:45:00-05:00")
    assert after["cash"] < before["cash"] - 1_999  # the broker's cash paid the user's 2,000
    assert (after["equity"], after["total_return"], after["week_pnl"]) == (
        before["equity"],
        before["total_return"],
        before["week_pnl"],
    )
