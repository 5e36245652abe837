"""Which checkpoint (`Slot`: its day, time and streams) and where one account's checkpoint stands (`Outcome`, read
back from its write-once stream by `outcome_from`): what the checkpoint's stages and the jobs that run them share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from llmtrade.domain.checkpoints import Checkpoint, CheckpointCompleted, CheckpointSkipped, CheckpointTaken
from llmtrade.domain.events import InputsMissing, NewEvent, StageDeferred, StoredEvent
from llmtrade.domain.streams import checkpoint_stream, held_stream
from llmtrade.domain.trading import OrdersPlanned, RiskChecked, RiskVerdict
from llmtrade.market.calendar import NEW_YORK
from llmtrade.storage.event_store import EventStore


@dataclass(frozen=True)
class Outcome:
    """One account's checkpoint as it stands: judged (checkpoint) or skipped, then decided (verdict, orders)."""

    account_id: str
    checkpoint: Checkpoint | None
    skipped: str | None
    orders: OrdersPlanned | None
    verdict: RiskVerdict | None


@dataclass(frozen=True)
class Slot:
    """Which checkpoint: the New York day and the time (HH:MM); `event_for`: the account of an event
    checkpoint (fired by a price move at `time`), which gets its own streams, label and order ids."""

    day: date
    time: str
    event_for: str | None = None

    @property
    def label(self) -> str:
        """`time`, or `time:event:ACCOUNT` for an event checkpoint: what its key and streams are named by."""
        return self.time if self.event_for is None else f"{self.time}:event:{self.event_for}"

    @property
    def tag(self) -> str:
        """What tells this checkpoint's orders apart from the week's other orders of the same intent."""
        return f"{self.day:%m%d}T{self.time.replace(':', '')}" + ("E" if self.event_for else "")

    def stream(self, week_id: date, account_id: str | None = None) -> str:
        return checkpoint_stream(week_id, self.day, self.label, account_id)


def outcome_from(account_id: str, stored: list[StoredEvent]) -> Outcome:
    """An account's checkpoint as far as its stream holds it (the decision may be missing after a crash)."""
    checkpoint = next(
        (CheckpointTaken.from_event(e).checkpoint for e in stored if e.type == CheckpointTaken.event_type()), None
    )
    skipped = next(
        (CheckpointSkipped.from_event(e).reason for e in stored if e.type == CheckpointSkipped.event_type()), None
    )
    verdict = next((RiskChecked.from_event(e).verdict for e in stored if e.type == RiskChecked.event_type()), None)
    orders = next((OrdersPlanned.from_event(e) for e in stored if e.type == OrdersPlanned.event_type()), None)
    return Outcome(account_id, checkpoint, skipped, orders, verdict)


def close_unjudged(events: EventStore, slot: Slot, week_id: date, deadline: datetime, accounts: list[str]) -> str:
    """Close the checkpoint `slot`, found not complete past its `deadline`, and say how (one line): each of
    `accounts` (judged by no run, or judged and not traded) is recorded as not judged (CheckpointSkipped, unless it
    was judged) with InputsMissing and why (the last run's StageDeferred), then the marker. A checkpoint waits for a
    price or an owner until its deadline (exit 75); past it the wait would fail every cron wake-up till a price
    comes, which a halted, delisted or crashed-at-a-split's-factor symbol may not give that day."""
    marker = slot.stream(week_id)
    deferrals = events.read_stream(held_stream(marker))
    last = StageDeferred.from_event(deferrals[-1]) if deferrals else None
    run_id = (deferrals[-1].run_id if deferrals else None) or f"closed {deadline.isoformat()}"
    until = deadline.astimezone(NEW_YORK).isoformat()
    batch: list[NewEvent] = []
    said: list[str] = []
    for account_id in accounts:
        errors = [e for e in (last.errors if last else []) if e.startswith(f"{account_id}:")] or ["no run finished it"]
        stream = slot.stream(week_id, account_id)
        judged = bool(events.read_stream(stream))
        reason = f"{'judged, not traded' if judged else 'not judged'} by the deadline {until}: {'; '.join(errors)}"
        skipped = [] if judged else [CheckpointSkipped(account_id=account_id, reason=reason)]
        missing = InputsMissing(
            stage=last.stage if last else "prepare", missing=[account_id], errors=[reason], deadline=deadline
        )
        batch += [
            NewEvent.of(p, stream=stream, week_id=week_id, run_id=run_id, account_id=account_id)
            for p in [*skipped, missing]
        ]
        said.append(f"{account_id} {reason}")
    completed = CheckpointCompleted(week_id=week_id, day=slot.day, time=slot.label, run_id=run_id)
    batch.append(NewEvent.of(completed, stream=marker, week_id=week_id, run_id=run_id))
    events.append(batch, expected_versions={marker: 0})
    return f"checkpoint:{slot.day}T{slot.label} closed: {'; '.join(said)}; the next scheduled checkpoint judges them"


def waiting_accounts(events: EventStore, slot: Slot, week_id: date) -> list[str]:
    """The accounts the last run of `slot` left waiting (its StageDeferred), none when no run deferred."""
    deferrals = events.read_stream(held_stream(slot.stream(week_id)))
    return StageDeferred.from_event(deferrals[-1]).waiting if deferrals else []
