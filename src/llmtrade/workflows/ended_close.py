"""A side change whose close the broker ended (expired, canceled, rejected) before filling it whole.

The opening leg of a side change waits for its close to fill (workflows/execution.py `send_orders`, LegHeldBack).
A close that ends part filled (a DAY order expired at the close with 4 of 10 sold) never fills: the leg waited for
good, its note promising "a rerun or the next checkpoint sends it" on every later run (trial A, p3). The account is
not flat, so the leg must not go (it would open against shares still held, outside what the gate approved): it is
abandoned instead, a PlanAbandoned of its own naming the close's end, which the run says as a degraded one and which
stops every later run from sending or listing it (workflows/legs.py). What the close did fill is in the audit log
(brokers/fills.py); what remains is held and managed as any position is, and the next plan starts from it.
"""

from __future__ import annotations

from llmtrade.brokers.protocol import Broker
from llmtrade.domain.trading import Order, OrderResult, OrderStatus, PlanAbandoned

_ENDED = (OrderStatus.REJECTED, OrderStatus.CANCELED)


def leg_after_ended_close(broker: Broker, leg: Order, close: OrderResult) -> PlanAbandoned | None:
    """The opening `leg`'s abandonment when its `close` (as the broker has it now) ended without filling whole; None
    while the close may still fill (or has filled)."""
    if close.status not in _ENDED:
        return None
    held = {s: p.qty for s, p in broker.account({}).positions.items() if p.qty}
    filled = f"{close.filled_qty} shares filled" if close.filled_qty else "nothing filled"
    return PlanAbandoned(
        account_id=leg.account_id,
        broker=broker.name,
        reason=(
            f"its close {close.client_order_id} ended at {broker.name} before filling whole ({filled}; "
            f"{close.message}), so {leg.symbol} is still held ({held.get(leg.symbol, 0)} shares) and the opening "
            f"leg {leg.side.value} {leg.qty} {leg.symbol} ({leg.client_order_id}) was not sent"
        ),
        client_order_ids=[leg.client_order_id],
        planned_positions={},
        actual_positions=held,
    )
