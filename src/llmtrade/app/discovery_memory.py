"""What the LLM picker is shown of the memory (issue 15): the past weeks whose market condition is nearest
the one at the discovery's as-of time, one line each citing its memory id, within the memory's token budget.

The condition is the one the weekly run remembers (memory/conditions.py), computed from a snapshot of the
configured universe as of the run's instant, and compared with the conditions known strictly before it
(the memory's point-in-time rule). What was shown is recorded as a MemoryRecalled of role "picker" on the
run's recall stream, as each PM's recall is. Memory off (models.yaml `memory.enabled: false`): no lines, no
snapshot, no event, and the picker's prompt is what it was without a memory.
"""

from __future__ import annotations

from datetime import date, datetime

from llmtrade.agents.memory_notes import within_budget
from llmtrade.app.container import Container
from llmtrade.domain.events import NewEvent
from llmtrade.domain.memory import ConditionRemembered, MemoryRecalled
from llmtrade.domain.streams import recall_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import MarketDataError
from llmtrade.market.calendar import NEW_YORK
from llmtrade.market.daily_bars import DailyBars
from llmtrade.market.snapshot import take_snapshot
from llmtrade.memory.conditions import market_condition
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.recall_reads import SIMILAR_WEEKS

ROLE = "picker"


def similar_conditions(
    app: Container, storage: Storage, market: DailyBars, *, now: datetime, run_id: str
) -> tuple[str, ...]:
    """The lines the picker's prompt shows under "Similar past conditions" (each "[condition:WEEK] ..."),
    nearest first; () when the memory is off, holds no earlier week, or the universe has no prices now (the
    picker then runs without them rather than not at all)."""
    config = app.loaded.config
    memory = app.memory(storage, run_id=run_id)
    if memory is None or not config.models.memory.enabled:
        return ()
    week_id = week_id_for(now.astimezone(NEW_YORK).date())
    config = app.offered(config, week_id)  # a backtest's week has no snapshot of a symbol with no price yet
    if not _earlier_conditions(storage, now, week_id):
        return ()  # nothing to compare with (a fresh memory): no snapshot to take
    try:
        snapshot = take_snapshot(market, list(config.assets.symbols), now)
    except MarketDataError as exc:
        app.warning(f"discovery: no market condition for the picker's memory ({exc})")
        return ()
    condition = market_condition(snapshot, week_id)
    # One more than shown: this week's own condition, remembered by a weekly run before this discovery, is not
    # a past condition.
    hits = memory.similar_conditions(condition, as_of=now, limit=SIMILAR_WEEKS + 1)
    lines, shown = within_budget(
        [h for h in hits if h.week_id != week_id][:SIMILAR_WEEKS], config.models.memory.token_budget
    )
    if shown:
        recalled = MemoryRecalled(
            role=ROLE,
            week_id=week_id,
            as_of=now,
            query=f"weeks whose market condition is like the one at {now.isoformat()}",
            memory_ids=list(shown),
        )
        storage.events.append([NewEvent.of(recalled, stream=recall_stream(run_id), week_id=week_id, run_id=run_id)])
    return lines


def _earlier_conditions(storage: Storage, now: datetime, week_id: date) -> bool:
    """Whether the memory holds a condition of another week known before `now` (its events say so)."""
    for event in storage.events.read(type=ConditionRemembered.event_type()):
        condition = ConditionRemembered.from_event(event).condition
        if condition.known_at < now and condition.week_id != week_id:
            return True
    return False
