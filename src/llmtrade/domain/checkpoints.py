"""Mid-week checkpoints and the weekly postmortem (DESIGN.md section 4).

A checkpoint judges a held position from the week's frozen inputs only: the pitch's (or the
decision's) indicators and thresholds, current prices and the account's P/L. No new research.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from llmtrade.domain.events import EventPayload
from llmtrade.domain.market import Quote
from llmtrade.domain.records import Record

Action = Literal["STAY", "EXIT", "FLIP", "REDUCE"]


def checkpoint_key(day: date, time: str) -> str:
    """A checkpoint's job key, what run-due's `done` holds and its markers are known by: checkpoint:2026-01-08T12:00
    (workflows/schedule.py Job.key, checkpoint_slot.py Slot.key; `time` an event checkpoint's label there)."""
    return f"checkpoint:{day.isoformat()}T{time}"


class CheckpointAnswer(Record):
    """What the account's owner writes at a checkpoint."""

    action: Action
    conviction_after: int = Field(ge=-2, le=2)
    reason_delta: str = Field(min_length=1, max_length=2000)


class Move(Record):
    action: Action
    conviction_after: int


class CheckpointReply(Record):
    """What the owner writes: a move (built per position, see `agents.checkpointer.answer_schema`,
    so its action and conviction agree) and why."""

    move: Move
    reason_delta: str = Field(min_length=1, max_length=2000)

    def to_answer(self) -> CheckpointAnswer:
        return CheckpointAnswer(
            action=self.move.action, conviction_after=self.move.conviction_after, reason_delta=self.reason_delta
        )


class Checkpoint(Record):
    checkpoint_id: str
    week_id: date
    day: date
    time: str
    account_id: str
    instrument: str
    conviction_before: int
    conviction_after: int
    action: Action
    reason_delta: str
    indicators_snapshot: dict[str, float | None]
    invalidation_triggered: bool
    decided_by: Literal["invalidation_rule", "owner"]
    # The instrument's price the checkpoint judged ("close" in the snapshot is this price), dated, with
    # its source; None on checkpoints taken before prices came from the quote service.
    price: Quote | None = None


class PostmortemAnswer(Record):
    what_the_thesis_got_right: str = Field(min_length=1, max_length=2000)
    what_it_got_wrong: str = Field(min_length=1, max_length=2000)
    lessons: list[str] = Field(min_length=1, max_length=5)


class IndicatorOutcome(Record):
    """A frozen threshold at the week's end. `held` is whether the thesis's side of it held: for a
    watched indicator, its threshold still holds; for the invalidation rule, the rule did NOT fire
    (the rule firing is the thesis breaking). None when the value is unknown."""

    indicator: str
    threshold: str
    observed: float | None
    held: bool | None
    role: Literal["watched", "invalidation"] = "watched"


class Postmortem(Record):
    week_id: date
    account_id: str
    instrument: str | None
    direction: str | None
    start_equity: float
    end_equity: float
    realized_pnl: float
    unrealized_pnl: float
    week_pnl: float
    # week_pnl / start_equity; None when the week began at equity at or below 0 (an Alpaca account not funded yet, or
    # emptied): no return is defined there, and a negative base flips its sign (`_no_return_from_nothing`).
    week_return: float | None
    instrument_return: float | None
    indicators: list[IndicatorOutcome]
    reflection: PostmortemAnswer | None
    # Said when the reflection was written by the model that made the week's trade while models.yaml names another for
    # its PM (or the chairman) now (workflows/frozen_trade.py `_maker`). Left out of the record when None, as
    # postmortems stored before it were written.
    model_kept: str | None = Field(None, exclude_if=lambda kept: kept is None)

    @model_validator(mode="before")
    @classmethod
    def _no_return_from_nothing(cls, data: Any) -> Any:
        """No return over a week begun at equity at or below 0, whoever computed one: postmortems stored before
        migration 0021 hold the P/L over that base (from -1,000 to -500 read +50%); they are read as none, with no new
        schema version for a value no reader should see."""
        if isinstance(data, dict) and data.get("week_return") is not None:
            start = data.get("start_equity")
            if isinstance(start, int | float) and not start > 0:
                return {**data, "week_return": None}
        return data


# ---------------------------------------------------------------- events


class CheckpointTaken(EventPayload):
    checkpoint: Checkpoint


class CheckpointsMissed(EventPayload):
    """Scheduled checkpoints of a week whose time ended with no run of them begun (run-due runs only the day's latest
    one): recorded once, by the first wake-up after (app/missed_checkpoints.py)."""

    checkpoints: list[str]  # their job keys, e.g. checkpoint:2026-01-14T09:00
    reason: str


class CheckpointTimesSeen(EventPayload):
    """The checkpoint times schedule.yaml gave run-due from this event's time on: recorded by the first wake-up that
    found them, and again whenever they change (app/missed_checkpoints.py), so a checkpoint counts as missed only at
    a time the schedule then in force named."""

    times: list[str]  # HH:MM, New York, sorted
    # When schedule.yaml was written, if before this event and after the times recorded before: in force from then. A
    # time added on a Thursday evening counted only from the next wake-up, so with none before Friday's 10:30 that
    # checkpoint was never said missed. None: from the event's time (the packaged defaults, an older file).
    since: datetime | None = None


class OrphanedPositionsSaid(EventPayload):
    """run-due said that accounts no longer in accounts.yaml hold positions (app/orphaned_positions.py): what each
    holds ("SYMBOL +QTY, ..."), said again only when that changes."""

    holdings: dict[str, str]


class EventQuoteFailureSaid(EventPayload):
    """run-due said that an account's instrument (`symbol`) had no price now to look for a move
    (app/event_quotes_said.py): `error` the first wake-up's failure, said once while it lasts (each wake-up's text
    names its own time); None when a later wake-up had a price again and said so."""

    account_id: str
    symbol: str
    error: str | None


class CheckpointSkipped(EventPayload):
    account_id: str
    reason: str


class CheckpointCompleted(EventPayload):
    """Every account was handled for this week, day and time (the run-due marker)."""

    week_id: date
    day: date
    time: str
    run_id: str

    @property
    def key(self) -> str:
        """The job key of the checkpoint it completes (`checkpoint_key`)."""
        return checkpoint_key(self.day, self.time)


class EventCheckpointTriggered(EventPayload):
    """`run-due` fires an extra checkpoint for `account_id`: `symbol` moved `move` (a signed fraction,
    0.062 = +6.2%) from `reference_price` (recorded by checkpoint `reference_checkpoint` at
    `reference_at`) to `price` (quoted at `price_at` by `price_source`), beyond `threshold`.
    `key` is the extra checkpoint's job key (checkpoint:DAYTHH:MM:event:ACCOUNT); `day` and `time`
    (HH:MM, New York) its slot."""

    key: str
    account_id: str
    day: date
    time: str
    symbol: str
    reference_checkpoint: str
    reference_price: float
    reference_at: datetime
    price: float
    price_at: datetime
    price_source: str
    move: float
    threshold: float


class EventChecksDeferred(EventPayload):
    """`run-due`'s look for price moves was left to the next wake-up: another run of the week (`reason` names it)
    held the week's lock. A wake-up overlapping a long run is cron working as set up, not a fault: recorded, and
    said only without --quiet (cron mails whatever is printed)."""

    reason: str


class DueJobNotRun(EventPayload):
    """`run-due` listed `job` due and did not run it: it would have begun after its session's close, the clock having
    moved while the jobs and looks before it ran (a scheduled checkpoint or weekly run refused as SessionOver, an event
    checkpoint reached after the close). Recorded at the time: only the wake-up's output said it, and the next wake-up
    closed the checkpoint, or recorded the week not run, with nothing on record of why this one had not begun it.
    `kind`: checkpoint, weekly or event checkpoint; `account_id` an event checkpoint's."""

    job: str
    kind: str
    reason: str
    account_id: str | None = None


class ClosingPutOff(EventPayload):
    """`run-due` found these checkpoints (`checkpoints`: their job keys) of the week past their deadline and left their
    closing (app/checkpoint_deadlines.py) to the next wake-up: another run of the week held its lock, or a broker that
    had to be asked first (an order of a killed run's plan) did not answer (`reason`). `status` shows it while they
    stay open."""

    reason: str
    checkpoints: list[str]


class PostmortemWritten(EventPayload):
    postmortem: Postmortem


class PostmortemReflected(EventPayload):
    """An owner's reflection on its account's week (None when it failed to answer), stored before the
    postmortem is written, so a postmortem resumed after a crash does not ask the owner again."""

    account_id: str
    reflection: PostmortemAnswer | None
    error: str | None = None


class PostmortemCompleted(EventPayload):
    week_id: date
    run_id: str


class AccountValued(EventPayload):
    """An account's equity at a moment that matters (week start, checkpoint, postmortem)."""

    account_id: str
    equity: float
    cash: float
    realized_pnl: float | None
    unrealized_pnl: float | None
    occasion: str
    # Held symbols no provider priced, valued at their cost: this equity is not a market value. Left out of the record
    # when empty, as valuations stored before it were written.
    at_cost: list[str] = Field(default_factory=list, exclude_if=lambda held: not held)
    # Held symbols whose prices ended (a CSV file no longer written, a ticker delisted or renamed), valued at their last
    # close, as the leaderboard marks them: symbol -> that close's day. Left out of the record when empty, as
    # valuations stored before it (and a backtest's) were written.
    at_last_close: dict[str, date] = Field(default_factory=dict, exclude_if=lambda held: not held)
    # What the broker names the account (AccountSnapshot.broker_account): another name at a later look is a reset.
    # Left out when None (the paper broker; valuations stored before it).
    broker_account: str | None = Field(default=None, exclude_if=lambda name: name is None)


class TradingDisabled(EventPayload):
    reason: str


class TradingEnabled(EventPayload):
    reason: str


class OrderBlocked(EventPayload):
    client_order_id: str
    account_id: str
    reason: str  # begins with KILL_SWITCH_BLOCK when the kill switch blocked it, else the breaker did


KILL_SWITCH_BLOCK = "kill switch: "
