"""What a dry run's model calls cost, kept when its draft is dropped (app/container.py, app/backtest_audit.py).

A dry run (`run-weekly --dry-run`, a checkpoint's, the look-ahead audit's cut-off run) writes to a draft view whose
appends never reach the database, but a live call it sends is paid for and its answer is cached: the real run then
reads that answer from the cache at no cost, and the dollar ceilings (llm/budget.py), which sum the books' call
records, never counted it. The records that cost money are appended to the books; offline (rules) and cached answers
cost nothing and are not, so a dry run without live calls still stores nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmtrade.config.models import Price
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed, NewEvent
from llmtrade.llm.budget import events_spent
from llmtrade.storage.draft_events import DraftEventStore
from llmtrade.storage.event_store import EventStore

_CALL_TYPES = (LLMCallCompleted.event_type(), LLMCallFailed.event_type())


def keep_paid_calls(draft: DraftEventStore, events: EventStore, prices: Mapping[str, Price]) -> int:
    """Append to `events` (the books under `draft`) each call record of `draft`'s own that cost money at `prices`
    (its cost, else its tokens priced, as the budget counts it), as it was; how many."""
    paid = [e for e in draft.appended() if e.type in _CALL_TYPES and events_spent([e], prices) > 0]
    if paid:
        events.append(
            [
                NewEvent(
                    type=e.type,
                    stream=e.stream,
                    payload=e.payload,
                    week_id=e.week_id,
                    account_id=e.account_id,
                    run_id=e.run_id,
                    schema_version=e.schema_version,
                )
                for e in paid
            ]
        )
    return len(paid)
