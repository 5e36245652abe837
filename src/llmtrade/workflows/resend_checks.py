"""Whether an order refused earlier may be sent again: what the account holds now, and the splits since it was sized.

A refused order (OrderRejected) is sent again by a rerun of the week (execution.py `execute_plan`) and by every
checkpoint (legs.py `resume_unfinished`) while it still does what its plan meant. Alpaca takes a sell of shares the
account does not hold as a short sale, and a buy past a short's size as a new long: a close refused because the user
had sold the shares by hand ("insufficient qty available"), sent again by the rerun once the hand order had filled,
opened a short of 10 nobody asked for; a refused resize sent again by a checkpoint after the account went flat opened
one of 4 (an audit, with the real alpaca-py client against the loopback fake). The rerun checked nothing once any of
the plan's orders was on record, a refusal included; the checkpoint let every resize through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

from llmtrade.domain.events import NewEvent
from llmtrade.domain.trading import (
    LegHeldBack,
    Order,
    OrderRejected,
    OrdersPlanned,
    OrderSubmitted,
    PlanAbandoned,
    Position,
    Side,
)
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits

NOT_VALID = "no longer valid for what the account holds"
# Said of an order given up for a refusal that lasts the week (OrderRejected.lasting), after the broker's own words.
REFUSED_FOR_GOOD = "a refusal that sending it again this week cannot change: not sent again this week"
SPLIT_SINCE = "planned before a split of its symbol, in the shares before it"

# The records of an order left undone, by event type: refused, or an opening leg held back for its close.
REFUSALS: dict[str, type[OrderRejected] | type[LegHeldBack]] = {
    OrderRejected.event_type(): OrderRejected,
    LegHeldBack.event_type(): LegHeldBack,
}


def still_valid(order: Order, positions: Mapping[str, Position], side: int | None = None) -> bool:
    """Whether a refused order or a held-back leg still does what its plan meant, given what is held now (the broker's
    positions, by symbol, signed).

    A close must find the position it closes (same side, at least its size); an opening leg must find the symbol flat
    (its close filled, nothing opened since); a resize must find the position it resizes on its plan's `side` (1 long,
    -1 short: `planned_sides`; None, not known: never valid) and leave it there, never at or past zero (a resize of a
    long sold down by hand would sell short)."""
    held = positions[order.symbol].qty if order.symbol in positions else 0
    if order.intent == "close":
        return (held > 0 if order.side is Side.SELL else held < 0) and abs(held) >= order.qty
    if order.intent == "open":
        return held == 0
    if order.intent == "resize":
        after = held + (order.qty if order.side is Side.BUY else -order.qty)
        return side is not None and held * side > 0 and after * side > 0
    return True  # brokers/order_plan.py plans no other intent


def planned_sides(plans: Iterable[OrdersPlanned], orders: Iterable[Order]) -> dict[str, int]:
    """client_order_id -> the side (1 long, -1 short) of the position each resize of `orders` was planned from, read
    from the plans (`positions_before`) that hold it: a sell of 4 reduces a long or adds to a short."""
    resizes = {o.client_order_id: o.symbol for o in orders if o.intent == "resize"}
    sides: dict[str, int] = {}
    for plan in plans:
        for order in plan.orders:
            symbol = resizes.get(order.client_order_id)
            before = plan.positions_before.get(symbol) if symbol is not None else None
            if before is not None and before.qty:
                sides[order.client_order_id] = 1 if before.qty > 0 else -1
    return sides


def week_plans(events: EventStore, week_id: date, orders: Sequence[Order]) -> list[OrdersPlanned]:
    """The week's plans (OrdersPlanned), read only when `orders` hold a resize (`planned_sides` needs them)."""
    if not any(o.intent == "resize" for o in orders):
        return []
    return [events.payload(OrdersPlanned, e) for e in events.read(week_id=week_id, type=OrdersPlanned.event_type())]


def undone(events: EventStore, stream: str) -> dict[str, OrderRejected | LegHeldBack]:
    """client_order_id -> the latest refusal or hold-back of each order on `stream` not sent since and
    whose plan was not abandoned (nor the order given up alone). Oldest first: what a checkpoint (legs.py) and a
    rerun of the week (execution.py) may send again."""
    latest: dict[str, OrderRejected | LegHeldBack] = {}
    given_up: set[str] = set()
    # Read at every checkpoint, for every account: each event parsed once per process (events.payload).
    abandoned, submitted = PlanAbandoned.event_type(), OrderSubmitted.event_type()
    for event in events.read_stream(stream):
        if event.type == abandoned:
            given_up.update(events.payload(PlanAbandoned, event).client_order_ids)
        elif (kind := REFUSALS.get(event.type)) is not None:
            record = events.payload(kind, event)
            latest[record.order.client_order_id] = record
        elif event.type == submitted:
            latest.pop(events.payload(OrderSubmitted, event).order.client_order_id, None)
    return {cid: r for cid, r in latest.items() if cid not in given_up}


