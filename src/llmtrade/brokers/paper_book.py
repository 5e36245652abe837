"""The paper broker's book: its ledger stream and recorded fills, folded one batch of new events at a time.

brokers/paper.py reads it through EventStore.fold, so a read of the book costs the events new since the
last one. Every book is shared by every caller of that fold: `advance` copies what it changes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.ledger import Folding, Ledger, Split
from llmtrade.domain.streams import fill_stream, ledger_stream
from llmtrade.domain.trading import (
    Fill,
    OrderFilled,
    OrderResult,
    OrderStatus,
    PaperOrderAccepted,
    PaperOrderCanceled,
    QueuedOrderCanceled,
)
from llmtrade.errors import ConcurrencyError
from llmtrade.memo import IdentityMemo
from llmtrade.storage.event_store import EventStore

# What the book folds: the ledger stream's acceptances and cancels, and the account's fills and order ends with why
# (on its orders' fill streams).
BOOK_TYPES = (
    PaperOrderAccepted.event_type(),
    PaperOrderCanceled.event_type(),
    OrderFilled.event_type(),
    QueuedOrderCanceled.event_type(),
)


@dataclass(frozen=True)
class Book:
    """The ledger as read, folded one batch of new events at a time (EventStore.fold); never changed in
    place (`advanced` copies what it changes), as every caller shares the kept book.

    `accepted` is in acceptance order (`rank` its index); `recorded` every fill this broker recorded,
    the first per order; `booked` the recorded fills of accepted orders in fill order (by
    (filled_at, rank)) and `folding` the account after them; `pending` the accepted orders neither
    recorded nor canceled (in acceptance order): the only ones whose fill is derived on a read."""

    starting_cash: float
    accepted: Mapping[str, PaperOrderAccepted] = field(default_factory=dict)
    accepted_at: Mapping[str, datetime] = field(default_factory=dict)
    rank: Mapping[str, int] = field(default_factory=dict)
    canceled: Mapping[str, PaperOrderCanceled] = field(default_factory=dict)
    # The orders of `canceled` the broker ended itself, with why (QueuedOrderCanceled 'rejected': one that expired
    # unfilled, brokers/paper_expiry.py): a lookup says what the event and the run's note say, not "canceled".
    ended: Mapping[str, QueuedOrderCanceled] = field(default_factory=dict)
    recorded: Mapping[str, Fill] = field(default_factory=dict)
    booked: tuple[tuple[tuple[datetime, int], Fill], ...] = ()
    # The fills of `booked` alone, in the same order: a read of every fill copies this instead of a loop.
    booked_fills: tuple[Fill, ...] = ()
    folding: Folding | None = None
    pending: Mapping[str, None] = field(default_factory=dict)
    version: int = 0
    # Which book this is, unique in the process (every book is a new object, never changed): with the fills derived
    # on a read it names everything a look at the broker sees (PaperBroker.look_at's `version`), so what was worked
    # out from one look (reconciliation, the fills to record) holds for a later look at the same book.
    serial: int = field(default_factory=lambda: next(_SERIALS), compare=False)

    def booked_fill(self, client_order_id: str) -> Fill | None:
        """The recorded fill of an accepted order, if one was recorded."""
        return self.recorded.get(client_order_id) if client_order_id in self.accepted else None


_SERIALS = itertools.count(1)


def advance(book: Book, new: list[StoredEvent], events: EventStore, ledger: str, broker: str) -> Book:
    """`book` with the events `new` (ids ascending) folded in, as a new book: what `book` holds is copied
    before it is changed. A recorded fill may come before its order's acceptance (the two were read
    together, whatever their ids), and a fill recorded out of fill order puts the booked fills in order
    again and folds them anew."""
    accepted, accepted_at, rank = dict(book.accepted), dict(book.accepted_at), dict(book.rank)
    canceled, recorded, pending = dict(book.canceled), dict(book.recorded), dict(book.pending)
    ended = book.ended
    version = book.version
    newly: list[str] = []  # orders whose recorded fill is now booked (accepted and recorded, either first)
    for event in new:
        if event.stream == ledger:
            version = max(version, event.version)
        if event.type == PaperOrderAccepted.event_type() and event.stream == ledger:
            order = events.payload(PaperOrderAccepted, event)
            cid = order.order.client_order_id
            first = cid not in accepted
            if first:
                rank[cid] = len(rank)
            accepted[cid] = order
            accepted_at[cid] = event.occurred_at
            if first and cid in recorded:
                newly.append(cid)
            elif first and cid not in canceled:
                pending[cid] = None
        elif event.type == PaperOrderCanceled.event_type() and event.stream == ledger:
            cancel = events.payload(PaperOrderCanceled, event)
            canceled[cancel.client_order_id] = cancel
            pending.pop(cancel.client_order_id, None)
        elif event.type == QueuedOrderCanceled.event_type():
            why = events.payload(QueuedOrderCanceled, event)
            if why.status is OrderStatus.REJECTED:
                ended = {**ended, why.client_order_id: why}
        elif event.type == OrderFilled.event_type():
            filled = events.payload(OrderFilled, event)
            cid = filled.fill.client_order_id
            # Only this broker's fills: an Alpaca fill of the same account is not ours. The first one counts.
            if filled.broker == broker and cid not in recorded:
                recorded[cid] = filled.fill
                if cid in accepted:
                    newly.append(cid)
                    pending.pop(cid, None)
    booked, booked_fills, folding = book.booked, book.booked_fills, book.folding
    if newly:
        more = sorted(((recorded[c].filled_at, rank[c]), recorded[c]) for c in dict.fromkeys(newly))
        if folding is not None and (not booked or more[0][0] > booked[-1][0]):
            folding = folding.advance(f for _, f in more)
            booked = (*booked, *more)
            booked_fills = (*booked_fills, *(f for _, f in more))
        else:
            booked = tuple(sorted((*booked, *more), key=lambda kf: kf[0]))
            booked_fills = tuple(f for _, f in booked)
            folding = Folding.start(book.starting_cash).advance(booked_fills)
    return Book(
        starting_cash=book.starting_cash,
        accepted=accepted,
        accepted_at=accepted_at,
        rank=rank,
        canceled=canceled,
        ended=ended,
        recorded=recorded,
        booked=booked,
        booked_fills=booked_fills,
        folding=folding,
        pending=pending,
        version=version,
    )


# The ledger of each recorded fold: the book's fold is shared by every look until a fill is recorded, and each look
# at the account wanted its ledger (a Position model per holding) built again. Ledgers are frozen; AccountSnapshot
# copies their positions mapping.
_LEDGERS: IdentityMemo[Folding, Ledger] = IdentityMemo(256)


def ledger_of(folding: Folding) -> Ledger:
    """`folding.ledger()`, built once per fold. Shared: not to be changed."""
    return _LEDGERS.of(folding, Folding.ledger)


@lru_cache(maxsize=64)
def start_book(starting_cash: float) -> Book:
    """The empty book the fold starts from, one per starting cash, shared: a read of the book that finds nothing
    new costs little else, and a job builds a broker per account. Never changed (paper_book.advance copies)."""
    return Book(starting_cash=starting_cash, folding=Folding.start(starting_cash))


def crossing(book: Book, client_order_id: str, splits: tuple[Split, ...]) -> Split | None:
    """The split a pending order crosses: taken before the split was recorded and filling from its ex-day on, so
    sized in the shares (and from the prices) before it and priced after it: four times the value the gate approved
    when a 1-for-4 reverse split comes between. Such an order is canceled, not filled and not rescaled (what the
    committee sized is not known here: a sell may have meant the whole position): a later run plans again from the
    split position. A read derives it from the split's record, as it derives fills; nothing is written."""
    accepted = book.accepted[client_order_id]
    taken = book.accepted_at[client_order_id]
    symbol = accepted.order.symbol
    for split in splits:
        known = split.known_at is None or taken < split.known_at
        if split.symbol == symbol and known and split.at <= accepted.fill_after:
            return split
    return None


