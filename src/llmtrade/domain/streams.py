"""Every event stream's name, in one place.

A stream is the unit of optimistic concurrency (unique stream + version) and of "written once":
the week's stage streams are written at version 0 only, so a rerun finds them and loads them. Any
module that reads or writes a stream names it through a function here, so a new stream cannot
collide with an old one and a reader cannot drift from its writer.

| stream                                   | written by                    | holds                          |
|------------------------------------------|-------------------------------|--------------------------------|
| run:{run_id}                             | every command                 | run and stage start/end        |
| llm:{run_id}                             | the LLM gateway               | model calls                    |
| market / market:{run_id}                 | market data                   | provider fallbacks, fetches    |
| splits                                   | market data (appended)        | splits found (SplitDetected)   |
| council:{run_id}                         | `council`                     | the general council            |
| week:{week}:{part}                       | the week's stages (once)      | snapshot, research, pitches... |
| week:{week}:{part}:held                  | a stage deferred (appended)   | answers kept for its rerun     |
| week:{week}:checkpoint:{day}T{hh:mm}:{acct} | checkpoint ask, then decide | judgement; verdict and plan |
| week:{week}:checkpoint:{day}T{hh:mm}     | checkpoint complete (once)    | its completion marker          |
| week:{week}:event-checkpoints:{acct}     | run-due (appended, versioned) | why an event checkpoint fired  |
| event-quotes-failed:{acct}               | run-due (appended, versioned) | its instrument's price lost, back |
| week:{week}:postmortem-reflections       | postmortem reflect (once)     | the owners' reflections        |
| week:{week}:postmortem                   | postmortem record (once)      | the postmortem and its marker  |
| week:{week}:done                         | `run-weekly`                  | the week's completion          |
| paper:{account}                          | the paper broker              | accepted and canceled orders   |
| fill:{account}:{client_order_id}         | brokers.fills (once)          | the order's OrderFilled        |
| unlisted:{account}:{client_order_id}     | brokers.order_ends (once)     | the order's OrderNotShown      |
| overfill:{account}:{client_order_id}     | brokers.fills (once)          | the order's OrderOverfilled    |
| valuations:{account}                     | valuations                    | equity marks                   |
| breaker:{account}                        | the circuit breaker           | its state and transitions      |
| trading                                  | `trading enable/disable`      | the kill switch                |
| backtest                                 | `backtest` (its own database) | its inputs, weeks done, audit  |
| sweep                                    | `backtest sweep` (own database) | runs finished and failed     |
| week:{week}:memory:{part}                | memory (once per part)        | setups, outcomes, lessons...   |
| recall:{run_id}                          | memory reads (appended)       | what each role was shown       |
| alert:{key}@{target}                     | alerts (appended)             | one incident's alert to one URL |
| config-rejected                          | a job command (appended)      | configurations it could not use |
| alert-urls                               | alerts (appended)             | alert URLs apprise cannot use   |
| forward-returns-failed                   | run-due (appended, versioned) | forward returns' failures said |
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

KILL_SWITCH = "trading"
# Every split found, whichever run found it: each book folds it (storage/splits.py), one short stream to read.
SPLITS = "splits"
BACKTEST = "backtest"
SWEEP = "sweep"
# In the live books: the backtests deleted (BacktestDeleted), whose own databases, and records, are gone.
BACKTESTS_DELETED = "backtests-deleted"

# The week's write-once parts, in the order the weekly run writes them.
SNAPSHOT = "snapshot"
RESEARCH = "research"
PITCHES = "pitches"
REVIEWS = "reviews"
DECISION = "decision"
RISK = "risk"
ORDERS = "orders"
DONE = "done"
POSTMORTEM = "postmortem"
POSTMORTEM_REFLECTIONS = "postmortem-reflections"
# Appended to, not write-once: each run-due whose look for price moves another run of the week held off.
EVENT_CHECKS = "event-checks"
# Appended to: each run-due that found checkpoints past their deadline and had to leave their closing to the next.
CLOSINGS_PUT_OFF = "closings-put-off"
# Appended to: each job a run-due listed due and did not begin, its session closed by then (DueJobNotRun).
DUE_NOT_RUN = "due-not-run"
MISSED_CHECKPOINTS = "missed-checkpoints"  # CheckpointsMissed, per week
CHECKPOINT_TIMES = "checkpoint-times"  # CheckpointTimesSeen: appended to when schedule.yaml's checkpoints change
WEEK_NOT_RUN = "week-not-run"  # WeekNotRun, write-once per week: said once
ORPHANED_POSITIONS = "orphaned-positions"  # OrphanedPositionsSaid
# Appended to: each job command ended on a database failure no run of it recorded (CommandFailed).
COMMANDS_FAILED = "commands-failed"
# Appended to: each configuration a job command stopped on (ConfigRejected), once while the same error lasts.
CONFIG_REJECTED = "config-rejected"
# Appended to: each hand-made change of the books refused for its input (CommandRefused).
COMMANDS_REFUSED = "commands-refused"
# Alert URLs apprise can make nothing of, once a day each (domain/alerts.py AlertUrlRejected).
ALERT_URLS = "alert-urls"
# Appended at the version read: the alert check failing (AlertCheckFailureSaid), once while it lasts, and its end.
ALERT_CHECK = "alert-check-failed"
# Appended at the version read: an alert check completed (AlertsChecked), at most twice a day.
ALERTS_CHECKED = "alerts-checked"
# Appended to: each command refused for a clock behind the books (ClockBehindRefused), once while the same lasts.
CLOCK_BEHIND = "clock-behind"
# Appended to: each command refused for a system clock away from the database server's (ClockSkewRefused), once per
# command while the same skew lasts.
CLOCK_SKEW = "clock-skew"

# Appended at the version read: the end of wake-ups' refusals (RefusalsEnded), once after each refusal no run followed.
REFUSALS_ENDED = "refusals-ended"


def run_stream(run_id: str) -> str:
    return f"run:{run_id}"


def llm_stream(run_id: str) -> str:
    return f"llm:{run_id}"


def market_stream(run_id: str | None) -> str:
    return f"market:{run_id}" if run_id else "market"


def council_stream(run_id: str) -> str:
    return f"council:{run_id}"


@lru_cache(maxsize=4096)
def week_stream(week_id: date, part: str) -> str:
    # Kept: a checkpoint names its accounts' streams some thirty times, and a date's formatting is most of a name.
    return f"week:{week_id}:{part}"


def held_stream(stream: str) -> str:
    """Where a stage whose write-once `stream` is not written yet keeps the answers it already has (AnswerHeld)
    and why it stopped (StageDeferred); appended to by each deferred run, never final."""
    return f"{stream}:held"


@lru_cache(maxsize=4096)
def checkpoint_stream(week_id: date, day: date, time: str, account_id: str | None = None) -> str:
    """One account's checkpoint at `day` `time` (HH:MM, New York); without an account, its completion marker."""
    suffix = f":{account_id}" if account_id else ""
    return week_stream(week_id, f"checkpoint:{day}T{time}{suffix}")


