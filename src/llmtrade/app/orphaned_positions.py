"""Positions of accounts taken out of accounts.yaml while they held something: said once a day by run-due.

An account removed from accounts.yaml (its PM's model dropped mid-week) has no desk: no checkpoint judges its
position, no week's roll closes it, and status and the leaderboard leave it out. An operator's trial removed acct_4
holding -670 UUP: every wake-up exited 0 saying nothing, and the short stayed open at its broker for good. Its
fills are still in the books, so what it holds is known: said, with what to do, once a New York day.
"""

from __future__ import annotations

from collections import defaultdict

from llmtrade.app.container import Container
from llmtrade.domain.checkpoints import OrphanedPositionsSaid
from llmtrade.domain.events import NewEvent
from llmtrade.domain.ledger import fold, with_splits
from llmtrade.domain.streams import ORPHANED_POSITIONS
from llmtrade.domain.trading import Fill, OrderFilled
from llmtrade.market.calendar import new_york_date
from llmtrade.storage.splits import recorded_splits


def say_orphaned_positions(app: Container) -> None:
    """Warn of each account not in accounts.yaml whose recorded fills leave it holding something (split-adjusted
    through the splits recorded), unless said already today."""
    configured = {a.id for a in app.loaded.config.accounts.accounts}
    today = new_york_date(app.clock.now())
    with app.storage() as storage:
        events = storage.events
        fills: dict[str, list[Fill]] = defaultdict(list)
        for event in events.read(type=OrderFilled.event_type()):
            fill = events.payload(OrderFilled, event).fill
            if fill.account_id not in configured:
                fills[fill.account_id].append(fill)
        splits = recorded_splits(events) if fills else ()
        open_ = {}
        for account, own in sorted(fills.items()):
            ledger = fold(with_splits(sorted(own, key=lambda f: f.filled_at), splits), 0.0)  # shares, cash aside
            positions = {s: p.qty for s, p in sorted(ledger.positions.items()) if p.qty}
            if positions:
                open_[account] = positions
        if not open_:
            return
        said = events.read(stream=ORPHANED_POSITIONS)
        if said and OrphanedPositionsSaid.from_event(said[-1]).day == today:
            return
        accounts = sorted(open_)
        events.append([NewEvent.of(OrphanedPositionsSaid(day=today, accounts=accounts), stream=ORPHANED_POSITIONS)])
    for account, positions in open_.items():
        holding = ", ".join(f"{symbol} {qty:+d}" for symbol, qty in positions.items())
        app.warning(
            f"{account} is not in accounts.yaml but its books hold {holding}: nothing judges or closes it now; put "
            "the account back to have it managed, or close the position at its broker"
        )