def result(book: Book, client_order_id: str, derived: Mapping[str, Fill], splits: tuple[Split, ...]) -> OrderResult:
    """An accepted order's state in `book`, with the fills `derived` on it and the `splits` recorded."""
    fill = book.booked_fill(client_order_id) or derived.get(client_order_id)
    if fill is not None:
        return OrderResult(
            client_order_id=client_order_id,
            status=OrderStatus.FILLED,
            broker_order_id=broker_id(client_order_id),
            filled_qty=fill.qty,
            fill_price=fill.price,
        )
    canceled = book.canceled.get(client_order_id)
    if client_order_id in book.pending or canceled is not None:
        split = crossing(book, client_order_id, splits)
        # Canceled for the split (by a read, or on record: PaperBroker.record_canceled), not before it was known.
        if split is not None and (canceled is None or split.known_at is None or canceled.canceled_at >= split.known_at):
            return OrderResult(
                client_order_id=client_order_id,
                status=OrderStatus.CANCELED,
                broker_order_id=broker_id(client_order_id),
                message=f"canceled: {split_canceled(split)}",
            )
    if canceled is not None and (why := book.ended.get(client_order_id)) is not None:
        return OrderResult(
            client_order_id=client_order_id,
            status=OrderStatus.REJECTED,
            broker_order_id=broker_id(client_order_id),
            message=why.reason,
        )
    if canceled is not None:
        return OrderResult(
            client_order_id=client_order_id,
            status=OrderStatus.CANCELED,
            broker_order_id=broker_id(client_order_id),
            message=f"canceled at {canceled.canceled_at.isoformat()}",
        )
    when = book.accepted[client_order_id].fill_after
    return OrderResult(
        client_order_id=client_order_id,
        status=OrderStatus.ACCEPTED,
        broker_order_id=broker_id(client_order_id),
        message=f"queued for {when.isoformat()}",
    )