def split_since(events: EventStore, stream: str, orders: Sequence[Order]) -> set[str]:
    """The `orders` sized before a split of their symbol came (its ex-day) or was recorded: a close of the 50 shares
    held before a 4-for-1 would sell a quarter of the 200 held now, a buy sized before a 1-for-4 would buy four times
    the value the risk gate approved (what brokers/paper_book.py `crossing` cancels for orders already queued)."""
    splits = [s for s in recorded_splits(events) if s.symbol in {o.symbol for o in orders}]
    if not splits:
        return set()
    planned: dict[str, datetime] = {}  # each order's first refusal or hold-back: when it was sized
    for event in events.read_stream(stream):
        if event.type in REFUSALS:
            planned.setdefault(events.payload(REFUSALS[event.type], event).order.client_order_id, event.occurred_at)
    return {
        o.client_order_id
        for o in orders
        if o.client_order_id in planned
        and any(s.symbol == o.symbol and planned[o.client_order_id] < max(s.at, s.known_at or s.at) for s in splits)
    }


def unsendable(
    events: EventStore,
    stream: str,
    orders: Sequence[Order],
    positions: Mapping[str, Position],
    sides: Mapping[str, int],
) -> dict[str, list[Order]]:
    """The `orders` (refused earlier, about to be sent again) that must not go, by why: sized before a split
    (SPLIT_SINCE), or no longer doing what their plan meant for what the account holds (NOT_VALID, `still_valid`;
    `sides`: `planned_sides`)."""
    crossed = split_since(events, stream, orders)
    found = {
        SPLIT_SINCE: [o for o in orders if o.client_order_id in crossed],
        NOT_VALID: [
            o
            for o in orders
            if o.client_order_id not in crossed and not still_valid(o, positions, sides.get(o.client_order_id))
        ],
    }
    return {reason: dropped for reason, dropped in found.items() if dropped}


def refused_for_good(refused: OrderRejected, positions: Mapping[str, Position]) -> PlanAbandoned:
    """The abandonment of an order whose refusal lasts the week (`refused.lasting`: the asset not tradable, not to be
    sold short): the order alone is given up, in the broker's words, so no checkpoint nor rerun sends it again (each
    had, until the week ended, a degraded run and an alert every time); `positions`: the broker's now. Written with
    the refusal, in one append (execution.py `send_orders`)."""
    order = refused.order
    return PlanAbandoned(
        account_id=order.account_id,
        broker=refused.broker,
        reason=f"{refused.reason}; {REFUSED_FOR_GOOD}",
        client_order_ids=[order.client_order_id],
        planned_positions={},
        actual_positions={s: p.qty for s, p in positions.items() if p.qty},
        whole_plan=False,
    )


def give_up_alone(
    events: EventStore,
    orders: Sequence[Order],
    *,
    broker: str,
    reason: str,
    positions: Mapping[str, Position],
    stream: str,
    week_id: date,
    run_id: str,
    whole_plan: bool = False,
) -> PlanAbandoned:
    """Record `orders` (one account's) given up for `reason` (PlanAbandoned on `stream`): never sent again, and an
    opening leg waiting for one of them given up with it (ended_close.py). `whole_plan` False: only these orders,
    the rest of their plan still goes."""
    account_id = orders[0].account_id
    gone = PlanAbandoned(
        account_id=account_id,
        broker=broker,
        reason=reason,
        client_order_ids=[o.client_order_id for o in orders],
        planned_positions={},
        actual_positions={s: p.qty for s, p in positions.items() if p.qty},
        whole_plan=whole_plan,
    )
    events.append([NewEvent.of(gone, stream=stream, week_id=week_id, run_id=run_id, account_id=account_id)])
    return gone


def give_up_unsendable(
    events: EventStore,
    plan: OrdersPlanned,
    orders: Sequence[Order],
    positions: Mapping[str, Position],
    *,
    stream: str,
    week_id: date,
    run_id: str,
) -> list[PlanAbandoned]:
    """Give up alone (`give_up_alone`) each of `orders` (refused earlier, of `plan`) that must not go again
    (`unsendable`, their sides read from `plan`); what was given up, by reason."""
    dropped = unsendable(events, stream, orders, positions, planned_sides([plan], orders))
    return [
        give_up_alone(
            events,
            gone,
            broker=plan.broker,
            reason=why,
            positions=positions,
            stream=stream,
            week_id=week_id,
            run_id=run_id,
        )
        for why, gone in dropped.items()
    ]
