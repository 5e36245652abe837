"""Where a backtest held on the server stands, read off its own record (the `backtest` stream of its database), and
the live books' record of one deleted.

`llmtrade backtest list` shows a row per backtest database from `standing_of`; `llmtrade backtest delete` drops one
and records `BacktestDeleted` in the live books (streams.BACKTESTS_DELETED): its own record goes with its database.
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


class SweepDeleted(EventPayload):
    """`llmtrade backtest delete NAME --sweep`: sweep `name`'s record (`database`, each run's leaderboard and failed
    attempt) dropped, after its `runs` (their backtest names; each recorded as a BacktestDeleted before it), the
    record's size on disk (bytes) and the runs' in all."""

    name: str
    database: str
    runs: list[str]
    size_bytes: int = 0
