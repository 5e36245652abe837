"""An account whose books at the broker began again: a paper account reset from Alpaca's dashboard.

A reset wipes the account's positions and its order history and sets a new balance. Nothing in Alpaca's account
object says it happened, but the order history does: Alpaca keeps every order, so an order this account recorded as
filled there and no longer listed means the books there began again (keys now naming another Alpaca account look
the same, and are the same thing to the books). Without this, a reset to 25,000 from 100,000 was a 75% drawdown that
halted the account, and one to 1,000,000 a peak that every later week was measured from.
"""

from __future__ import annotations

from llmtrade.brokers.fills import Observed
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.trading import BrokerAccountReset, OrderFilled
from llmtrade.storage.event_store import EventStore
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
    recorded = {
        filled.fill.client_order_id
        for filled in (
            events.payload(OrderFilled, e) for e in events.read(type=OrderFilled.event_type(), account_id=account_id)
        )
        if filled.broker == desk.broker.name
    }
    missing = sorted(recorded - listed)
    if not missing:
        return None
    valued = events.read(type=AccountValued.event_type(), account_id=account_id)
    last = events.payload(AccountValued, valued[-1]).equity if valued else None
    return BrokerAccountReset(account_id=account_id, equity=equity, last_equity=last, missing=missing)
