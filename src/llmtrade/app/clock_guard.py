"""A command that trades or records the books refuses to run on a clock set back behind them, or on a system clock
away from the database server's (app/clock_skew.py, checked first: it names the clocks that disagree).

The books are written forward: a record made at a later instant cannot be undone by a job run at an earlier one. A
trial set LLMTRADE_NOW a week back after the books had run on: `run-due` ran that week's weekly run, submitted and
filled orders at its prices and replaced an account's positions, exit 0 ("Only the current week ever trades").
`status` and the other readers say such a clock (app/clock_behind.py); a command that writes refuses, before doing
anything, with exit 75 (errors.TemporaryError): a clock stepped back (NTP) fixes itself as it catches up, and one set
back by hand (LLMTRADE_NOW) is the operator's to put right. It is alerted, once per latest record: it stops every
cron job, and nothing else would tell LLMTRADE_ALERT_URLS. A backtest never comes here: its clock steps forward
through its own database, and its jobs are called without the CLI's commands."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from llmtrade.alerts.incidents import clock_behind_incident, clock_skew_incident
from llmtrade.app import clock_skew
from llmtrade.app.alerting import alert_refused
from llmtrade.app.clock_behind import SLACK, new_york
from llmtrade.app.container import Container
from llmtrade.app.refusals_ended import ENDS_REFUSALS, unended
from llmtrade.domain.breaker import BreakerUpdated
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.reconciliation import PositionAdopted, PositionReleased
from llmtrade.domain.runs import ClockBehindRefused, RunFailed, RunFinished, RunKilled, RunStarted
from llmtrade.domain.streams import CLOCK_BEHIND
from llmtrade.domain.trading import OrderFilled, OrderSubmitted
from llmtrade.errors import TemporaryError
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.head_append import append_after
from llmtrade.storage.latest_record import latest_record

# What the books' time is read from: every run's start and end, and what changes an account outside a run (a
# breaker reset, a position adopted or released). Not the alerts, nor this refusal: both are recorded on a clock
# behind the books, and the latest of them would then hide how far behind it is.
BOOK_TYPES = tuple(
    cls.event_type()
    for cls in (
        RunStarted,
        RunFinished,
        RunFailed,
        RunKilled,
        AccountValued,
        OrderSubmitted,
        OrderFilled,
        BreakerUpdated,
        PositionAdopted,
        PositionReleased,
    )
)


class ClockRefused(TemporaryError):
    """A refusal for a wrong clock (exit 75). `said_before`: the same command was refused for the same thing before
    (its ClockBehindRefused or ClockSkewRefused is on record), so cron's `run-due -q` has said it already
    (commands/schedule.py)."""

    def __init__(self, message: str, *, said_before: bool):
        super().__init__(message)
        self.said_before = said_before


class ClockBehind(ClockRefused):
    """The clock is behind the books' latest record."""


class ClockSkewed(ClockRefused):
    """The system clock is away from the database server's (app/clock_skew.py)."""


def refuse_wrong_clock(app: Container, command: str, *, alert: bool = True) -> int | None:
    """Raise ClockSkewed (exit 75) when the system clock is away from the database server's beyond the allowance, or
    ClockBehind naming the books' latest record and the clock when the books hold a record later than the clock's now
    (beyond the slack); each recorded (ClockSkewRefused, ClockBehindRefused). Nothing else is done but the alert
    (`alert` False: none, a dry run's), once per skew or latest record (app/alerting.py `alert_refused`).

    Returns, when the clock is right, the id of the last refusal on record that nothing has ended since
    (app/refusals_ended.py `unended`), read on the connection already open: a job command accepted ends it (None: no
    such refusal, the common case)."""
    now = app.clock.now()
    allowed = timedelta(minutes=app.settings.clock_skew_minutes)
    with app.storage() as storage:
        skew = clock_skew.measure(app.clock, storage.conn, allowed)
        if skew is not None:
            skewed, recorded = clock_skew.record(storage.events, command, skew, allowed)
        else:
            latest = latest_record(storage.conn, BOOK_TYPES)
            if latest is None or latest <= now + SLACK:
                return unended(storage.events)
            said_before = not _record(storage.events, ClockBehindRefused(command=command, latest_at=latest, now=now))
    if skew is not None:
        said = clock_skew.refusal(skewed)
        if alert:
            alert_refused(app, clock_skew_incident(skewed.since, said))
        raise ClockSkewed(said, said_before=not recorded)
    message = refusal(command, latest, now, real_now())
    if alert:
        alert_refused(app, clock_behind_incident(latest, message))
    raise ClockBehind(message, said_before=said_before)


def refusal(command: str, latest: datetime, now: datetime, real: datetime) -> str:
    """The refusal's one line; `real`: the system's own time, which LLMTRADE_NOW does not move."""
    said = (
        f"the clock is behind the books: their latest record was made at {new_york(latest)}, and the clock reads "
        f"{new_york(now)}. {command} refused: nothing ran (a job run at an earlier instant would trade or judge at "
        "past prices over what is already on record). "
    )
    if latest > real + SLACK:
        # A drill run ahead (LLMTRADE_NOW set to a later day) on the live books: no clock set right passes that record
        # before its time, so "unset LLMTRADE_NOW" alone was a wrong remedy.
        return said + (
            f"That record is dated in the future (the system time is {new_york(real)}): a drill run ahead with "
            "LLMTRADE_NOW on these books? Nothing runs until that time passes; if a drill made it, restore the books "
            "from before the drill (drills belong in their own LLMTRADE_HOME)"
        )
    return said + (
        "Set the clock right (unset LLMTRADE_NOW, or set it to a time after that record); a clock stepped back a "
        "little runs again once it passes it"
    )


def real_now() -> datetime:
    """The system's time, not the app's clock (LLMTRADE_NOW): what tells a record made ahead by a drill."""
    return datetime.fromtimestamp(time.time(), UTC)


def _record(events: EventStore, refused: ClockBehindRefused) -> bool:
    """Once while the same command finds the same latest record (the module's docstring); False when it was on record
    already."""
    before = events.read_stream(CLOCK_BEHIND)
    last = next((e for e in reversed(before) if e.payload.get("command") == refused.command), None)
    if (
        last is not None
        and ClockBehindRefused.from_event(last).latest_at == refused.latest_at
        # the same refusal, unless a command accepted since ended it (the clock put right, then set back again)
        and not events.read(type=list(ENDS_REFUSALS), after_id=last.id, limit=1)
    ):
        return False
    append_after(events, CLOCK_BEHIND, before, refused)  # or another process recorded it at the same moment
    return True
