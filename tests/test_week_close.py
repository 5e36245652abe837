"""workflows/week_close.py `held_at_close` for a broker that reports no P/L (Alpaca's account: equity and cash only), on
a real PostgreSQL: a late postmortem's realised and unrealised P/L stay unreported, as an on-time one's, instead of the
later weeks' fills' realised P/L, negated, passing for the week's."""

from __future__ import annotations

from datetime import UTC, datetime

from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import fill_stream
from llmtrade.domain.trading import AccountSnapshot, Fill, OrderFilled, Side
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.week_close import held_at_close

CLOSE = datetime(2026, 1, 13, 21, 0, tzinfo=UTC)  # the week's close (16:00 New York)


def _filled(storage: Storage, cid: str, side: Side, price: float, at: datetime, commission: float = 0.0) -> None:
    fill = Fill(
        client_order_id=cid,
        account_id="acct_1",
        symbol="SPY",
        side=side,
        qty=10,
        price=price,
        commission=commission,
        filled_at=at,
    )
    event = NewEvent.of(OrderFilled(fill=fill, broker="alpaca"), stream=fill_stream("acct_1", cid), account_id="acct_1")
    storage.events.append([event])


def test_a_late_week_close_of_a_broker_without_pnl_reports_none_not_the_later_weeks_realised_pnl_negated(
    storage: Storage,
) -> None:
    _filled(storage, "w0107-buy", Side.BUY, 100.0, datetime(2026, 1, 8, 15, 0, tzinfo=UTC))
    # A later week sold it at a 100.0 gain (and paid 1.0): after the close, so the account now is not the week's.
    _filled(storage, "w0121-sell", Side.SELL, 110.0, datetime(2026, 1, 21, 15, 0, tzinfo=UTC), commission=1.0)
    # What Alpaca reports now: cash and equity, no P/L (brokers/alpaca.py `account`).
    now = AccountSnapshot(account_id="acct_1", cash=100_099.0, equity=100_099.0, buying_power=100_099.0, positions={})
    equity, realized, unrealized = held_at_close(storage.events, now, {"SPY": 105.0}, CLOSE) or (None, None, None)
    # At the close: 99,000 cash and 10 SPY at 105.
    assert equity == 100_050.0
    # Not -99.0 (the later sale's gain less its commission, taken off a realised P/L the broker never gave).
    assert realized is None
    assert unrealized is None  # as an on-time postmortem of this broker reads it: not reported