def split_cancels(
    book: Book, account_id: str, splits: tuple[Split, ...], now: datetime, run_id: str | None
) -> tuple[list[str], list[NewEvent], dict[str, int]]:
    """The pending orders of `book` a split cancels (`crossing`), and the events that record it with the versions to
    append them at (`cancel_events`)."""
    crossed = {
        cid: f"split: {split_canceled(split)}"
        for cid in book.pending
        if splits and (split := crossing(book, cid, splits))
    }
    return cancel_events(book, account_id, crossed, OrderStatus.CANCELED, now, run_id)


def cancel_events(
    book: Book, account_id: str, reasons: Mapping[str, str], status: OrderStatus, now: datetime, run_id: str | None
) -> tuple[list[str], list[NewEvent], dict[str, int]]:
    """The ids of the pending orders `reasons` names (client order id -> why it ends unfilled) and the events that end
    them with the versions to append them at: each order's cancel on the ledger, and why (QueuedOrderCanceled, with
    `status`) on its write-once fill stream, so it can never be recorded as filled either."""
    ledger = ledger_stream(account_id)
    expected, new = {ledger: book.version}, []
    for cid, reason in reasons.items():
        week_id, stream = book.accepted[cid].order.week_id, fill_stream(account_id, cid)
        canceled = PaperOrderCanceled(client_order_id=cid, canceled_at=now)
        why = QueuedOrderCanceled(account_id=account_id, client_order_id=cid, reason=reason, status=status)
        new.append(NewEvent.of(canceled, stream=ledger, week_id=week_id, account_id=account_id, run_id=run_id))
        new.append(NewEvent.of(why, stream=stream, week_id=week_id, account_id=account_id, run_id=run_id))
        expected[stream] = 0
    return list(reasons), new, expected


_CANCEL_ATTEMPTS = 5  # ledger moves `record_split_cancels` looks again after before giving up (a rerun records it)
_Cancels = tuple[list[str], list[NewEvent], dict[str, int]]


def record_split_cancels(
    events: EventStore, book: Callable[[], Book], cancels: Callable[[Book], _Cancels]
) -> list[str]:
    """Append `cancels(book())` (`split_cancels`), the ids canceled. An order's write-once stream found taken holds
    its end already (another process's record): done, and only the ledger's cancel is written; a ledger moved is read
    again, up to _CANCEL_ATTEMPTS times, then ConcurrencyError. Each retry drops a stream taken or reads a ledger that
    moved: it called itself on the same book before, which recursed for ever on a stream taken."""
    taken: set[str] = set()
    moved = 0
    while True:
        crossed, new, expected = cancels(book())
        try:
            events.append(
                [e for e in new if e.stream not in taken],
                expected_versions={s: v for s, v in expected.items() if s not in taken},
            )
            return crossed
        except ConcurrencyError as clash:
            whys = {e.stream for e in new if e.type == QueuedOrderCanceled.event_type()}  # each order's own stream
            if clash.stream in whys:
                taken.add(clash.stream)  # recorded already, whoever wrote it
            elif (moved := moved + 1) >= _CANCEL_ATTEMPTS:
                raise


def split_canceled(split: Split) -> str:
    """Why an order `split` came between was canceled."""
    return f"{split.symbol} split {split.named()} on {split.at.date()}, after it was queued"


def broker_id(client_order_id: str) -> str:
    return f"paper-{client_order_id}"
