"""Orders a broker accepted and later ended without filling them whole: recorded once, said, never sent again.

Alpaca accepts a market order queued for the open and may then reject it (buying power checked again at execution),
expire it (a DAY order unfilled at the close, or the rest of one partly filled) or cancel it (by hand, or for a
corporate action). Its status says so, but nothing read that back: the week's order stayed "accepted" in the events,
no event named Alpaca's refusal, and the PM's trade silently never happened (trial A, p1).

So where a job records an account's fills (brokers/fills.py `record_new_fills`, workflows/valuation.py), each order of
llmtrade's that the account's OrderSubmitted left accepted, that is not working at the broker any more and whose fill
(if any) is short of its quantity, is looked up by its client_order_id; one the broker ended (REJECTED: rejected,
expired; CANCELED) is recorded as a QueuedOrderCanceled (the event the paper broker writes for an order a split came
between, read by discovery/universe.py: the order holds its symbol no longer) with the broker's status and reason, on
the order's write-once fill stream after its fill if part filled (version 1), else first (version 0, so it can never
be recorded as filled either). A second recording loses the write and is skipped: once, whoever notices. The run that
recorded it says it (`ended_notes`), as a degraded run: the trade the plan meant did not happen, and nothing sends
the order again (its OrderSubmitted stands); the next plan starts from what the account holds.

A broker that records every end it makes itself (`Broker.records_own_ends`: the paper broker, whose split cancels
PaperBroker.record_canceled writes with the ledger's cancel on the same write-once stream) is left alone: recording
its ends here first took that stream, and the broker's own record (the ledger's cancel with it) could never be
written. The breaker's cancels (risk/halt_cancels.py `cancel_opening_orders`) take the same stream and version, so the
one order is recorded once, by whichever writer comes first; the breaker says which order it cancels, and why
(BreakerCancelRequested), before its cancel reaches the broker, so an order found canceled here that it asked for (in
the halt the account is still in, the cancel not failed since; or in one since resumed when the broker took the cancel
and left the order pending_cancel, BreakerCancelTaken) is recorded with the breaker's reason and not said as the
broker's end.

An order the broker no longer has at all, sent before a reset of the account that is recorded (a paper account reset
from Alpaca's dashboard wipes every order, a queued one included), is recorded so too (REJECTED, the reset named): it
was looked up at every look after, for ever, and stayed "accepted" in the events.

An order the broker takes as working though it shows it nowhere working (`OrderResult.unlisted`: Alpaca ended it
"replaced" by an order it does not show) is no end, and was skipped at every look, never said: it is recorded once
(OrderNotShown, on the order's write-once `unlisted` stream) and said by the run that recorded it (`unlisted_notes`,
a warning): what the broker shows, that llmtrade takes it as working meanwhile, and what to do.

An order Alpaca scaled for a split while it was open (its qty and filled_qty times the split's ratio: alpacahq/alpaca-py
#469) is read in the shares of the splits recorded since it was sent, as its overfill is (brokers/overfills.py
`qty_at`): 10 sent over a 1-for-5 that fill 2 are the order filled whole, no end; read against the 10 sent, it was
booked CANCELED, "2 of 10 filled", the plan's trade said not to have happened. Before the split is recorded (a buy from
flat over a reverse split shows in no position), Alpaca's "filled" of the order itself, never replaced, says as much:
no end is recorded, and the order is read again at each look until the split is.

A look costs nothing more when no such order is left: the candidates are a memoised fold of the account's events,
and the notes of a run are kept as its ends are recorded (no read of the store for a run that recorded none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from llmtrade.brokers.overfills import filled_whole, part_filled, qty_at
from llmtrade.brokers.per_store import RunNotes
from llmtrade.brokers.protocol import Broker
from llmtrade.domain.account_events import AccountResumed
from llmtrade.domain.breaker import BreakerCancelFailed, BreakerCancelRequested, BreakerCancelTaken
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.ledger import BooksReset, Split
from llmtrade.domain.streams import breaker_stream, fill_stream, unlisted_stream
from llmtrade.domain.trading import (
    Order,
    OrderFilled,
    OrderNotShown,
    OrderResult,
    OrderStatus,
    OrderSubmitted,
    QueuedOrderCanceled,
)
from llmtrade.errors import ConcurrencyError
from llmtrade.market.calendar import new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.resets import recorded_resets
from llmtrade.storage.splits import recorded_splits

if TYPE_CHECKING:
    from llmtrade.brokers.fills import Observed  # fills.py calls this module: no cycle at import

_ENDED = (OrderStatus.REJECTED, OrderStatus.CANCELED)
_EVER = datetime.max.replace(tzinfo=UTC)  # a fill not recorded yet: every split recorded since the order was sent
# How an end recorded here begins its reason: `ended_notes` tells these from the breaker's cancels.
ENDED_AT = "ended at "
# run_id -> the notes of the ends that run recorded, in this process: what `ended_notes` says, read from no store.
_NOTES = RunNotes()
# run_id -> the notes of the orders that run found taken for working but shown nowhere (`unlisted_notes`).
_UNLISTED = RunNotes()


@dataclass(frozen=True)
class _Pending:
    """An order of ours the broker accepted, with what the audit log holds of its fill."""

    order: Order
    filled: int = 0
    sent_at: datetime | None = None  # when it was sent (`OrderSubmitted.sent_at`)
    filled_at: datetime | None = None  # when its part fill recorded traded: the shares of that time it is in
    replaced: bool = False  # its recorded fill was a chain's, the order replaced outside llmtrade (Fill.replaced_by)


# client_order_id -> its order, and the ids filled whole or recorded as ended; shared: never changed in place
_Candidates = tuple[Mapping[str, _Pending], frozenset[str]]
_TYPES = (OrderSubmitted.event_type(), OrderFilled.event_type(), QueuedOrderCanceled.event_type())


def _candidates(events: EventStore, broker: Broker) -> Mapping[str, _Pending]:
    """The account's orders sent to `broker` and not recorded filled, neither filled whole nor recorded as ended."""
    name = broker.name

    def step(state: _Candidates, new: list[StoredEvent]) -> _Candidates:
        pending, done = dict(state[0]), set(state[1])
        for event in new:
            if event.type == OrderSubmitted.event_type():
                sent = events.payload(OrderSubmitted, event)
                cid = sent.order.client_order_id
                # Not only ACCEPTED: a rerun records an order a killed run sent with the broker's answer now
                # (workflows/plan_recovery.py, legs.py), which may be the end itself (rejected at the open). Recorded
                # so, it was neither an end nor a refusal: never said, never sent again (an audit against Alpaca).
                if sent.broker == name and sent.result.status is not OrderStatus.FILLED and cid not in done:
                    before = pending.get(cid)
                    filled, at = (before.filled, before.filled_at) if before is not None else (0, None)
                    replaced = before.replaced if before is not None else False
                    pending[cid] = _Pending(sent.order, filled, sent.sent_at(event.occurred_at), at, replaced)
            elif event.type == OrderFilled.event_type():
                fill = events.payload(OrderFilled, event).fill
                cid = fill.client_order_id
                if cid in pending and fill.qty != pending[cid].order.qty:
                    # Part filled: ended, or ends later; or filled whole in the shares of a split since it was sent,
                    # which only the splits recorded tell (`_filled_through_splits`, read where this fold is used).
                    # More shares than sent too: 20 of 10 sent scaled to 40 at a 4-for-1 are half of it (taken for
                    # the order whole, its end was never recorded); an overfill is whole, and left there.
                    was = pending[cid]
                    pending[cid] = _Pending(was.order, fill.qty, was.sent_at, fill.filled_at, bool(fill.replaced_by))
                else:
                    pending.pop(cid, None)
                    done.add(cid)
            else:
                cid = events.payload(QueuedOrderCanceled, event).client_order_id
                pending.pop(cid, None)
                done.add(cid)
        return pending, frozenset(done)

    start: _Candidates = ({}, frozenset())
    return events.fold(("order-ends", name), account_id=broker.account_id, types=_TYPES, start=start, step=step)[0]


