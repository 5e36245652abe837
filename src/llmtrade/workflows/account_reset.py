"""An account whose books at the broker began again: a paper account reset from Alpaca's dashboard.

A reset wipes the account's positions and its order history and sets a new balance. Nothing in Alpaca's account
object says it happened, but the order history does: Alpaca keeps every order, so an order this account recorded as
filled there and no longer listed means the books there began again (keys now naming another Alpaca account look
the same, and are the same thing to the books). Without this, a reset to 25,000 from 100,000 was a 75% drawdown that
halted the account, and one to 1,000,000 a peak that every later week was measured from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from llmtrade.brokers.fills import Observed, recorded_fill_ids
from llmtrade.brokers.reconcile import our_order_ids
from llmtrade.domain.account_events import BrokerAccountReset
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.ledger import BooksReset, fold, with_splits
from llmtrade.domain.reconciliation import is_ours
from llmtrade.domain.resets import is_new_reset
from llmtrade.domain.trading import AccountSnapshot, Fill, OrderFilled
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits
from llmtrade.workflows.desk import Desk

_CENT = 0.005


def reset_found(
    events: EventStore, desk: Desk, account_id: str, equity: float, observed: Observed, *, named: str | None = None
) -> BrokerAccountReset | None:
    """The reset this look shows, or None: the broker names the account otherwise than at its last valuation (`named`,
    AccountSnapshot.broker_account: a reset makes a new paper account for the same keys, found even right after
    another reset, with no order of ours newly missing); else every recorded fill at this broker it no longer lists
    (a broker, or a valuation, that names no account). Whether it is already recorded is the breaker's to say
    (risk/controls.py `breaker_change`), at the version it writes at. A cash change or a trade by hand keeps the name.

    The account's first look, before any fill or valuation of it was recorded, is one too (`missing` empty) when the
    broker holds another equity than accounts.yaml's starting_cash (a paper account created or reset at 25,000 from
    Alpaca's dashboard before llmtrade began, starting_cash left at 100,000): the books begin at what the broker holds,
    as at a reset, rather than the first week halting the account for a 75% drawdown nobody traded."""
    if desk.broker.records_own_ends:
        # Its books are events in this database (the paper broker): nothing outside can wipe them.
        return None
    listed = {f.client_order_id for f in observed.fills} | observed.working
    # The audit log's fills at this broker: the memoised fold the valuation's new fills are found with, read once.
    recorded = recorded_fill_ids(events, desk.broker)
    missing = sorted(recorded - listed)
    valued = [
        events.payload(AccountValued, e) for e in events.read(type=AccountValued.event_type(), account_id=account_id)
    ]
    last = valued[-1].equity if valued else None
    was = next((v.broker_account for v in reversed(valued) if v.broker_account is not None), None)
    if named is not None and was is not None and named != was:
        return BrokerAccountReset(
            account_id=account_id, equity=equity, last_equity=last, missing=missing, broker_account=named, replaced=was
        )
    if not missing:
        if recorded or abs(equity - desk.account.starting_cash) <= _CENT or valued:
            return None  # valued before: what it began with is on record
        ours = our_order_ids(events, account_id)
        if any(is_ours(f.client_order_id, ours) for f in observed.fills):
            return None  # it traded before this first look: what it began with is not the broker's equity now
        return BrokerAccountReset(
            account_id=account_id, equity=equity, last_equity=None, missing=[], broker_account=named
        )
    return BrokerAccountReset(
        account_id=account_id, equity=equity, last_equity=last, missing=missing, broker_account=named
    )


def unrecorded(found: BrokerAccountReset | None, resets: Sequence[BooksReset]) -> bool:
    """Whether `found` (`reset_found`) is a reset none of `resets` (those recorded, storage/resets.py) is, by the rule
    the breaker records it by (domain/resets.py): a new name of the account no reset recorded, an order of ours
    missing that none of them missed, or the books' start at the broker's balance while no reset is recorded."""
    return found is not None and is_new_reset(found, resets)


def books_account(
    events: EventStore,
    desk: Desk,
    prices: Mapping[str, float],
    *,
    since: BooksReset | None = None,
    until: datetime | None = None,
) -> AccountSnapshot:
    """The account as its own fills recorded at this broker make it (the audit log), at `prices`, in one stretch of
    its books: from the reset `since` (its balance; None: from the configured starting cash, before any reset) up to
    `until` (None: all). What a week closed after a reset is valued at, the broker's books of that week being gone: the
    fills of a stretch before an earlier reset are not in it (an account reset twice held none of them after)."""
    fills = stretch_fills(events, desk, since, until)
    start = desk.account.starting_cash if since is None else since.balance
    ledger = fold(with_splits(fills, recorded_splits(events)), start)
    marks = {s: prices.get(s, p.avg_price) for s, p in ledger.positions.items()}
    return AccountSnapshot(
        account_id=desk.account.id,
        cash=ledger.cash,
        equity=ledger.cash + sum(p.qty * marks[s] for s, p in ledger.positions.items()),
        buying_power=max(ledger.cash, 0.0),
        positions=ledger.positions,
        realized_pnl=ledger.realized_pnl,
        unrealized_pnl=sum(p.qty * (marks[s] - p.avg_price) for s, p in ledger.positions.items()),
    )


def week_growth(
    events: EventStore,
    desk: Desk,
    start_equity: float,
    before: BooksReset | None,
    in_week: Sequence[BooksReset],
    closes_before: Callable[[datetime, Sequence[str]], tuple[Mapping[str, float], datetime]],
) -> tuple[float, BooksReset | None]:
    """A week's growth up to its last reset (`in_week`, in order; `before`: the reset its start stretch began at), and
    that reset: each stretch from its start (the week's start equity, then each reset's balance) to its books at the
    last close before the reset that ended it (`closes_before(instant, symbols)`: those closes and when that close
    was), as the leaderboard's curve chains it (analytics/curves.py). The week's end, in the dollars of the last
    stretch, times growth / that reset's balance is in the dollars of its start: the reset is no loss nor gain."""
    growth, base, stretch = 1.0, start_equity, before
    for reset in in_week:
        held = books_account(events, desk, {}, since=stretch, until=reset.at).positions
        closes, closed_at = closes_before(reset.at, sorted(held))
        # A symbol filled since that close is marked at its last fill, the latest price the books saw (as the curve).
        filled = {f.symbol: f.price for f in stretch_fills(events, desk, stretch, reset.at) if f.filled_at > closed_at}
        ended = books_account(events, desk, {**closes, **filled}, since=stretch, until=reset.at)
        if base > 0 and ended.equity > 0:
            growth *= ended.equity / base
        base, stretch = reset.balance, reset
    return growth, stretch


def stretch_fills(events: EventStore, desk: Desk, since: BooksReset | None, until: datetime | None) -> list[Fill]:
    """The account's own fills recorded at its broker from the reset `since` (None: from the first) to before `until`
    (None: all), in fill order: a fill at a reset's instant is after it (a reset is found before a run's orders)."""
    ours = our_order_ids(events, desk.account.id)
    recorded = (
        events.payload(OrderFilled, e) for e in events.read(type=OrderFilled.event_type(), account_id=desk.account.id)
    )
    return sorted(
        (
            r.fill
            for r in recorded
            if r.broker == desk.broker.name
            and is_ours(r.fill.client_order_id, ours)
            and (since is None or r.fill.filled_at >= since.at)
            and (until is None or r.fill.filled_at < until)
        ),
        key=lambda f: f.filled_at,
    )
