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

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from llmtrade.brokers.overfills import part_filled, qty_at, scales
from llmtrade.brokers.protocol import Broker
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.ledger import Split
from llmtrade.domain.trading import Order, OrderResult, OrdersPlanned, OrderStatus, OrderSubmitted, PlanAbandoned
from llmtrade.storage.event_store import EventStore

_ENDED = (OrderStatus.REJECTED, OrderStatus.CANCELED)
_EVER = datetime.max.replace(tzinfo=UTC)  # a split recorded is one Alpaca has applied, whatever its ex-day


class SentOrder(NamedTuple):
    """An order as llmtrade sent it, and when (`OrderSubmitted.sent_at`; None: not sent yet, or not known)."""

    order: Order
    at: datetime | None = None


def orders_sent(events: EventStore, history: Sequence[StoredEvent], orders: Sequence[Order]) -> dict[str, SentOrder]:
    """client_order_id -> each order of the orders stream `history` (as read) and of `orders` (the plan), with when it
    was recorded sent: a split recorded before a close was sent never scaled it (`_split_since`)."""
    found: dict[str, SentOrder] = {}
    for event in history:
        if event.type == OrderSubmitted.event_type():
            sent = events.payload(OrderSubmitted, event)
            found[sent.order.client_order_id] = SentOrder(sent.order, sent.sent_at(event.occurred_at))
    for order in orders:  # the plan's order, as before; when it was sent, if it was
        found[order.client_order_id] = SentOrder(order, found.get(order.client_order_id, SentOrder(order)).at)
    return found


def leg_after_ended_close(
    broker: Broker,
    leg: Order,
    close: OrderResult,
    sent: SentOrder | None = None,
    splits: Callable[[], Sequence[Split]] = tuple,
) -> PlanAbandoned | None:
    """The opening `leg`'s abandonment when its `close` (as the broker has it now) ended without filling whole, or
    filled another number of shares than the close was `sent` for (replaced outside llmtrade by a smaller or a
    bigger order: brokers/alpaca_chains.py), or filled whole only in the shares of a split recorded since it was sent
    (`splits`, read only for a fill of another number of shares; `_split_since`); None while the close may still fill
    (or has filled, whole)."""
    other = close.status is OrderStatus.FILLED and sent is not None and close.filled_qty != sent.order.qty
    if close.status not in _ENDED and not other:
        return None
    held = {s: p.qty for s, p in broker.account({}).positions.items() if p.qty}
    scaling = _may_have_scaled(sent, splits()) if other and sent is not None else []
    split = _split_since(sent, close, scaling) if sent is not None else None
    if split is not None:
        return PlanAbandoned(
            account_id=leg.account_id,
            broker=broker.name,
            reason=(
                f"its close {close.client_order_id} filled {close.filled_qty} shares at {broker.name}, filled whole: "
                f"the {sent.order.qty if sent else 0} it was sent for in the shares of the {split} since it was sent "
                f"({broker.name} scales an open order at a split); the opening leg {leg.side.value} {leg.qty} "
                f"{leg.symbol} ({leg.client_order_id}) was sized in the shares before the split, so it was not sent "
                f"(sent as it is, it would have opened another size than the risk gate approved); the account now "
                f"holds {held.get(leg.symbol, 0)} shares of {leg.symbol}, and the next plan starts from them"
            ),
            client_order_ids=[leg.client_order_id],
            planned_positions={},
            actual_positions=held,
            whole_plan=False,  # the leg only: the plan's other orders still go
        )
    if other:
        # A review: a close of 10 replaced by hand with one of 6 filled, Alpaca holding 4, and the leg (sell 10 short)
        # went, refused "insufficient qty" at every later run; replaced with one of 15, it would have gone short 15.
        # Said in the shares of a split that may have scaled it ("30 of 40 filled, 10 sent before the 4-for-1 split"),
        # not against the 10 sent (nor as the repr of the order, which it was).
        if scaling and sent is not None:
            said = part_filled(sent.order, close.filled_qty, _EVER, scaling, sent.at)
            how = f"filled {close.filled_qty} shares at {broker.name} ({said}; {close.message})"
        else:
            was = sent.order.qty if sent is not None else 0
            how = f"filled {close.filled_qty} shares at {broker.name} where it was sent for {was} ({close.message})"
    else:
        filled = f"{close.filled_qty} shares filled" if close.filled_qty else "nothing filled"
        if close.filled_qty and sent is not None:
            # Its part in the shares of a split since (Alpaca's filled_qty is in them), the qty sent named with it:
            # one that may have scaled it (`_may_have_scaled`), not one recorded before it was sent, whose shares it
            # was sent in ("4 of 40 filled, 10 sent before the 4-for-1 split" was said of a close sent after it).
            scaled = _may_have_scaled(sent, splits())
            if qty_at(sent.order, _EVER, scaled, sent.at) != sent.order.qty:
                filled = part_filled(sent.order, close.filled_qty, _EVER, scaled, sent.at)
        how = f"ended at {broker.name} before filling whole ({filled}; {close.message})"
    return PlanAbandoned(
        account_id=leg.account_id,
        broker=broker.name,
        reason=(
            f"its close {close.client_order_id} {how}, so {leg.symbol} is still held ({held.get(leg.symbol, 0)} "
            f"shares) and the opening leg {leg.side.value} {leg.qty} {leg.symbol} ({leg.client_order_id}) was not sent"
        ),
        client_order_ids=[leg.client_order_id],
        planned_positions={},
        actual_positions=held,
        whole_plan=False,  # the leg only: the plan's other orders (a later buy of another symbol) still go
    )


