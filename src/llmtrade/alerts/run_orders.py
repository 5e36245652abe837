"""The orders a degraded run left undone, for its alert (incidents.py `_runs`): each order and why.

A run is degraded when an order did not go: the broker refused it (OrderRejected: Alpaca's "insufficient buying
power", a wash trade, a cross through zero), its plan or the order alone was given up (PlanAbandoned), the circuit
breaker or the kill switch blocked it (OrderBlocked), or the broker ended one unfilled (QueuedOrderCanceled: rejected
at the open, expired). Each is an event with its reason; the alert, the one thing a cron user reads, said only "finished
without some of its inputs or orders; `llmtrade status` names them", naming neither the order nor the reason (an
audit of Alpaca's refusals). One read of the run's events, for a degraded run's incident alone.
"""

from __future__ import annotations

from llmtrade.domain.checkpoints import OrderBlocked
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.trading import OrderRejected, PlanAbandoned, QueuedOrderCanceled
from llmtrade.storage.event_store import EventStore

_TYPES = [
    OrderRejected.event_type(),
    PlanAbandoned.event_type(),
    OrderBlocked.event_type(),
    QueuedOrderCanceled.event_type(),
]
# Lines said in one alert; the rest are counted ("and N more"), `llmtrade status` names them all.
_SAID = 10


def undone_orders(events: EventStore, run_id: str | None) -> list[str]:
    """One line per order run `run_id` left undone, with its reason, in the order they were recorded ([] for none)."""
    if run_id is None:
        return []
    return [_line(event) for event in events.read(run_id=run_id, type=_TYPES)]


def undone_text(lines: list[str]) -> str:
    """`undone_orders`' lines as the alert's body says them."""
    said = "; ".join(lines[:_SAID])
    more = len(lines) - _SAID
    return f" Orders that did not go: {said}" + (f"; and {more} more" if more > 0 else "") + "."


def _line(event: StoredEvent) -> str:
    if event.type == OrderRejected.event_type():
        refused = OrderRejected.from_event(event)
        order = refused.order
        what = f"{order.account_id}'s {order.intent} {order.side.value} {order.qty} {order.symbol}"
        again = " (given up for the week)" if refused.lasting else " (a rerun or the next checkpoint retries it)"
        return f"{what} refused by {refused.broker}: {refused.reason}{again}"
    if event.type == PlanAbandoned.event_type():
        gone = PlanAbandoned.from_event(event)
        return f"{gone.account_id}'s plan given up ({', '.join(gone.client_order_ids)}): {gone.reason}"
    if event.type == OrderBlocked.event_type():
        blocked = OrderBlocked.from_event(event)
        return f"{blocked.account_id}'s order {blocked.client_order_id} blocked: {blocked.reason}"
    ended = QueuedOrderCanceled.from_event(event)
    return f"{ended.account_id}'s order {ended.client_order_id} ended unfilled: {ended.reason}"