def record_order_ends(events: EventStore, broker: Broker, observed: Observed, *, run_id: str | None) -> list[str]:
    """Record, once, each order of ours the broker ended without filling it whole (see the module docstring); the
    client order ids recorded now. `observed`: the look whose fills were just recorded (its working orders are not
    looked up). A write; reads the broker only for orders no longer working and not filled whole. Nothing for a
    broker that records its own ends."""
    if broker.records_own_ends:
        return []
    left = {cid: p for cid, p in _candidates(events, broker).items() if cid not in observed.working}
    if any(p.filled for p in left.values()):
        # Read only with a part fill among them: never in the usual look. A split's order filled whole in its new
        # shares is no end, and is not looked up at every look either.
        splits = recorded_splits(events)
        left = {cid: p for cid, p in left.items() if not _filled_through_splits(p, p.filled, splits)}
    else:
        splits = ()
    recorded: list[str] = []
    resets: tuple[BooksReset, ...] | None = None  # read once, and only for an order the broker no longer has
    for cid, pending in left.items():
        found = broker.find(cid)
        if found is None:
            if resets is None:
                resets = recorded_resets(events, broker.account_id).get(broker.account_id, ())
            wiped = next((r for r in resets if pending.sent_at is not None and r.at > pending.sent_at), None)
            if wiped is None:
                continue  # not stored yet, or never: a rerun settles it by looking it up again
            # A paper account reset wiped it with every order: looked up at every look for ever, found by none.
            part = f", {_of(pending, pending.filled, splits)}" if pending.filled else ", unfilled"
            found = OrderResult(
                client_order_id=cid,
                status=OrderStatus.REJECTED,
                filled_qty=pending.filled,
                message=f"the broker account was reset on {new_york_date(wiped.at)} and no longer has the order",
            )
        elif found.status is OrderStatus.FILLED and not pending.replaced and pending.filled:
            # Alpaca filled llmtrade's own order whole ("filled": its filled_qty is its qty), never replaced, at
            # another qty than sent: it changes an open order's qty itself only at a split (alpacahq/alpaca-py #469),
            # one not recorded yet (a buy from flat over a reverse split: books and Alpaca both hold the new shares, so
            # no position shows it). Recorded as an end, "2 of 10 filled", the run said the trade had not happened.
            # No end: read again at each look, as an unlisted order is, until the split is recorded (then it is the
            # order filled whole, `_filled_through_splits`, and looked up no more).
            continue
        elif found.status is OrderStatus.FILLED and not _filled_through_splits(pending, found.filled_qty, splits):
            # Filled with fewer shares than sent, in the shares of the splits recorded since (Alpaca scales an open
            # order's qty and filled_qty at a split: 10 sent over a 1-for-5 fill 2, which is the order whole):
            # replaced outside llmtrade by a smaller order, which filled (brokers/alpaca_chains.py). The rest is asked
            # by no order: an end like a part fill's expiry, recorded once after the fill (else it was looked up at
            # every look for ever).
            found = found.model_copy(update={"status": OrderStatus.CANCELED})
            part = f", {_of(pending, found.filled_qty, splits)}"
        elif found.status is OrderStatus.FILLED:
            continue  # filled whole (in a split's new shares): its fill is the order's, booked by the look
        elif found.status not in _ENDED:
            if found.unlisted:
                _say_unlisted(events, broker, pending.order, found.unlisted, run_id=run_id)
            continue  # filled (its fill is recorded by the next look), or working again since the look
        else:
            part = f", {_of(pending, found.filled_qty, splits)}" if found.filled_qty else ", unfilled"
        # Read after the look-up: a breaker that canceled it said so before its cancel reached the broker.
        halt = _breakers_cancel(events, pending.order.account_id, cid) if found.status is OrderStatus.CANCELED else None
        why = QueuedOrderCanceled(
            account_id=pending.order.account_id,
            client_order_id=cid,
            reason=halt or f"{ENDED_AT}{broker.name}{part}: {found.message}",
            status=found.status,
        )
        stream = fill_stream(pending.order.account_id, cid)
        event = NewEvent.of(
            why, stream=stream, week_id=pending.order.week_id, account_id=pending.order.account_id, run_id=run_id
        )
        try:
            # After its fill when part filled: never before it, which would keep the fill out of the audit log.
            events.append([event], expected_versions={stream: 1 if found.filled_qty else 0})
        except ConcurrencyError:
            continue  # recorded by another process, or its part fill is not recorded yet: the next look records it
        recorded.append(cid)
        if run_id is not None and halt is None:  # the halt's cancel is said by the halt, as when the breaker records it
            _keep(events, run_id, _note(pending.order, why))
    return recorded


