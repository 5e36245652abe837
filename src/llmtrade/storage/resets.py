"""The broker account resets recorded (BrokerAccountReset on each account's breaker stream), as the folds of an
account's fills chain across them (domain/ledger.py BooksReset): the leaderboard's curves, `status`, a postmortem."""

from __future__ import annotations

from llmtrade.domain.account_events import BrokerAccountReset
from llmtrade.domain.ledger import BooksReset
from llmtrade.storage.event_store import EventStore

RESET_TYPES = [BrokerAccountReset.event_type()]


def recorded_resets(events: EventStore, account_id: str | None = None) -> dict[str, tuple[BooksReset, ...]]:
    """account_id -> its resets in the order found (every account's, or only `account_id`'s); an account never reset
    is absent. One read of one event type (an account is reset by hand, rarely: a handful of events)."""
    found: dict[str, list[BooksReset]] = {}
    for event in events.read(type=RESET_TYPES, account_id=account_id):
        reset = events.payload(BrokerAccountReset, event)
        found.setdefault(reset.account_id, []).append(
            BooksReset(
                at=event.occurred_at,
                balance=reset.equity,
                last_equity=reset.last_equity,
                missing=frozenset(reset.missing),
                broker_account=reset.broker_account,
                renamed=reset.replaced is not None,
            )
        )
    return {account: tuple(resets) for account, resets in found.items()}
