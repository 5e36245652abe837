"""Positions of accounts taken out of accounts.yaml while they held something: said by run-due when first found.

An account removed from accounts.yaml (its PM's model dropped mid-week) has no desk: no checkpoint judges its
position, no week's roll closes it, and status and the leaderboard leave it out. An operator's trial removed acct_4
holding -670 UUP: every wake-up exited 0 saying nothing, and the short stayed open at its broker for good. What it
holds is what llmtrade holds for it in its books (its own fills, through the splits recorded, with the positions
adopted or released by hand; a trade made by hand at the broker is not its): said, with what to do, once for each
holding found (no desk looks at the account any more, so nothing llmtrade records would end a daily line).
"""

from __future__ import annotations

from datetime import datetime

from llmtrade.app.container import Container
from llmtrade.brokers.reconcile import adoptions, our_order_ids
from llmtrade.domain.checkpoints import OrphanedPositionsSaid
from llmtrade.domain.events import NewEvent
from llmtrade.domain.ledger import fold, with_splits
from llmtrade.domain.reconciliation import is_ours, ledger_from, split_changes
from llmtrade.domain.streams import ORPHANED_POSITIONS
from llmtrade.domain.trading import Fill, OrderFilled
from llmtrade.errors import ConcurrencyError
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits


def say_orphaned_positions(app: Container) -> None:
    """Warn of each account not in accounts.yaml whose books hold something, unless that holding was said before."""
    configured = {a.id for a in app.loaded.config.accounts.accounts}
    with app.storage() as storage:
        events = storage.events
        held = orphaned_holdings(events, configured)
        said = events.read(stream=ORPHANED_POSITIONS)
        before = OrphanedPositionsSaid.from_event(said[-1]).holdings if said else {}
        if held == before:
            return
        # Recorded whenever it changes (an account put back drops out): one removed again is said again.
        new = {account: holding for account, holding in held.items() if before.get(account) != holding}
        try:  # two wake-ups at once: the one that records it says it
            payload = OrphanedPositionsSaid(holdings=held)
            recorded = [NewEvent.of(payload, stream=ORPHANED_POSITIONS)]
            events.append(recorded, expected_versions={ORPHANED_POSITIONS: len(said)})
        except ConcurrencyError:
            return
    for account, holding in new.items():
        app.warning(orphan_line(account, holding))


def orphaned_holdings(events: EventStore, configured: set[str], until: datetime | None = None) -> dict[str, str]:
    """What the books hold for each account not in `configured` (accounts.yaml), by account; none holding nothing.
    `until`: by the fills up to then (a past week's end), else all of them."""
    fills: dict[str, list[Fill]] = {}
    for event in events.read(type=OrderFilled.event_type()):
        if event.account_id not in configured:  # a fill's account, as recorded with it: only removed ones parsed
            fill = events.payload(OrderFilled, event).fill
            if fill.account_id not in configured and (until is None or fill.filled_at <= until):
                fills.setdefault(fill.account_id, []).append(fill)
    return {account: holding for account in sorted(fills) if (holding := _holding(events, account, fills[account]))}


def orphan_line(account: str, holding: str) -> str:
    return (
        f"{account} is not in accounts.yaml but its books hold {holding}: nothing judges or closes it now; put "
        "the account back to have it managed (a checkpoint or the week's roll closes it); on Alpaca it may instead "
        "be closed there and the account kept out (a paper account's position exists only in these books)"
    )


def without_row_line(account: str, holding: str) -> str:
    """Why a postmortem has no row for `account`, whose books held `holding` at the week's end: what status and
    `config validate` say of it (`orphan_line`), for the week it was out."""
    return (
        f"{account} has no row but its books held {holding} at the week's end: it was not in accounts.yaml for this "
        "week's weekly run or its postmortem, so no desk valued or judged its week (its P/L is in the leaderboard's "
        "curve once it is back in accounts.yaml; status and `config validate` name what it holds while it is out)"
    )


def _holding(events: EventStore, account: str, recorded: list[Fill]) -> str:
    """What llmtrade holds for `account` by its books (`recorded`: its fills as recorded, trades made by hand at its
    broker among them), as "SYMBOL +QTY, ..." ("" when nothing)."""
    ours = our_order_ids(events, account)
    fills = [fill for fill in recorded if is_ours(fill.client_order_id, ours)]
    splits = recorded_splits(events)
    folded = fold(with_splits(sorted(fills, key=lambda f: f.filled_at), splits), 0.0)  # shares: the cash is not read
    own = {symbol: position.qty for symbol, position in folded.positions.items()}
    ledger = ledger_from(own, split_changes(adoptions(events, account), splits))
    return ", ".join(f"{s} {ledger.qty(s):+d}" for s in sorted(ledger.symbols()) if ledger.qty(s))