def _filled_through_splits(pending: _Pending, filled: int, splits: Sequence[Split]) -> bool:
    """Whether `filled` shares are `pending`'s order whole, in the shares of its recorded part fill's time: its qty
    times the recorded splits since it was sent (brokers/overfills.py `qty_at`, the scaling of the overfill's reading
    too). Not before its fill is recorded: with no time to read the splits at, the qty as sent."""
    if pending.filled_at is None:
        return filled >= pending.order.qty
    return filled_whole(filled, qty_at(pending.order, pending.filled_at, splits, pending.sent_at))


def _of(pending: _Pending, filled: int, splits: Sequence[Split]) -> str:
    """ "4 of 10 filled", in the shares of the recorded part fill's time (brokers/overfills.py `part_filled`): "1 of 2
    filled, 10 sent before the 1-for-5 split" of an order Alpaca scaled at a split, not "1 of 10"."""
    return part_filled(pending.order, filled, pending.filled_at or _EVER, splits, pending.sent_at)


def _say_unlisted(events: EventStore, broker: Broker, order: Order, note: str, *, run_id: str | None) -> None:
    """Record, once per order, that the broker takes `order` as working though it shows it nowhere working
    (`OrderResult.unlisted`: Alpaca's order ended "replaced" by one it does not show), and keep the note for the run
    that recorded it (`unlisted_notes`). Skipped at every look, it was never said: no end, no fill, nothing the week
    waits for, and nothing told the user to look at the order."""
    stream = unlisted_stream(order.account_id, order.client_order_id)
    if events.stream_version(stream) > 0:
        # Said by an earlier look: read, not written again to be refused (a failed write at every wake-up while
        # Alpaca shows no replacement, each a unique-violation error in the server's log), as reconcile.py reads the
        # differences it recorded before it writes.
        return
    said = OrderNotShown(
        account_id=order.account_id, client_order_id=order.client_order_id, broker=broker.name, note=note
    )
    event = NewEvent.of(said, stream=stream, week_id=order.week_id, account_id=order.account_id, run_id=run_id)
    try:
        events.append([event], expected_versions={stream: 0})
    except ConcurrencyError:
        return  # said already (an earlier look, or another process just now): once is enough
    _UNLISTED.add(events, run_id, [_unlisted_note(order, note)])


