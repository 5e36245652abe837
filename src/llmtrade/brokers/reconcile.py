"""Reconciling an account at its broker with llmtrade's records, and its managed view: the read.

`look` is a read: it asks the broker for positions, open orders and fills and the event store for
what llmtrade planned, adopted and released, and writes nothing (`status` uses it). Its write path, each difference
recorded once and the splits the broker shows first, is brokers/reconcile_records.py (`reconcile_account`); the
managed view it returns is the only one sizing, order plans and valuations may use (domain/reconciliation.py says
what is managed). The books are read through every recorded split (fills and adoptions alike), and through a split
the broker's position shows before any record of it (brokers/split_positions.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from llmtrade.brokers.fill_view import FillView, view_of
from llmtrade.brokers.fills import Observed, look_at, observe
from llmtrade.brokers.per_store import PerStore
from llmtrade.brokers.protocol import Broker
from llmtrade.brokers.split_positions import SplitSeen, mixed_in, seen_in
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.ledger import Split, fold, with_splits
from llmtrade.domain.reconciliation import (
    Difference,
    LedgerView,
    PositionAdopted,
    PositionReleased,
    ledger_from,
    managed_view,
    reconcile,
    split_changes,
    with_hands,
)
from llmtrade.domain.streams import managed_stream
from llmtrade.domain.trading import (
    AccountSnapshot,
    BrokerOrder,
    Fill,
    OrderRejected,
    OrdersPlanned,
    OrderSubmitted,
    Position,
)
from llmtrade.market.calendar import new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits


@dataclass(frozen=True)
class Reconciliation:
    """One look at an account: the broker's snapshot, llmtrade's ledger, their differences, the managed view;
    `planned`: the client_order_ids llmtrade planned, sent or had refused for it (`our_order_ids`) at the look;
    `splits`: the splits the broker's positions show that no SplitDetected records yet, read through in the ledger
    and the managed view (brokers/split_positions.py; `record_splits` records them)."""

    account: AccountSnapshot
    ledger: LedgerView
    differences: list[Difference]
    managed: AccountSnapshot
    planned: frozenset[str] = frozenset()
    splits: tuple[SplitSeen, ...] = ()


_OUR_ORDER_TYPES = (OrdersPlanned.event_type(), OrderSubmitted.event_type(), OrderRejected.event_type())


def our_order_ids(events: EventStore, account_id: str) -> frozenset[str]:
    """client_order_ids of every order llmtrade planned, sent or had refused for the account.

    A memoised fold (EventStore.fold): a call reads only the orders newer than the last call's."""

    def step(ids: frozenset[str], new: list[StoredEvent]) -> frozenset[str]:
        more: set[str] = set()
        for e in new:
            if e.type == OrdersPlanned.event_type():
                more.update(o.client_order_id for o in events.payload(OrdersPlanned, e).orders)
            elif e.type == OrderSubmitted.event_type():
                more.add(events.payload(OrderSubmitted, e).order.client_order_id)
            else:
                more.add(events.payload(OrderRejected, e).order.client_order_id)
        return ids | more if more - ids else ids

    return events.fold("our-order-ids", account_id=account_id, types=_OUR_ORDER_TYPES, start=frozenset(), step=step)


Change = tuple[PositionAdopted | PositionReleased, datetime]  # a change and when it was recorded
Compared = tuple[LedgerView, list[Difference], list[SplitSeen]]  # a look's ledger, differences and splits seen


def adoptions(events: EventStore, account_id: str) -> list[Change]:
    """The user's adoptions and releases for the account, in the order recorded, each with when it was."""
    changes: list[Change] = []
    for e in events.read_stream(managed_stream(account_id)):
        if e.type == PositionAdopted.event_type():
            changes.append((events.payload(PositionAdopted, e), e.occurred_at))
        elif e.type == PositionReleased.event_type():
            changes.append((events.payload(PositionReleased, e), e.occurred_at))
    return changes


