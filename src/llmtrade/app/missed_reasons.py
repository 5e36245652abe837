"""Why a scheduled checkpoint was never run, as the books say it: wake-ups refused for the configuration or the clock,
or, with nothing recorded, no run begun in its time (app/missed_checkpoints.py).

A trial put a typo in risk.yaml: run-due at 09:00 and 09:05 on a Friday both exited 2 (ConfigRejected recorded at
09:00), and once it was mended the 12:30 wake-up said the 09:00 checkpoint was missed because "no run began in its
time (the machine off, cron stopped or waking too seldom, ...)": cron had woken, and every wake-up was refused. The
refusals are recorded once while the same one lasts (app/config_rejections.py, app/clock_guard.py, app/clock_skew.py):
one is still in force over a checkpoint's time when it was made before that time ended and nothing ended it (a run
begun, or a job command accepted: app/refusals_ended.py) before that time began.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from llmtrade.app.refusals_ended import ENDS_REFUSALS, REFUSAL_TYPES
from llmtrade.domain.runs import ClockBehindRefused, ClockSkewRefused, ConfigRejected
from llmtrade.domain.wording import market_time
from llmtrade.market.calendar import NEW_YORK
from llmtrade.storage.event_store import EventStore

NOTHING_RECORDED = (
    "no run began in its time (the machine off, cron stopped or waking too seldom, or a job before it waiting); "
    "run-due runs only the day's latest checkpoint"
)
_SAID = 200  # characters of a refusal's own message: the event id leads to the whole


@dataclass(frozen=True)
class Refusal:
    """A wake-up refused before running anything: `at` when it happened by a clock that was right (a clock refusal's
    own time is the wrong one), `event_id` its record, `what` why it was refused and `why` what it said."""

    at: datetime
    event_id: int
    kind: str
    what: str
    why: str
    exact: bool = True  # False: `at` is only when it was made at the earliest (a clock set back: ClockBehindRefused)


def refusals(events: EventStore) -> list[Refusal]:
    """Every refusal on record, oldest first: few, as each is recorded once while it lasts."""
    found = events.read(type=list(REFUSAL_TYPES))
    return [refusal_of(e.type, e.id, e.occurred_at, e.payload) for e in found]


def why_missed(events: EventStore, found: list[Refusal], at: datetime, until: datetime) -> str:
    """Why the checkpoint due from `at` to `until` was never run: the first refusal in force over that time (`found`:
    `refusals`), else that nothing was recorded."""
    for refusal in found:
        if refusal.at >= until:
            continue  # made after its time: in order by record, not by `at` (a clock refusal's is a bound)
        ended = events.read(type=list(ENDS_REFUSALS), after_id=refusal.event_id, limit=1)
        if ended and ended[0].occurred_at < at:
            continue  # a run began or a command was accepted after it, before the checkpoint's time: over by then
        if refusal.at >= at:
            said = f"wake-ups in its time were refused for {refusal.what} (the first at {_hhmm(refusal.at)}"
        else:  # made before its time, and nothing ran after it: the refusal lasted, or no wake-up came at all
            since = f"{'at' if refusal.exact else 'after'} {market_time(refusal.at, 'minutes')}"
            said = f"wake-ups were refused for {refusal.what} ({since}, no run begun after it"
        return f"{said}: {refusal.kind}, event {refusal.event_id}: {refusal.why})"
    return NOTHING_RECORDED


def refusal_of(kind: str, event_id: int, occurred_at: datetime, payload: dict) -> Refusal:
    """The refusal a ConfigRejected, ClockSkewRefused or ClockBehindRefused (`kind`) records."""
    if kind == ConfigRejected.event_type():
        rejected = ConfigRejected.model_validate(payload)
        said = "; ".join(line.strip().removeprefix("- ") for line in rejected.error.splitlines() if line.strip())
        cut = said if len(said) <= _SAID else said[: _SAID - 1] + "…"
        return Refusal(occurred_at, event_id, kind, "the configuration", f"{rejected.command}: {cut}")
    if kind == ClockSkewRefused.event_type():
        skew = ClockSkewRefused.model_validate(payload)
        ahead = "ahead of" if skew.skew_seconds > 0 else "behind"
        why = f"the system clock {abs(skew.skew_seconds) / 60:,.0f} minutes {ahead} the database server's"
        return Refusal(skew.database_at, event_id, kind, "the clock", why)  # the server's time is the right one
    behind = ClockBehindRefused.model_validate(payload)
    read, latest = market_time(behind.now, "minutes"), market_time(behind.latest_at, "minutes")
    why = f"the clock read {read}, behind the books' record of {latest}"
    # Its own time is the clock's, set back: it was refused after the books' latest record was made, no earlier.
    return Refusal(behind.latest_at, event_id, kind, "the clock", why, exact=False)


def _hhmm(at: datetime) -> str:
    return at.astimezone(NEW_YORK).strftime("%H:%M")