def _unlisted_note(order: Order, note: str) -> str:
    what = f"{order.intent} {order.side.value} {order.qty} {order.symbol} ({order.client_order_id})"
    return f"account {order.account_id}'s order {what}: {note}"


def unlisted_notes(events: EventStore, run_id: str) -> list[str]:
    """One line per order run `run_id` recorded (in this process) as taken for working by its broker though shown
    nowhere working (`_say_unlisted`): said by the run as a warning, once. Reads nothing."""
    return _UNLISTED.said(events, run_id)


def _breakers_cancel(events: EventStore, account_id: str, client_order_id: str) -> str | None:
    """The reason the account's circuit breaker gave when it asked to cancel the order in the halt it is still in, or
    in one since resumed when the broker took the cancel (BreakerCancelTaken: under way when the account resumed,
    Alpaca's pending_cancel until the open); None if it did not. A request is written before its DELETE; one whose
    DELETE failed or was not made (the order still working, or so far as anyone knows) is taken back
    (BreakerCancelFailed), and so is every one not taken once the account has resumed: an end found later (a cancel by
    hand, or Alpaca's own) is the broker's, not the halt's. A cancel the broker took stays the halt's whatever is said
    after it: another process that settled the request as not made (risk/halt_cancels.py) while its DELETE was on the
    way, or whose own cancel then found it under way, only came second."""
    asked: str | None = None
    latest: str | None = None  # the reason of the latest request for the order, whatever became of it
    taken: str | None = None  # the reason of the request the broker took, once it took one
    requested, failed, took, resumed = (
        BreakerCancelRequested.event_type(),
        BreakerCancelFailed.event_type(),
        BreakerCancelTaken.event_type(),
        AccountResumed.event_type(),
    )
    for event in events.read_stream(breaker_stream(account_id)):
        if event.type == requested:
            request = events.payload(BreakerCancelRequested, event)
            if request.client_order_id == client_order_id:
                asked = latest = request.reason
        elif event.type == failed:
            if events.payload(BreakerCancelFailed, event).client_order_id == client_order_id:
                asked = None
        elif event.type == took:
            if events.payload(BreakerCancelTaken, event).client_order_id == client_order_id:
                taken = taken or latest
        elif event.type == resumed:
            asked = None
    return taken or asked


def _note(order: Order, ended: QueuedOrderCanceled) -> str:
    what = f"{order.intent} {order.side.value} {order.qty} {order.symbol} ({order.client_order_id})"
    return (
        f"account {ended.account_id}'s order {what} {ended.reason}; the trade did not happen and is not sent "
        "again: the next plan starts from what the account holds"
    )


def keep_end_note(events: EventStore, run_id: str | None, order: Order, reason: str) -> None:
    """Keep, for `ended_notes`, the note of `order`, which a broker that records its own ends (the paper broker) ended
    unfilled for `reason` because its symbol has no price and will get none: the run says what became of it and what
    the user can do."""
    if run_id is None:
        return
    ended = QueuedOrderCanceled(
        account_id=order.account_id, client_order_id=order.client_order_id, reason=reason, status=OrderStatus.REJECTED
    )
    symbol = order.symbol
    _keep(
        events,
        run_id,
        f"{_note(order, ended)}. Whatever the account still holds of {symbol} stays in its books at its last price "
        f"or its cost (status says which): give {symbol}'s prices again (its CSV file through the last session), or, "
        f"if it was delisted or renamed, `llmtrade positions settle {order.account_id} {symbol} [--price P]` closes "
        f"it at its last close (or the cash-out price paid), or `llmtrade positions release {order.account_id} "
        f"{symbol}` hands it back, so no roll tries to close it again (README: Orders that can never fill)",
    )


def _keep(events: EventStore, run_id: str, note: str) -> None:
    _NOTES.add(events, run_id, [note])


def ended_notes(events: EventStore, run_id: str) -> list[str]:
    """One line per order whose end at its broker run `run_id` recorded (in this process, as `record_order_ends`
    recorded it): the trade that did not happen, and that nothing sends it again. Reads nothing: a job that
    recorded no end (most of them, every backtest checkpoint) pays nothing for asking."""
    return _NOTES.said(events, run_id)
