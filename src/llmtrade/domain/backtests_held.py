"""Where a backtest held on the server stands, read off its own record (the `backtest` stream of its database), and
the live books' record of one deleted.

`llmtrade backtest list` shows a row per backtest database from `standing_of`; `llmtrade backtest delete` drops one
and records it in the live books (streams.BACKTESTS_DELETED): its own record goes with its database. The intent
(BacktestDeleting, SweepDeleting) is recorded before the drop, which cannot be undone, and the outcome after it
(BacktestDeleted, SweepDeleted, or DeleteAbandoned naming the intent): a delete killed between the two leaves its
intent to say what was being dropped, and the next `backtest list` or `delete` asks the server how it ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import Field

from llmtrade.domain.backtests import (
    BacktestFinished,
    BacktestStarted,
    BacktestStopped,
    first_leak,
    weeks_done,
)
from llmtrade.domain.events import EventPayload, StoredEvent

# finished: every week of its last start's range done and its finish recorded; unfinished: stopped (killed, failed)
# before, to be resumed by the same command; running: another process holds its database now; empty: no start got as
# far as its record (stopped while opening its database, or made by hand); unreadable: not llmtrade's books as this
# version reads them (a database named so by hand, one of a later version).
Status = Literal["finished", "unfinished", "running", "empty", "unreadable"]


@dataclass(frozen=True)
class Standing:
    """What a backtest's record says of it: its last start's range (first and last week, Wednesdays) and mode, where its
    prices came from (BacktestStarted.data: "synthetic", "csv:/folder"), the weeks done of that range, and why it
    stopped when its last invocation failed (`stop`: the error's first line and the exit code)."""

    status: Status
    first_week: date | None = None
    last_week: date | None = None
    weeks: int = 0
    weeks_done: int = 0
    mode: str | None = None
    prices: str | None = None
    stop: str | None = None


def standing_of(stream: Sequence[StoredEvent], *, running: bool) -> Standing:
    """The standing of the backtest whose `stream` (streams.BACKTEST, in id order) this is; `running`: another process
    holds its database (app/backtest_lock.py `held_elsewhere`)."""
    starts = [e for e in stream if e.type == BacktestStarted.event_type()]
    if not starts:
        return Standing("running" if running else "empty")
    last = starts[-1]
    started = BacktestStarted.from_event(last)
    weeks = (started.end - started.start).days // 7 + 1
    done = sum(1 for week in weeks_done(stream) if started.start <= week <= started.end)
    finished = any(e.type == BacktestFinished.event_type() and e.id > last.id for e in stream)
    status: Status = "running" if running else "finished" if finished else "unfinished"
    stop = None
    stops = [e for e in stream if e.type == BacktestStopped.event_type() and e.id > last.id]
    if stops and status == "unfinished":
        stopped = BacktestStopped.from_event(stops[-1])
        stop = f"{stopped.error.splitlines()[0] if stopped.error else 'stopped'} (exit {stopped.exit_code})"
    leak = first_leak(stream)
    if leak is not None:  # said first: its results are no evidence, whatever else stopped it
        stop = f"failed its look-ahead audit at week {leak.week_id} ({leak.role})" + (f"; {stop}" if stop else "")
    return Standing(status, started.start, started.end, weeks, done, started.mode, started.data, stop)


class BacktestDeleted(EventPayload):
    """`llmtrade backtest delete`: backtest `name`'s database dropped (its books, record, memory and caches) and its
    folders under LLMTRADE_HOME/backtests removed (`folders`; none: it had none). What it was, as `backtest list` showed
    it just before: its status, range, weeks done, events and size on disk (bytes). `dropped`: False when its
    database was gone already and only its folder was left (a delete stopped between the two)."""

    name: str
    database: str
    status: str
    first_week: date | None = None
    last_week: date | None = None
    weeks_done: int = 0
    events: int | None = None
    size_bytes: int = 0
    folders: list[str] = Field(default_factory=list)
    dropped: bool = True
    # The BacktestDeleting it completes (None: recorded before intents were, which old events read as) and whether a
    # later command recorded it from that intent, having found the database gone (the delete was killed after the
    # drop). Fields with defaults: an old event reads as it was, no upcast needed.
    intent: int | None = None
    completed_later: bool = False


class BacktestDeleting(EventPayload):
    """The intent of a `backtest delete`, recorded before the drop: what BacktestDeleted will say (what it was, as
    `backtest list` showed it), the folders to remove, whether there is a database to drop (`drop`: False when it was
    gone already and only folders were left) and its `oid` (a database of the same name made since is another one).
    `sweep`: the sweep whose delete this run's is part of. `lease`: the advisory lock (storage/run_leases.py) its
    process holds on the live books until its outcome is recorded: free with no outcome, the process is gone."""

    name: str
    database: str
    status: str
    first_week: date | None = None
    last_week: date | None = None
    weeks_done: int = 0
    events: int | None = None
    size_bytes: int = 0
    folders: list[str] = Field(default_factory=list)
    drop: bool = True
    oid: int | None = None
    sweep: str | None = None
    lease: int

    def deleted(self, intent: int, folders: list[str], *, later: bool) -> BacktestDeleted:
        """The BacktestDeleted that completes this intent (event `intent`), `folders` being those removed."""
        return BacktestDeleted(
            name=self.name,
            database=self.database,
            status=self.status,
            first_week=self.first_week,
            last_week=self.last_week,
            weeks_done=self.weeks_done,
            events=self.events,
            size_bytes=self.size_bytes,
            folders=folders,
            dropped=self.drop,
            intent=intent,
            completed_later=later,
        )


class SweepDeleted(EventPayload):
    """`llmtrade backtest delete NAME --sweep`: sweep `name`'s record (`database`, each run's leaderboard and failed
    attempt) dropped, after its `runs` (their backtest names; each recorded as a BacktestDeleted before it), the
    record's size on disk (bytes) and the runs' in all."""

    name: str
    database: str
    runs: list[str]
    size_bytes: int = 0
    intent: int | None = None  # as BacktestDeleted's
    completed_later: bool = False


class SweepDeleting(EventPayload):
    """The intent of dropping sweep `name`'s record, recorded before the drop (its runs' each have their own
    BacktestDeleting): what SweepDeleted will say, whether there is a record to drop, its `oid` and the `lease`, as
    BacktestDeleting's."""

    name: str
    database: str
    runs: list[str]
    size_bytes: int = 0
    drop: bool = True
    oid: int | None = None
    lease: int

    def deleted(self, intent: int, *, later: bool) -> SweepDeleted:
        return SweepDeleted(
            name=self.name,
            database=self.database,
            runs=self.runs,
            size_bytes=self.size_bytes,
            intent=intent,
            completed_later=later,
        )


class DeleteAbandoned(EventPayload):
    """A BacktestDeleting or SweepDeleting (`intent`) whose drop never happened: the delete stopped before it (refused
    as in use, killed before the DROP), its database found still there. Nothing was removed; a rerun of the delete
    records an intent of its own."""

    intent: int
    name: str
    database: str
    reason: str