def _may_have_scaled(sent: SentOrder, splits: Sequence[Split]) -> list[Split]:
    """The splits recorded that may have scaled the close `sent` (brokers/overfills.py `scales`: of its symbol, and
    the close perhaps open at it). Counted, a close of 10 replaced with 40 after a 4-for-1 recorded that morning was
    said "filled whole" for the split. Read again with the same send time (`qty_at`, `part_filled`): without it the
    week's start alone bounds them, and drops a split of uncertain ex-day perhaps before the week."""
    return [s for s in splits if scales(s, sent.order, _EVER, sent.at)]


def _split_since(sent: SentOrder, close: OrderResult, since: Sequence[Split]) -> str | None:
    """The splits (named, with their ex-days) among `since` (`_may_have_scaled`) that make `sent`'s `close` fill the
    whole of it in their shares (brokers/overfills.py `qty_at`, within the share Alpaca may round away); None when none
    does (a fill no split explains: replaced by hand). The leg is not resized here: its size was the gate's, in the old
    shares, and its client_order_id, once sent with another qty than planned, could no longer be told from another
    order by a rerun's lookup (brokers/alpaca_same.py)."""
    if not since or abs(close.filled_qty - qty_at(sent.order, _EVER, since, sent.at)) >= 1:
        return None
    return ", ".join(f"{s.named()} split of {s.symbol} (ex-day {s.at.date()})" for s in since)


def given_up_orders(events: EventStore, history: Sequence[StoredEvent]) -> dict[str, PlanAbandoned]:
    """client_order_id -> the abandonment on the orders stream `history` (as read) that gave the order up."""
    found = (events.payload(PlanAbandoned, e) for e in history if e.type == PlanAbandoned.event_type())
    return {cid: gone for gone in found for cid in gone.client_order_ids}


def leg_waiting(
    broker: Broker,
    leg: Order,
    close_id: str,
    given_up: Mapping[str, PlanAbandoned],
    sent: SentOrder | None = None,
    splits: Callable[[], Sequence[Split]] = tuple,
) -> tuple[OrderResult | None, PlanAbandoned | None]:
    """The close `leg` waits for as the broker has it now (None: the broker has none, or it was given up, so never
    sent) and the leg's abandonment when that close will never fill whole; `given_up`: `given_up_orders` of the stream;
    `sent`: the close as it was sent, and when (`orders_sent`; None: not known, a fill is taken as whole); `splits`:
    the splits recorded."""
    if close_id in given_up:
        return None, leg_after_given_up_close(broker, leg, given_up[close_id])
    close = broker.find(close_id)
    return close, None if close is None else leg_after_ended_close(broker, leg, close, sent, splits)


def leg_after_given_up_close(broker: Broker, leg: Order, close: PlanAbandoned) -> PlanAbandoned:
    """The opening `leg`'s abandonment when the close it waits for was given up (`close`): that close is never sent, so
    its fill never comes. The one rule and reason for it: send_orders applies it to a leg whose close a checkpoint has
    just given up (workflows/legs.py), one an earlier run gave up (killed before it wrote the leg's), or a build that
    gave up the close alone. (Builds before this wrote the checkpoint's own wording, "its close was given up (no
    longer valid ...): the opening leg would wait ...", whole_plan False; nothing matches reason texts of schema 2.)"""
    held = {s: p.qty for s, p in broker.account({}).positions.items() if p.qty}
    return PlanAbandoned(
        account_id=leg.account_id,
        broker=broker.name,
        reason=(
            f"its close {', '.join(close.client_order_ids)} was given up ({close.reason}), so the opening leg "
            f"{leg.side.value} {leg.qty} {leg.symbol} ({leg.client_order_id}) would wait for a fill that never comes "
            "and was not sent"
        ),
        client_order_ids=[leg.client_order_id],
        planned_positions={},
        actual_positions=held,
        whole_plan=False,  # the leg only, as its close was given up alone
    )


def still_to_send(plans: Sequence[OrdersPlanned], abandoned: Sequence[PlanAbandoned]) -> list[OrdersPlanned]:
    """`plans` less those abandoned whole: a plan [close SPY, open SPY short, buy TLT] whose run died after the leg's
    abandonment and before TLT was sent sends TLT on a rerun (skipping the whole plan for its leg's abandonment left
    TLT unsent for good, though the close had gone). The orders given up alone stay in their plans, and send_orders
    skips each (it reads the stream's abandonments): a plan's order is known for what it is only among its plan's, and
    an opening leg whose close was left out here was sent as if it had none (its close refused, the run killed before
    the leg was held back, the close given up by the next checkpoint: a sell through the shares still held). Each order
    still goes once: the rerun asks the broker for it first (execution.py `recover_orders`)."""
    given_up = {cid for a in abandoned if a.whole_plan for cid in a.client_order_ids}
    return [p for p in plans if not any(o.client_order_id in given_up for o in p.orders)]


def leg_note(abandoned: PlanAbandoned) -> str:
    """The line a person reads of a leg abandoned alone: the plan's other orders went (or go), only this one did not."""
    return (
        f"account {abandoned.account_id}'s order {', '.join(abandoned.client_order_ids)} abandoned: "
        f"{abandoned.reason}. The plan's other orders are sent as planned; check the account at its broker "
        "(the next week plans from what it holds)"
    )
