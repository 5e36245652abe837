"""Putting a broker's fills (and the account's valuations) in the audit log: once each, for any broker,
safe to run concurrently.

Broker reads write nothing (brokers/protocol.py), so the OrderFilled events that make "what did
account 3 trade on Thursday?" answerable from events are written here, explicitly. Each order's fill
goes to a write-once stream of its own (`fill:{account}:{client_order_id}`) at expected version 0:
two processes recording the same fill cannot both win, and the loser simply skips it, as
pipeline/frozen.py `once` does for the week's stages.

An order still working (a partial fill of an open order) is not recorded yet: its fill may still
grow, and the audit log holds one OrderFilled per order with its final quantity and average price.
It is recorded on the first call after the order is done (filled, canceled or expired).

Call it wherever a run has looked at an account's fills (after execution, at a checkpoint, before a
postmortem): it costs two reads when there is nothing new.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from llmtrade.brokers.fill_view import view_of
from llmtrade.brokers.order_ends import record_order_ends
from llmtrade.brokers.overfills import keep_overfilled, overfill_event
from llmtrade.brokers.per_store import RunNotes
from llmtrade.brokers.protocol import Broker
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.streams import fill_stream, valuation_stream, valuations_stream
from llmtrade.domain.trading import AccountSnapshot, BrokerOrder, Fill, Order, OrderFilled, OrderSubmitted
from llmtrade.errors import BrokerUnavailable, ConcurrencyError
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits


def recorded_fill_ids(events: EventStore, broker: Broker) -> frozenset[str]:
    """client_order_ids of the broker's fills already in the audit log (on any stream, older ledgers too).

    A memoised fold (EventStore.fold): a call reads only the fills recorded since the last one."""
    name = broker.name

    def step(ids: frozenset[str], new: list[StoredEvent]) -> frozenset[str]:
        recorded = (events.payload(OrderFilled, e) for e in new)
        more = {r.fill.client_order_id for r in recorded if r.broker == name}
        return ids | more if more - ids else ids

    return events.fold(
        ("recorded-fill-ids", name),
        account_id=broker.account_id,
        types=[OrderFilled.event_type()],
        start=frozenset(),
        step=step,
    )


def sent_orders(events: EventStore, account_id: str) -> Mapping[str, tuple[Order, datetime]]:
    """client_order_id -> the order as llmtrade sent it (its week, its quantity) and when it was sent (its
    `OrderSubmitted.sent_at`: a split recorded before then never scaled it: brokers/overfills.py `scales`), from the
    account's OrderSubmitted events (the last one of an order wins). A memoised fold: a call reads only the orders
    sent since the last one; not to be changed."""

    def step(
        sent: Mapping[str, tuple[Order, datetime]], new: list[StoredEvent]
    ) -> Mapping[str, tuple[Order, datetime]]:
        more = {}
        for event in new:
            submitted = events.payload(OrderSubmitted, event)
            more[submitted.order.client_order_id] = (submitted.order, submitted.sent_at(event.occurred_at))
        return {**sent, **more}

    return events.fold("sent-orders", account_id=account_id, types=[OrderSubmitted.event_type()], start={}, step=step)


@dataclass(frozen=True)
class Observed:
    """One look at a broker's executions: its fills, and the orders still working when it was taken.

    `version`: None, or what names the broker's books at this look (a broker's `look_at` gives it): a later look
    with an equal version saw the same account (positions, cash), the same open orders and the same fills, so
    what was worked out from those alone holds for it (brokers/reconcile.py `look`, workflows/valuation.py). Only
    a broker that can vouch for its whole book offers one (the paper broker, whose book is events in this
    database); a remote broker is looked at, and everything worked out again, every time."""

    fills: Sequence[Fill]  # in fill order; shared (a broker may hand out its own tuple): not to be changed
    working: frozenset[str]  # client_order_ids of open orders (their fills may still grow)
    orders: tuple[BrokerOrder, ...] = ()  # those open orders as the broker listed them (reconciliation reads them)
    version: Hashable | None = None


# How many times a look whose orders or fills moved while the account was read is taken again before giving up.
LOOK_ATTEMPTS = 4


def look_at(broker: Broker, prices: Mapping[str, float]) -> tuple[AccountSnapshot, Observed]:
    """`broker.account(prices)` with `observe(broker)` as of the same instant: from the broker's own look when it has
    one (one read of its book, with the look's version), else from separate reads bracketed to be consistent. A read.

    A broker without a single look (Alpaca: the account, the positions, the orders are separate calls, and nothing
    names its books at an instant) may fill an order between two of them. Read in the order account-then-orders, an
    order that filled just after the positions were read showed its fill and no position: a false `position_missing`
    recorded for good, and a flat managed view a checkpoint judged and a week planned from (trial A, p10). So the
    orders and fills are read before the account and again after it: when both reads agree, nothing filled (or
    started working, or moved its partial fill) while the account was read, and the positions are those the fills
    make. When they differ the look is taken again, at most LOOK_ATTEMPTS times; an account still moving after that
    (a busy open) raises BrokerUnavailable, a temporary failure (exit 75): a rerun looks again, and nothing is
    judged or recorded from a look that may be torn. It costs one more read of the orders per look; a fill seen
    only in the second read waits for the next look rather than being taken half-seen."""
    once = broker.look_at(prices)
    if once is not None:
        return once
    moved = ""
    for _ in range(LOOK_ATTEMPTS):
        before = observe(broker)
        account = broker.account(prices)
        after = observe(broker)
        moved = _moved(before, after)
        if not moved:
            return account, after
    raise BrokerUnavailable(
        f"{broker.name} account {broker.account_id} kept changing while it was read ({LOOK_ATTEMPTS} looks; the last "
        f"saw {moved} between reading its orders and its positions): no consistent look at it, so nothing was judged "
        "or recorded from it. Orders are filling now; a rerun looks again"
    )


def _moved(before: Observed, after: Observed) -> str:
    """What changed between two looks at a broker's orders and fills ("" when nothing did)."""
    if before.orders != after.orders or before.working != after.working:
        ids = sorted(set(before.working) ^ set(after.working)) or sorted(
            o.client_order_id for o in after.orders if o not in before.orders
        )
        return f"its open orders change ({', '.join(ids) or 'their fills'})"
    if list(before.fills) != list(after.fills):
        ids = sorted({f.client_order_id for f in after.fills} ^ {f.client_order_id for f in before.fills})
        return f"new fills ({', '.join(ids) or 'a fill grew'})"
    return ""


def observe(broker: Broker) -> Observed:
    """The broker's fills and working orders, read in the order that keeps a partial fill from passing as final.

    Open orders first: an order that completes between the two reads is then still "working" and waits
    for the next look, instead of its stale partial fill being recorded as final."""
    orders = tuple(broker.open_orders())
    return Observed(fills=broker.fills(), working=frozenset(o.client_order_id for o in orders), orders=orders)


def record_new_fills(
    events: EventStore,
    broker: Broker,
    *,
    week_id: date | None,
    run_id: str | None,
    observed: Observed | None = None,
) -> list[Fill]:
    """Append an OrderFilled event for each of the broker's fills not yet recorded; return those appended.

    Idempotent and race-safe: a fill is written once per client_order_id whoever calls this and however
    often. Each event is labelled with its order's week (from the OrderSubmitted that sent it), else
    with `week_id`; `run_id` is the run that noticed the fill. `observed` is a look the caller already
    took with `observe(broker)` (so a caller that needs the fills too reads the broker once). The orders the broker
    ended without filling them whole are recorded too (brokers/order_ends.py)."""
    appended: list[Fill] = []
    broker.record_canceled(run_id=run_id)  # orders a read cancels (the paper broker's, a split between), recorded once
    seen = observed or observe(broker)
    for fill, written in new_fill_events(events, broker, seen, week_id=week_id, run_id=run_id):
        try:
            events.append(list(written), expected_versions={event.stream: 0 for event in written})
        except ConcurrencyError:
            continue  # another process recorded it between our read and our write: once is enough
        appended.append(fill)
        keep_overfilled(events, run_id, written)
    keep_replaced(events, run_id, appended)
    # After the fills: an order ended part filled is recorded after its fill, never in place of it.
    record_order_ends(events, broker, seen, run_id=run_id)
    return appended


# run_id -> a line per fill that run recorded of an order replaced outside llmtrade (Fill.replaced_by): what
# `replaced_notes` says, kept as the fills are recorded (no read of the store for a run that recorded none).
_REPLACED = RunNotes()


def keep_replaced(events: EventStore, run_id: str | None, recorded: Sequence[Fill]) -> None:
    """Keep, for `replaced_notes`, a line per fill of `recorded` (just appended by run `run_id`) whose order was
    replaced outside llmtrade (Fill.replaced_by)."""
    notes = tuple(
        f"account {f.account_id}'s order {f.client_order_id} ({f.side.value} {f.symbol}) was replaced outside "
        f"llmtrade at its broker by order {f.replaced_by}, which filled in its place: {f.qty} at {f.price:.2f}, "
        "recorded as the order's fill (llmtrade's shares); if no one meant to replace it, check the account at its "
        "broker"
        for f in recorded
        if f.replaced_by
    )
    _REPLACED.add(events, run_id, notes)


def replaced_notes(events: EventStore, run_id: str) -> list[str]:
    """One line per fill run `run_id` recorded (in this process) of an order replaced outside llmtrade: said by the
    run as a warning, not a degraded run (the trade happened, through the replacement). Reads nothing."""
    return _REPLACED.said(events, run_id)


def new_fill_events(
    events: EventStore, broker: Broker, observed: Observed, *, week_id: date | None, run_id: str | None
) -> list[tuple[Fill, tuple[NewEvent, ...]]]:
    """The events of each observed fill not yet recorded, as `record_new_fills` labels them: its OrderFilled, and with
    it its OrderOverfilled when it is more shares than the order was sent for (brokers/overfills.py), each for its own
    write-once stream, to be appended together at expected version 0 (a fill booked is never left unsaid)."""
    if not observed.fills:
        return []
    done = recorded_fill_ids(events, broker)
    # Only the fills past those known recorded are looked at one by one: a look costs what is new.
    new = view_of(broker.name, broker.account_id, observed.fills).unrecorded(done, observed.working)
    if not new:
        return []  # the usual look (every fill recorded): the orders sent are not needed
    sent = sent_orders(events, broker.account_id)
    found = []
    for fill in new:
        order, sent_at = sent.get(fill.client_order_id, (None, None))
        week = order.week_id if order is not None else week_id
        filled = NewEvent.of(
            OrderFilled(fill=fill, broker=broker.name),
            stream=fill_stream(broker.account_id, fill.client_order_id),
            week_id=week,
            account_id=broker.account_id,
            run_id=run_id,
        )
        # The splits are read only for a fill past its order's qty: never in the usual look, nor in a backtest's.
        over = overfill_event(
            order,
            fill,
            broker=broker.name,
            week_id=week,
            run_id=run_id,
            splits=lambda: recorded_splits(events),
            sent_at=sent_at,
        )
        found.append((fill, (filled,) if over is None else (filled, over)))
    return found


# Occasions that happen many times a week: each is its own observation, not a repeat of the last.
RECURRING_OCCASIONS = frozenset({"after fill"})


def record_valuation(
    events: EventStore,
    account: AccountSnapshot,
    *,
    occasion: str,
    week_id: date | None,
    run_id: str | None,
    at_last_close: Mapping[str, date] | None = None,
) -> bool:
    """Append the account's AccountValued for `occasion` (`at_last_close`: as `valuation_event`); True when appended.

    A named occasion of a week ("week start", "checkpoint 2026-01-08 12:00") is valued once: its
    event goes to a write-once stream, so a rerun after a crash, or a second process, finds it there
    and leaves the first valuation standing. Recurring occasions ("after fill") are appended each time."""
    event, expected = valuation_event(
        account, occasion=occasion, week_id=week_id, run_id=run_id, at_last_close=at_last_close
    )
    try:
        events.append([event], expected_versions=expected)
    except ConcurrencyError:
        return False  # valued for this occasion already (an earlier run, or another process just now)
    return True


def valuation_event(
    account: AccountSnapshot,
    *,
    occasion: str,
    week_id: date | None,
    run_id: str | None,
    at_last_close: Mapping[str, date] | None = None,
) -> tuple[NewEvent, dict[str, int] | None]:
    """The account's AccountValued for `occasion` and the expected version to append it at (None: after the head).
    `at_last_close`: the held symbols `account` values at their last close, their prices having ended (symbol -> that
    close's day)."""
    payload = AccountValued(
        account_id=account.account_id,
        equity=account.equity,
        cash=account.cash,
        realized_pnl=account.realized_pnl,
        unrealized_pnl=account.unrealized_pnl,
        occasion=occasion,
        at_cost=[s for s in account.at_cost if s in account.positions],
        at_last_close={s: day for s, day in (at_last_close or {}).items() if s in account.positions},
        broker_account=account.broker_account,
    )
    if occasion in RECURRING_OCCASIONS:
        stream, expected = valuations_stream(account.account_id), None
    else:
        stream = valuation_stream(account.account_id, week_id, occasion)
        expected = {stream: 0}
    return NewEvent.of(payload, stream=stream, account_id=account.account_id, week_id=week_id, run_id=run_id), expected