def event_checkpoint_stream(week_id: date, account_id: str) -> str:
    """Appended at the version read: each EventCheckpointTriggered of the account this week, so two
    run-dues deciding at once cannot both fire."""
    return week_stream(week_id, f"event-checkpoints:{account_id}")


def event_quotes_stream(account_id: str) -> str:
    """Appended at the version read: each time run-due said the account's instrument had no price now for its event
    checkpoints, and each time it said one was had again (EventQuoteFailureSaid)."""
    return f"event-quotes-failed:{account_id}"


def postmortem_stream(week_id: date) -> str:
    return week_stream(week_id, POSTMORTEM)


def postmortem_reflections_stream(week_id: date) -> str:
    """The owners' reflections, stored by the postmortem's reflect stage before the report is written."""
    return week_stream(week_id, POSTMORTEM_REFLECTIONS)


def ledger_stream(account_id: str) -> str:
    return f"paper:{account_id}"


def fill_stream(account_id: str, client_order_id: str) -> str:
    """Write-once: the audit log's OrderFilled of one order (see brokers/fills.py)."""
    return f"fill:{account_id}:{client_order_id}"


def unlisted_stream(account_id: str, client_order_id: str) -> str:
    """Write-once: an order the broker takes as working but shows nowhere working, said once (brokers/order_ends.py)."""
    return f"unlisted:{account_id}:{client_order_id}"


def overfill_stream(account_id: str, client_order_id: str) -> str:
    """Write-once: an order that filled more shares than it was sent for, said with its fill (brokers/overfills.py)."""
    return f"overfill:{account_id}:{client_order_id}"


def valuations_stream(account_id: str) -> str:
    """Valuations that may recur within a week (after each fill)."""
    return f"valuations:{account_id}"


def valuation_stream(account_id: str, week_id: date | None, occasion: str) -> str:
    """Write-once: the account's one valuation for a named occasion of a week (week start, a checkpoint)."""
    return f"valuation:{account_id}:{week_id}:{occasion}"


def breaker_stream(account_id: str) -> str:
    return f"breaker:{account_id}"


def reconciliation_stream(account_id: str, key: str) -> str:
    """Write-once: one difference between an account's broker and llmtrade's records (see brokers/reconcile.py)."""
    return f"reconciliation:{account_id}:{key}"


def managed_stream(account_id: str) -> str:
    """The positions the user adopted into, or released from, llmtrade's management."""
    return f"managed:{account_id}"


def memory_stream(week_id: date, part: str) -> str:
    """Write-once: one part of the week's memory ("condition", "symbols", "pitches", "decision",
    "outcomes", "lessons"); a rerun finds it written and writes nothing twice."""
    return week_stream(week_id, f"memory:{part}")


def recall_stream(run_id: str) -> str:
    """What each role of one run was shown of the memory (MemoryRecalled), appended."""
    return f"recall:{run_id}"


# Symbol discovery (issue 15): every run's picker scores and watchlist; the manual edits, appended.
DISCOVERY = "discovery"
WATCHLIST_EDITS = "watchlist-edits"
UNIVERSE = "universe"  # week:{week}:universe, written once by the week's first job when discovery feeds the committee
# Appended to at the version read: each failure for good of run-due's forward returns said, and its end (once each).
FORWARD_RETURNS_FAILED = "forward-returns-failed"  # ForwardReturnsFailureSaid
# week:{week}:discovery-failed: each failure of run-due's discovery before the week's run (DiscoveryFailed)
DISCOVERY_FAILED = "discovery-failed"


def forward_returns_stream(session: date, horizon: int) -> str:
    """Discovery's forward returns from `session` over `horizon` sessions: written once, when matured."""
    return f"discovery-returns:{session}:{horizon}"


def alert_stream(key: str, target: str) -> str:
    """One incident's alert to one target (domain/alerts.py): AlertFailed attempts, then AlertSent once."""
    return f"alert:{key}@{target}"
