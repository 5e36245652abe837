"""What an account held at a past week's close, for a postmortem written late (a machine off past the week's end).

The broker's account now is the week's as long as nothing was filled since its close: positions held unmanaged
between runs do not change (a split since is in both the broker's shares and the restated closes). Once a later week
traded, the holdings at the close are the account's own fills up to it (folded, with the splits recorded, so in
today's shares as the closes are), and the cash is today's with each fill since taken back: a broker's cash moves
with its fills. Realised P/L is today's less what the fills since realised. Valued at the week's closes, these are
the figures an on-time postmortem read (the leaderboard's curve at that close, folded from the same fills). A broker
that reports no P/L (Alpaca: equity and cash) leaves both unreported, as on time: today's realised P/L taken as 0 less
the later weeks' would pass their gains, negated, for the week's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from llmtrade.domain.ledger import fold, signed_qty, with_splits
from llmtrade.domain.trading import AccountSnapshot, Fill, OrderFilled
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits


def held_at_close(
    events: EventStore, account: AccountSnapshot, prices: Mapping[str, float], close: datetime
) -> tuple[float, float | None, float | None] | None:
    """(equity, realised P/L, unrealised P/L) of what `account` (managed, now) held at `close`, at `prices` (the
    week's closes), either P/L None when `account`'s is; None when nothing of it was filled after `close` (then
    `account` is what it held)."""
    fills = _fills(events, account.account_id)
    since = [f for f in fills if f.filled_at > close]
    if not since:
        return None
    splits = recorded_splits(events)
    then = fold(with_splits([f for f in fills if f.filled_at <= close], splits), 0.0)
    now = fold(with_splits(fills, splits), 0.0)
    cash = account.cash + sum(signed_qty(f) * f.price + f.commission for f in since)
    # A symbol no provider has a week's close of is taken at its cost: no gain is made up.
    marks = {s: prices.get(s, p.avg_price) for s, p in then.positions.items()}
    # What the broker holds that llmtrade does not manage stays in equity at its cost (domain/reconciliation.py
    # `managed_view`): whatever `account`'s equity holds beyond its cash and managed positions.
    others = (
        account.equity - account.cash - sum(p.qty * prices.get(s, p.avg_price) for s, p in account.positions.items())
    )
    equity = cash + sum(p.qty * marks[s] for s, p in then.positions.items()) + round(others, 2)
    unrealized = sum(p.qty * (marks[s] - p.avg_price) for s, p in then.positions.items())
    realized = None if account.realized_pnl is None else account.realized_pnl - (now.realized_pnl - then.realized_pnl)
    return (
        round(equity, 2),
        None if realized is None else round(realized, 2),
        None if account.unrealized_pnl is None else round(unrealized, 2),
    )


def _fills(events: EventStore, account_id: str) -> list[Fill]:
    """The account's recorded fills, once per order, in fill-time order (a fill recorded twice is one)."""
    found: dict[str, Fill] = {}
    for event in events.read(account_id=account_id, type=OrderFilled.event_type()):
        fill = OrderFilled.from_event(event).fill
        found.setdefault(fill.client_order_id, fill)
    return sorted(found.values(), key=lambda f: f.filled_at)
