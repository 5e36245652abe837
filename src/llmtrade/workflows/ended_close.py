"""A side change whose close the broker ended (expired, canceled, rejected) before filling it whole.

The opening leg of a side change waits for its close to fill (workflows/execution.py `send_orders`, LegHeldBack).
A close that ends part filled (a DAY order expired at the close with 4 of 10 sold) never fills: the leg waited for
good, its note promising "a rerun or the next checkpoint sends it" on every later run (trial A, p3). The account is
not flat, so the leg must not go (it would open against shares still held, outside what the gate approved): it is
abandoned instead, a PlanAbandoned of its own naming the close's end (the leg only: `whole_plan` False), which the
run says as a degraded one and which stops every later run from sending or listing it (workflows/legs.py); the
plan's other orders are still sent, by this run or a rerun (`still_to_send`). What the close did fill is in the
audit log (brokers/fills.py); what remains is held and managed as any position is, and the next plan starts from it.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmtrade.brokers.protocol import Broker
from llmtrade.domain.trading import Order, OrderResult, OrdersPlanned, OrderStatus, PlanAbandoned

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
        whole_plan=False,  # the leg only: the plan's other orders (a later buy of another symbol) still go
    )


def still_to_send(plans: Sequence[OrdersPlanned], abandoned: Sequence[PlanAbandoned]) -> list[OrdersPlanned]:
    """`plans` less those abandoned whole, and less the legs abandoned alone: a plan [close SPY, open SPY short, buy
    TLT] whose run died after the leg's abandonment and before TLT was sent sends TLT on a rerun (skipping the whole
    plan for its leg's abandonment left TLT unsent for good, though the close had gone). Each order still goes once:
    the rerun asks the broker for it first (execution.py `recover_orders`)."""
    given_up = {cid for a in abandoned if a.whole_plan for cid in a.client_order_ids}
    legs = {cid for a in abandoned if not a.whole_plan for cid in a.client_order_ids}
    return [
        p.model_copy(update={"orders": [o for o in p.orders if o.client_order_id not in legs]}) if legs else p
        for p in plans
        if not any(o.client_order_id in given_up for o in p.orders)
    ]


def leg_note(abandoned: PlanAbandoned) -> str:
    """The line a person reads of a leg abandoned alone: the plan's other orders went (or go), only this one did not."""
    return (
        f"account {abandoned.account_id}'s order {', '.join(abandoned.client_order_ids)} abandoned: "
        f"{abandoned.reason}. The plan's other orders are sent as planned; check the account at its broker "
        "(the next week plans from what it holds)"
    )