def look(
    events: EventStore,
    broker: Broker,
    account: AccountSnapshot,
    prices: Mapping[str, float],
    *,
    observed: Observed | None = None,
) -> Reconciliation:
    """The account (as `broker.account(prices)` gave it) reconciled with llmtrade's records. A read.

    `observed`: the broker's open orders and fills as `fills.observe` read them just after `account` (a caller
    that values the account too reads the broker once); default: read now, in the same order.
    Raises what the broker's reads raise (BrokerUnavailable, BrokerRejected, OperationalError)."""
    planned = our_order_ids(events, account.account_id)
    seen = observed if observed is not None else observe(broker)
    changes = adoptions(events, account.account_id)
    recorded = recorded_splits(events)
    key = _Key(seen.version, planned, changes, recorded)
    kept = _RECONCILED.get(events, broker.name, account.account_id, key, account)
    if kept is None:
        # Split once and carried on from the last look: a look costs the fills new since, not the history.
        fills = view_of(broker.name, account.account_id, seen.fills)
        kept = _compared(fills, planned, recorded, changes, account, seen.orders, prices)
        _RECONCILED.keep(events, broker.name, account.account_id, key, account, kept)
    ledger, differences, splits = kept
    managed = managed_view(account, ledger, prices)
    found = [*differences, *_fractions(account)]
    return Reconciliation(account, ledger, found, managed, planned, tuple(splits))


def _fractions(account: AccountSnapshot) -> list[Difference]:
    """A fraction of a share the broker holds beyond the whole ones: whole-share orders cannot sell it, so it is
    reported (it was truncated without a word) and left alone."""
    found = []
    for symbol, part in sorted(account.fractions.items()):
        whole = account.positions[symbol].qty if symbol in account.positions else 0
        detail = (
            f"the broker holds {whole + part:g} {symbol}: the {abs(part):g} of a share beyond the whole ones cannot be "
            "traded by llmtrade's whole-share orders; left alone (close it at the broker to be rid of it)"
        )
        found.append(Difference(kind="fractional_shares", symbol=symbol, broker_qty=whole, detail=detail))
    return found


def _compared(
    fills: FillView,
    planned: frozenset[str],
    splits: tuple[Split, ...],
    changes: list[Change],
    account: AccountSnapshot,
    orders: Sequence[BrokerOrder],
    prices: Mapping[str, float],
) -> Compared:
    """The ledger, the differences, and the splits the broker's positions show that are not recorded yet: read
    through (brokers/split_positions.py), so the whole split position is managed, not the books' old share count."""
    ledger = _ledger(fills, planned, splits, changes)
    differences = reconcile(account.positions, orders, fills.others, ledger, planned)
    mismatched = {d.symbol for d in differences if d.kind == "quantity_mismatch"}
    if not mismatched:
        return ledger, differences, []
    ours = fills.ours(planned)
    books = _books_avg(ours, splits, changes, ledger, mismatched)
    # Fills in the new shares first: 10 held and 10 bought after a 4-for-1 are 50 at the broker, which the books' 20
    # would read as a 5-for-2 split after both (the same cost, 2.5 times the shares).
    adopted = {c.symbol for c, _ in changes}
    seen = mixed_in(differences, account.positions, [f for f in ours if f.symbol in mismatched], splits, adopted)
    rest = [d for d in differences if d.symbol not in {s.symbol for s in seen}]
    seen += seen_in(rest, account.positions, books, _last_change(ours, changes, mismatched))
    if not seen:
        return ledger, differences, []
    more = (*splits, *(s.pending(prices.get(s.symbol, s.broker_avg)) for s in seen))
    ledger = _ledger(fills, planned, more, changes)
    differences = reconcile(account.positions, orders, fills.others, ledger, planned)
    return ledger, differences, seen


def _ledger(fills: FillView, planned: frozenset[str], splits: Sequence[Split], changes: list[Change]) -> LedgerView:
    """The books through `splits`: llmtrade's own shares, the adoptions and releases by hand, and the realised P/L of
    the trades made by hand (domain/reconciliation.py `with_hands`), kept out of the managed equity."""
    own = ledger_from(_own_through_splits(fills, planned, splits), split_changes(changes, splits))
    return with_hands(own, fills.others, planned, splits)


def _own_through_splits(fills: FillView, planned: frozenset[str], splits: Sequence[Split]) -> dict[str, int]:
    """llmtrade's own shares per symbol from its fills, each recorded split applied (domain/ledger.py): a broker's
    fills stay as traded while its positions are split (Alpaca's, the paper broker's), so 100 shares bought before a
    4-for-1 split are the 400 the broker holds, not a mismatch of 300 unmanaged."""
    own = fills.own(planned)
    if not any(s.symbol in own for s in splits):
        return own
    held = fold(with_splits(fills.ours(planned), splits), 0.0).positions
    return {symbol: held[symbol].qty if symbol in held else 0 for symbol in own}


