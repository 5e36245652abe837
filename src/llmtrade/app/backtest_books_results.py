"""What `llmtrade backtest list --json` and `backtest delete --json` print, and their published schemas (DOCUMENTS)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field

from llmtrade.app.results import Result


class BacktestHeld(Result):
    """One backtest database on the server, as its own record (its `backtest` stream) has it."""

    name: str = Field(description="as its start recorded it (`--name`); names differ in case or - and _ alike")
    database: str
    status: Literal["finished", "unfinished", "running", "empty", "unreadable"] = Field(
        description="finished: every week of its last start's range done; unfinished: stopped before (the same "
        "command resumes it); running: another process holds its database now; empty: no start got as far as its "
        "record; unreadable: not books this version reads (`note` says why)"
    )
    first_week: date | None = Field(default=None, description="its last start's first week (a Wednesday)")
    last_week: date | None = Field(default=None, description="its last start's last week (a Wednesday)")
    weeks: int = Field(default=0, description="the weeks of that range")
    weeks_done: int = Field(default=0, description="of those, the weeks whose every job ran")
    mode: str | None = Field(default=None, description="offline or replay")
    prices: str | None = Field(default=None, description='where its prices came from: "synthetic", "csv:/folder"')
    events: int | None = Field(default=None, description="events its database holds (None: no events table)")
    size_bytes: int = Field(description="its database's size on disk (pg_database_size)")
    sweep: str | None = Field(default=None, description="the sweep it is a run of, whose record is on the server")
    note: str | None = Field(
        default=None,
        description="why its last invocation stopped (the error's first line and exit code), a failed look-ahead "
        "audit, or why it is unreadable",
    )


class SweepHeld(Result):
    """A sweep's record on the server (`llmtrade_sw_<name>`: each run's leaderboard, each failed attempt); its runs'
    books are backtests of their own."""

    name: str
    database: str
    size_bytes: int


class DeletionSettled(Result):
    """A delete stopped (killed) between its intent and its outcome, whose outcome was recorded now, asked of the
    server: `deleted` (its database gone: the BacktestDeleted or SweepDeleted it lacked) or `abandoned` (its database
    still there: it never dropped it)."""

    name: str
    database: str
    kind: Literal["backtest", "sweep"]
    outcome: Literal["deleted", "abandoned"]
    intent_id: int = Field(description="the BacktestDeleting or SweepDeleting event in the live books")
    event_id: int = Field(description="the outcome's event, recorded now")


class BacktestList(Result):
    """`backtest list --json`: every backtest database (sweeps' runs among them) and sweep record on the server, by
    database name, and their size on disk in all (bytes); and the deletes found stopped before their outcome was
    recorded, settled now (`settled`)."""

    backtests: list[BacktestHeld]
    sweeps: list[SweepHeld]
    size_bytes: int
    settled: list[DeletionSettled] = Field(default_factory=list)


class BacktestDeletion(Result):
    """`backtest delete --json`: the backtest deleted, what it was (`was`: None when its database was gone already and
    only its folder was left), the folders removed and the BacktestDeleted event's id in the live books."""

    name: str
    database: str
    dropped: bool = Field(description="its database was dropped now (False: gone already, its folder alone removed)")
    folders: list[str]
    was: BacktestHeld | None
    event_id: int
    completed_later: bool = Field(
        default=False,
        description="an earlier delete dropped it and was stopped before recording it: recorded now from its intent",
    )
    settled: list[DeletionSettled] = Field(default_factory=list, description="as `backtest list`'s")


class SweepDeletion(Result):
    """`backtest delete NAME --sweep --json`: the sweep deleted, its runs as they were (each's books dropped), their
    size on disk and the record's in all (bytes), and the events recorded in the live books (a BacktestDeleted per run,
    then SweepDeleted)."""

    name: str
    database: str
    record_dropped: bool = Field(description="its record was dropped now (False: gone already, runs alone were left)")
    runs: list[BacktestHeld]
    size_bytes: int
    event_ids: list[int]
    settled: list[DeletionSettled] = Field(default_factory=list, description="as `backtest list`'s")


DOCUMENTS: dict[str, Any] = {
    "backtest list": BacktestList,
    "backtest delete": BacktestDeletion,
    "backtest delete --sweep": SweepDeletion,
}
