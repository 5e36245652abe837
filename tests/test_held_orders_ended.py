"""An order that ended without a fill (refused at submit, canceled) does not keep its symbol "held" out of the
universe for ever: every read, checkpoint and weekly run would price it from then on (review S)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from llmtrade.config.loader import load_config
from llmtrade.discovery.universe import held_outside
from llmtrade.domain.events import NewEvent
from llmtrade.domain.trading import (
    Fill,
    Order,
    OrderFilled,
    OrderResult,
    OrderStatus,
    OrderSubmitted,
    QueuedOrderCanceled,
    Side,
)
from llmtrade.storage.bootstrap import Storage

CONFIG = load_config(None).config
WEEK = date(2026, 1, 7)


def _submitted(cid: str, symbol: str, status: OrderStatus) -> NewEvent:
    order = Order(
        client_order_id=cid, account_id="acct_1", week_id=WEEK, symbol=symbol, side=Side.BUY, qty=5, intent="open"
    )
    result = OrderResult(client_order_id=cid, status=status)
    return NewEvent.of(
        OrderSubmitted(order=order, broker="paper", result=result), stream=f"t-{cid}", account_id="acct_1", week_id=WEEK
    )


def test_orders_that_ended_unfilled_hold_nothing(storage: Storage) -> None:
    events = storage.events
    assert "XYZ" not in CONFIG.assets.symbols
    events.append([_submitted("c1", "XYZ", OrderStatus.REJECTED)])
    events.append([_submitted("c2", "XYW", OrderStatus.ACCEPTED)])
    assert held_outside(CONFIG, events) == ["XYW"]  # queued: may fill before a valuation records it
    cancel = QueuedOrderCanceled(
        account_id="acct_1", client_order_id="c2", reason="split: x", status=OrderStatus.CANCELED
    )
    events.append([NewEvent.of(cancel, stream="t-cancel", account_id="acct_1", week_id=WEEK)])
    assert held_outside(CONFIG, events) == []


def test_an_order_recorded_after_its_fill_holds_nothing_once_sold(storage: Storage) -> None:
    """A rerun records an order the broker already filled (recover_orders) after a valuation recorded its fill."""
    events = storage.events
    at = datetime(2026, 1, 7, 15, tzinfo=UTC)
    for cid, side in (("b1", Side.BUY), ("s1", Side.SELL)):
        fill = Fill(client_order_id=cid, account_id="acct_1", symbol="XYZ", side=side, qty=5, price=10.0, filled_at=at)
        events.append([NewEvent.of(OrderFilled(fill=fill, broker="paper"), stream=f"f-{cid}", account_id="acct_1")])
    events.append([_submitted("s1", "XYZ", OrderStatus.FILLED)])
    assert held_outside(CONFIG, events) == []