def _books_avg(
    ours: Sequence[Fill], splits: Sequence[Split], changes: list[Change], ledger: LedgerView, symbols: set[str]
) -> dict[str, float]:
    """The books' average cost of each of `symbols`: llmtrade's own fills (folded through the recorded splits) and
    the shares adopted by hand at the broker's average cost then (through the splits since), weighed by shares."""
    held = fold(with_splits([f for f in ours if f.symbol in symbols], splits), 0.0).positions
    hand: dict[str, tuple[int, float]] = {}
    for change in split_changes(changes, splits):
        if isinstance(change, PositionAdopted) and change.symbol in symbols:
            qty, cost = hand.get(change.symbol, (0, 0.0))
            hand[change.symbol] = (qty + change.qty, cost + change.qty * change.avg_price)
    books: dict[str, float] = {}
    for symbol in symbols:
        own = held.get(symbol)
        qty, cost = (own.qty, own.qty * own.avg_price) if own is not None else (0, 0.0)
        adopted, paid = hand.get(symbol, (0, 0.0))
        kept = ledger.qty(symbol) - qty  # of the adopted shares, those not released
        if adopted and kept:
            qty, cost = qty + kept, cost + kept * paid / adopted
        if qty:
            books[symbol] = cost / qty
    return books


def _last_change(ours: Sequence[Fill], changes: list[Change], symbols: set[str]) -> dict[str, date]:
    """The New York date of the books' last fill or adoption of each of `symbols`."""
    last: dict[str, date] = {}
    times = [(f.symbol, f.filled_at) for f in ours] + [(c.symbol, at) for c, at in changes]
    for symbol, at in times:
        if symbol in symbols:
            day = new_york_date(at)
            last[symbol] = max(last.get(symbol, day), day)
    return last


class _Reconciled:
    """The last comparison of each broker's account whose look had a version (fills.Observed), and what it was
    made from. The ledger and the differences are a function of the account's positions, the open orders and
    fills, the ids llmtrade planned and the user's adoptions (`look`): the same version (the same orders and fills,
    and the positions it vouches for, checked anyway), the same positions, planned ids and adoptions give the same
    comparison, so a checkpoint at which nothing but prices moved is not compared again. A broker without a
    version (any remote one) is compared at every look. Kept per store: a draft's own appends stay its own."""

    def __init__(self) -> None:
        self._kept: PerStore[_Made] = PerStore()

    def get(
        self, events: EventStore, broker: str, account_id: str, key: _Key, account: AccountSnapshot
    ) -> Compared | None:
        if key.version is None:
            return None
        made = self._kept.get(events, (broker, account_id))
        if made is None or not made.key.same(key) or made.positions != account.positions:
            return None
        return made.compared

    def keep(
        self, events: EventStore, broker: str, account_id: str, key: _Key, account: AccountSnapshot, compared: Compared
    ) -> None:
        if key.version is None:
            return
        self._kept.put(events, (broker, account_id), _Made(key, dict(account.positions), compared))


@dataclass(frozen=True)
class _Key:
    """What a comparison is made from besides the positions: the broker's version of its orders and fills, the ids
    llmtrade planned, the user's adoptions and the splits recorded (adopted shares are read through them)."""

    version: Hashable | None
    planned: frozenset[str]
    changes: list[Change]
    splits: tuple[Split, ...]

    def same(self, other: _Key) -> bool:
        return (
            self.version == other.version
            and (self.planned is other.planned or self.planned == other.planned)
            and self.changes == other.changes
            and (self.splits is other.splits or self.splits == other.splits)
        )


@dataclass(frozen=True)
class _Made:
    key: _Key
    positions: dict[str, Position]
    compared: Compared


_RECONCILED = _Reconciled()


def look_now(events: EventStore, broker: Broker, prices: Mapping[str, float]) -> Reconciliation:
    """`look` at the account as the broker holds it now, its positions, orders and fills read as of one instant
    (brokers/fills.py `look_at`): an order filling between separate reads made a false difference. A read."""
    account, observed = look_at(broker, prices)
    return look(events, broker, account, prices, observed=observed)


def managed_positions(events: EventStore, broker: Broker) -> dict[str, int]:
    """symbol -> signed shares llmtrade manages at the broker now (what a frozen plan is checked against). A read."""
    seen = look_now(events, broker, {})
    return {s: p.qty for s, p in seen.managed.positions.items() if p.qty}
