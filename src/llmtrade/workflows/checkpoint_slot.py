"""Which checkpoint (`Slot`: its day, time and streams) and where one account's checkpoint stands (`Outcome`, read
back from its write-once stream by `outcome_from`): what the checkpoint's stages and the jobs that run them share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from llmtrade.domain.checkpoints import Checkpoint, CheckpointSkipped, CheckpointTaken, checkpoint_key
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.streams import checkpoint_stream
from llmtrade.domain.trading import OrdersPlanned, RiskChecked, RiskVerdict


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

    def checkpoint_id(self, week_id: date, account_id: str) -> str:
        """The id of `account_id`'s checkpoint here (Checkpoint.checkpoint_id, an event checkpoint's reference): an
        event checkpoint's label names its account already, and with it again the id read `...T12:30:event:acct_1:
        acct_1` (ids recorded so stay as they are: event_checkpoint.py `reference_price` reads both)."""
        return f"{week_id}:{self.day}T{self.label}" + ("" if self.event_for else f":{account_id}")

    @property
    def key(self) -> str:
        """The job key its marker is known by in `done` (schedule.py Job.key; an event checkpoint's trigger key)."""
        return checkpoint_key(self.day, self.label)

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
