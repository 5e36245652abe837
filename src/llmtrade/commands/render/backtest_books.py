"""`backtest list` and `backtest delete`: the backtests held on the server, and the one removed."""

from __future__ import annotations

from llmtrade.app.backtest_books_results import (
    BacktestDeletion,
    BacktestHeld,
    BacktestList,
    DeletionSettled,
    SweepDeletion,
    SweepHeld,
)
from llmtrade.console import Output


def size(n: int) -> str:
    """Bytes as a person reads a disk's: 8.2 MB, 1.4 GB (decimal units, as `df -H`)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def weeks(held: BacktestHeld) -> str:
    """ "12 of 52, 2024-01-03..2024-12-25", or "" for books with no start recorded."""
    if held.first_week is None:
        return ""
    return f"{held.weeks_done} of {held.weeks}, {held.first_week}..{held.last_week}"


def print_settled(out: Output, settled: list[DeletionSettled]) -> None:
    """A line for each delete found stopped between its intent and its outcome, and what became of it."""
    for s in settled:
        if s.outcome == "deleted":
            out.line(
                f"{s.kind} {s.name}: an earlier delete dropped {s.database} and was stopped before recording it; "
                f"recorded now from its intent (event {s.intent_id}): event {s.event_id}"
            )
        else:
            out.line(
                f"{s.kind} {s.name}: an earlier delete was stopped before dropping {s.database}, which is still "
                f"there; its intent (event {s.intent_id}) recorded abandoned: event {s.event_id}"
            )


def print_backtest_list(out: Output, listed: BacktestList) -> None:
    print_settled(out, listed.settled)
    if not listed.backtests and not listed.sweeps:
        out.line("no backtest on this database server yet: `llmtrade backtest --from D --to D --offline` runs one")
        return
    out.table(
        "backtests",
        ["name", "status", "weeks done", "mode", "prices", "events", "size", "sweep", "note"],
        [
            (
                b.name,
                b.status,
                weeks(b),
                b.mode or "",
                b.prices or "",
                "" if b.events is None else f"{b.events:,}",
                size(b.size_bytes),
                b.sweep or "",
                b.note or "",
            )
            for b in listed.backtests
        ],
        whole=["name", "status"],  # the name `backtest delete` takes: cut to "Long-…" at 80 columns, runs alike
    )
    if listed.sweeps:
        out.table(
            "sweep records",
            ["name", "database", "size"],
            [(s.name, s.database, size(s.size_bytes)) for s in listed.sweeps],
            whole=["name"],
        )
    counted = f"{len(listed.backtests)} backtest{'s' if len(listed.backtests) != 1 else ''}"
    if listed.sweeps:
        counted += f" and {len(listed.sweeps)} sweep record{'s' if len(listed.sweeps) != 1 else ''}"
    out.line(f"{counted}: {size(listed.size_bytes)} on disk; `llmtrade backtest delete NAME` removes one")


def what_goes(held: BacktestHeld) -> str:
    """The confirmation's question: which books, how far they got, how much they hold."""
    held_weeks = weeks(held)
    got = f"{held.status}, weeks {held_weeks}" if held_weeks else held.status
    events = "" if held.events is None else f"{held.events:,} events, "
    return f"delete backtest {held.name} ({got}; {events}{size(held.size_bytes)}, database {held.database})?"


def print_deletion(out: Output, deleted: BacktestDeletion) -> None:
    print_settled(out, deleted.settled)
    if deleted.completed_later:
        return  # said by its settled line: nothing else was done now
    if deleted.dropped:
        out.line(f"deleted backtest {deleted.name}: database {deleted.database} dropped")
    else:
        out.line(f"backtest {deleted.name}: its database {deleted.database} was gone already")
    for folder in deleted.folders:
        out.line(f"removed {folder}")
    if deleted.was is not None and deleted.was.sweep is not None and deleted.was.status == "finished":
        sweep = deleted.was.sweep
        out.line(
            f"it was a run of sweep {sweep}: the sweep's record keeps its leaderboard (`llmtrade report --sweep "
            f"{sweep}` still compares it) and a rerun of the sweep file does not run it again"
        )
    elif deleted.was is not None and deleted.was.sweep is not None:
        # A run the sweep never finished has no leaderboard in its record, and the sweep file's rerun runs it anew.
        out.line(
            f"it was an {deleted.was.status} run of sweep {deleted.was.sweep}: the sweep's record has no leaderboard "
            "of it, and a rerun of the sweep file runs it again from its first week"
        )
    out.line(f"recorded in the live books: event {deleted.event_id} (BacktestDeleted)")


def what_sweep_goes(record: SweepHeld, runs: list[BacktestHeld]) -> str:
    size_of = record.size_bytes + sum(r.size_bytes for r in runs)
    counted = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    return f"delete sweep {record.name}: its record and the books of its {counted} ({size(size_of)})?"


def print_sweep_deletion(out: Output, deleted: SweepDeletion) -> None:
    print_settled(out, deleted.settled)
    if not deleted.runs and deleted.event_ids and any(s.event_id == deleted.event_ids[0] for s in deleted.settled):
        return  # an earlier delete's, recorded now: said by its settled line
    for run in deleted.runs:
        out.line(f"deleted run {run.name}: database {run.database} dropped")
    if deleted.record_dropped:
        out.line(
            f"deleted sweep {deleted.name}: its record {deleted.database} dropped ({size(deleted.size_bytes)} in all)"
        )
    else:
        out.line(f"sweep {deleted.name}: its record {deleted.database} was gone already")
    out.line(f"recorded in the live books: events {', '.join(map(str, deleted.event_ids))}")
