"""An account whose books at the broker began again: a paper account reset from Alpaca's dashboard.

A reset wipes the account's positions and its order history and sets a new balance. Nothing in Alpaca's account
object says it happened, but the order history does: Alpaca keeps every order, so an order this account recorded as
filled there and no longer listed means the books there began again (keys now naming another Alpaca account look
the same, and are the same thing to the books). Without this, a reset to 25,000 from 100,000 was a 75% drawdown that
halted the account, and one to 1,000,000 a peak that every later week was measured from.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmtrade.brokers.fills import Observed, recorded_fill_ids
from llmtrade.brokers.reconcile import our_order_ids
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.ledger import fold, with_splits
from llmtrade.domain.reconciliation import is_ours
from llmtrade.domain.trading import AccountSnapshot, BrokerAccountReset, OrderFilled
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits
from llmtrade.workflows.desk import Desk


def reset_found(
    events: EventStore, desk: Desk, account_id: str, equity: float, observed: Observed
) -> BrokerAccountReset | None:
    """The reset this look shows (every recorded fill at this broker it no longer lists), or None. Whether it is
    already recorded is the breaker's to say (risk/controls.py `breaker_change`), at the version it writes at."""
    if desk.broker.records_own_ends:
        # Its books are events in this database (the paper broker): nothing outside can wipe them.
        return None
    listed = {f.client_order_id for f in observed.fills} | observed.working
    # The audit log's fills at this broker: the memoised fold the valuation's new fills are found with, read once.
    missing = sorted(recorded_fill_ids(events, desk.broker) - listed)
    if not missing:
        return None
    valued = events.read(type=AccountValued.event_type(), account_id=account_id)
    last = events.payload(AccountValued, valued[-1]).equity if valued else None
    return BrokerAccountReset(account_id=account_id, equity=equity, last_equity=last, missing=missing)


def books_account(events: EventStore, desk: Desk, prices: Mapping[str, float]) -> AccountSnapshot:
    """The account as its own fills recorded at this broker make it (the audit log), at `prices`: what a week closed
    after a reset is valued at, the broker's books of that week being gone. Counted from the configured starting cash
    (an account reset twice is counted from it too: a known approximation)."""
    account_id = desk.account.id
    ours = our_order_ids(events, account_id)
    recorded = (
        events.payload(OrderFilled, e) for e in events.read(type=OrderFilled.event_type(), account_id=account_id)
    )
    fills = sorted(
        (r.fill for r in recorded if r.broker == desk.broker.name and is_ours(r.fill.client_order_id, ours)),
        key=lambda f: f.filled_at,
    )
    ledger = fold(with_splits(fills, recorded_splits(events)), desk.account.starting_cash)
    marks = {s: prices.get(s, p.avg_price) for s, p in ledger.positions.items()}
    return AccountSnapshot(
        account_id=account_id,
        cash=ledger.cash,
        equity=ledger.cash + sum(p.qty * marks[s] for s, p in ledger.positions.items()),
        buying_power=max(ledger.cash, 0.0),
        positions=ledger.positions,
        realized_pnl=ledger.realized_pnl,
        unrealized_pnl=sum(p.qty * (marks[s] - p.avg_price) for s, p in ledger.positions.items()),
    )
