"""`llmtrade backtest list` and `llmtrade backtest delete NAME`: the backtests held on the server, and removing one.

Every backtest, and every run of a sweep, keeps its books in a database of its own (`llmtrade_bt_<name>`), and a
`--fetch-history` backtest its prices under LLMTRADE_HOME/backtests/NAME; on a server run for months they pile up
with no way to see them but psql. The list reads each one's own record (its `backtest` stream) without changing
anything: no database is made or migrated. A delete drops the database (never while a backtest runs in it or
another session reads it: exit 75), removes the folder, and records what it removed in the live books
(BacktestDeleting before the drop, BacktestDeleted after: app/backtest_deletions.py), as the backtest's own record
goes with its database.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from llmtrade.app.backtest_books_results import BacktestDeletion, BacktestHeld, BacktestList, SweepHeld
from llmtrade.app.backtest_deletions import (
    intend,
    leased,
    live_books,
    record,
    settle,
    settle_after_failure,
    settle_if_any,
    shown,
)
from llmtrade.app.backtest_lock import held_elsewhere
from llmtrade.app.books_named import BACKTESTS, SWEEPS, held
from llmtrade.app.sweep_member import run_of, sweep_database, sweep_named
from llmtrade.clock import Clock, SystemClock
from llmtrade.domain import streams
from llmtrade.domain.backtests_held import BacktestDeleted, BacktestDeleting, DeleteAbandoned, standing_of
from llmtrade.errors import DatabaseUnavailable, OperationalError, TemporaryError, UsageError
from llmtrade.settings import Settings
from llmtrade.stops import signals_held
from llmtrade.storage.connection import connect
from llmtrade.storage.database import DatabaseLocation, backtest_database, locate
from llmtrade.storage.database_list import HeldDatabase, database_oid, drop_database, held_databases, url_on
from llmtrade.storage.event_store import EventStore

if TYPE_CHECKING:
    from llmtrade.storage.bootstrap import Storage


def list_backtests(settings: Settings) -> BacktestList:
    """Every backtest database on the server (sweeps' runs among them) and each sweep's record, by database name, with
    where each stands and its size on disk. Read-only but for a delete found killed between its intent and its
    outcome, whose outcome is recorded first (app/backtest_deletions.py `settle_if_any`: one query when there is
    none), so the list shows each as it is and the live books say what became of it."""
    location = locate(settings)
    settled = [shown(s) for s in settle_if_any(settings, location)]
    sweeps = held_databases(location, SWEEPS)
    records = {s.database for s in sweeps}
    backtests = [held_backtest(location, found, records) for found in held_databases(location, BACKTESTS)]
    return BacktestList(
        backtests=backtests,
        sweeps=[SweepHeld(name=s.name, database=s.database, size_bytes=s.size_bytes) for s in sweeps],
        size_bytes=sum(b.size_bytes for b in backtests) + sum(s.size_bytes for s in sweeps),
        settled=settled,
    )


def held_backtest(location: DatabaseLocation, found: HeldDatabase, records: set[str]) -> BacktestHeld:
    """One backtest database as its own record has it; a database llmtrade cannot read as books is listed as such,
    with the reason, not left out (its size is on the disk all the same)."""
    import psycopg.errors  # lazy, as in connect()

    sweep = run_of(found.name)
    row = {
        "name": found.name,
        "database": found.database,
        "size_bytes": found.size_bytes,
        "sweep": sweep if sweep is not None and sweep_database(sweep) in records else None,
    }
    try:
        with connect(url_on(location, found.database)) as conn:
            running = held_elsewhere(conn)
            try:
                stream = EventStore(conn, SystemClock()).read(stream=streams.BACKTEST)
                counted = conn.execute("SELECT count(*) FROM events").fetchone()
            except psycopg.errors.UndefinedTable:  # made, never migrated: no start got as far as its record
                return BacktestHeld(**row, status="running" if running else "empty")
        # Read here, inside the handler: a record another version wrote (a field missing or renamed) is a
        # ValidationError, which ended the whole list in its traceback.
        standing = standing_of(stream, running=running)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in exc.errors())
        return BacktestHeld(
            **row, status="unreadable", note=f"its {exc.title} reads as no version here: {errors}"[:300]
        )
    except (psycopg.Error, ValueError) as exc:  # another version's events, a database made by hand, a refused login
        return BacktestHeld(**row, status="unreadable", note=" ".join(str(exc).split())[:300])
    except (DatabaseUnavailable, UsageError) as exc:
        # connect()'s words for a refusal of this database alone (ALLOW_CONNECTIONS false, its CONNECTION LIMIT, a
        # CONNECT privilege revoked, dropped since it was listed): one such made the whole list exit 75. The server
        # itself gone is the list's failure, as it was.
        with connect(location.url):
            pass
        return BacktestHeld(**row, status="unreadable", note=_refusal(exc))
    return BacktestHeld(
        **row,
        status=standing.status,
        first_week=standing.first_week,
        last_week=standing.last_week,
        weeks=standing.weeks,
        weeks_done=standing.weeks_done,
        mode=standing.mode,
        prices=standing.prices,
        events=int(counted[0]) if counted else 0,
        note=standing.stop,
    )


def _refusal(exc: Exception) -> str:
    """The server's own words for refusing a connection to one database, without connect()'s advice, which speaks of
    DATABASE_URL and of waiting for the server as a whole."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    said = " ".join(str(cause).split())
    return f"cannot connect to it: {said.rsplit('FATAL: ', 1)[-1]}"[:300]


def delete_backtest(
    settings: Settings, name: str, *, confirm: Callable[[BacktestHeld], bool], clock: Clock | None = None
) -> BacktestDeletion:
    """Drop backtest `name`'s database and remove its folder under LLMTRADE_HOME/backtests, once `confirm` (shown what
    is to go) agrees; recorded in the live books, its intent (BacktestDeleting) before the drop and BacktestDeleted
    after (app/backtest_deletions.py, which first settles any delete found killed between the two). Names are matched
    as `--name` matches them (case, - and _ alike).

    Raises UsageError (exit 2) for a name that names no backtest (saying which there are, or that it is a sweep's, or
    that another delete dropped it as this one was about to) or a `confirm` that declines; TemporaryError (exit 75),
    nothing deleted, while a backtest runs in it, another session has it open (storage/database_list.py DatabaseInUse),
    another delete of it is under way, or the live books cannot take its intent; OperationalError (exit 1) when its
    folder cannot be removed, after its database was dropped and recorded (the message names the folder to remove by
    hand). A database gone and its folder left (a delete stopped between the two) has the folder removed and recorded;
    gone by an earlier delete killed before it recorded it, that deletion is recorded now and said so
    (`completed_later`)."""
    database = backtest_database(name)
    location = locate(settings)
    with live_books(settings, clock) as storage:
        earlier = settle(storage, location)
        settled = [shown(s) for s in earlier]
        found = next((h for h in held_databases(location, BACKTESTS) if h.database == database), None)
        folders = _folders(settings, database)
        if found is None and not folders:
            mine = [s for s in earlier if isinstance(s.outcome, BacktestDeleted) and s.outcome.database == database]
            if mine:
                deleted = mine[-1].outcome
                assert isinstance(deleted, BacktestDeleted)
                return BacktestDeletion(
                    name=deleted.name,
                    database=database,
                    dropped=deleted.dropped,
                    folders=deleted.folders,
                    was=None,
                    event_id=mine[-1].event_id,
                    completed_later=True,
                    settled=settled,
                )
            sweep = sweep_named(settings, name)
            there = held(settings, BACKTESTS, name, "backtest")
            said = (
                f"it is a sweep's name: `llmtrade backtest delete {name} --sweep` deletes its record and runs"
                if sweep
                else there
            )
            raise UsageError(f"no backtest named {name!r} (no database {database}); {said}")
        was = held_backtest(location, found, _sweep_records(location)) if found is not None else None
        if was is not None and was.status == "running":
            raise TemporaryError(
                f"backtest {was.name} is running (another process holds its database): nothing was deleted; stop it, "
                "or run the command again once it ends"
            )
        if was is not None and not confirm(was):
            raise UsageError(f"backtest {was.name} was not deleted (not confirmed)")
        event, stored, failed = delete_held(storage, location, database, name, was, folders)
    if failed:
        if event is None:
            done = f"backtest {was.name if was else name}'s database was gone already"
        elif event.dropped:
            done = f"backtest {event.name}'s database was dropped (event {stored})"
        else:
            removed = ", ".join(event.folders)
            done = f"backtest {event.name}'s database was gone already and {removed} removed (event {stored})"
        raise OperationalError(f"{done}, but a folder could not be removed: {failed}; remove it by hand")
    assert event is not None and stored is not None  # recorded: dropped, or a folder removed with none failing
    return BacktestDeletion(
        name=event.name,
        database=database,
        dropped=event.dropped,
        folders=event.folders,
        was=was,
        event_id=stored,
        settled=settled,
    )


def delete_held(
    storage: Storage,
    location: DatabaseLocation,
    database: str,
    name: str,
    was: BacktestHeld | None,
    folders: list[Path],
    *,
    sweep: str | None = None,
) -> tuple[BacktestDeleted | None, int | None, str]:
    """Drop `database` (unless `was` is None: gone already) and remove `folders`, its intent recorded before and its
    outcome after, holding the delete's lease: the BacktestDeleted recorded and its event id (None: nothing was
    dropped nor removed, a DeleteAbandoned recorded instead), and what stopped a folder's removal ("" when nothing
    did). DatabaseInUse (exit 75) before anything is removed when another session opened it since it was looked at:
    the intent's outcome is then asked of the server and recorded."""
    # Ctrl-C and SIGTERM wait from the intent to the outcome: landing between the two, one left the intent to be
    # settled by the next command, where this one can record what it did itself.
    with leased(storage, database) as lease, signals_held():
        oid = database_oid(location, database) if was is not None else None
        if was is not None and oid is None:
            # Looked at before another delete, which took the lease first, dropped it: nothing of it is left to drop.
            # Taken as there, it was "dropped" a second time, exit 0, and a second deletion of it recorded.
            folders = [f for f in folders if f.exists()]
            if not folders:
                if sweep is not None:  # a sweep's delete goes on with its other runs, this one no deletion of its own
                    return None, None, ""
                raise UsageError(
                    f"backtest {was.name} was deleted by another delete as this one was about to (no database "
                    f"{database} now): nothing was deleted by this one"
                )
            was = None
        intent = BacktestDeleting(
            name=was.name if was is not None else name,
            database=database,
            status=was.status if was is not None else "gone",
            first_week=was.first_week if was is not None else None,
            last_week=was.last_week if was is not None else None,
            weeks_done=was.weeks_done if was is not None else 0,
            events=was.events if was is not None else None,
            size_bytes=was.size_bytes if was is not None else 0,
            folders=[str(f) for f in folders],
            drop=was is not None,
            oid=oid,
            sweep=sweep,
            lease=lease,
        )
        intent_id = intend(storage, intent)
        if intent.drop:
            try:
                drop_database(location, database)
            except Exception as exc:
                settle_after_failure(storage, location, intent_id, intent, exc)
                raise
        removed, failed = _remove(folders)
        if not intent.drop and not removed:
            # Nothing dropped nor removed (a folder left that cannot go, its database gone before): no deletion to
            # record; each rerun recorded one of nothing.
            abandoned = DeleteAbandoned(
                intent=intent_id, name=intent.name, database=database, reason=f"nothing was removed: {failed}"[:300]
            )
            record(storage, abandoned, intent_id)
            return None, None, failed
        event = intent.deleted(intent_id, [str(f) for f in removed], later=False)
        return event, record(storage, event, intent_id), failed


def _sweep_records(location: DatabaseLocation) -> set[str]:
    return {s.database for s in held_databases(location, SWEEPS)}


def _folders(settings: Settings, database: str) -> list[Path]:
    """The folders under LLMTRADE_HOME/backtests that belong to the backtest of `database`: named as any spelling of
    its name (`--fetch-history`'s prices are kept under the name as given, and names differ in case or - and _)."""
    root = settings.home / "backtests"
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir() if p.is_dir() and f"{BACKTESTS}{p.name.lower().replace('-', '_')}" == database
    )


def _remove(folders: list[Path]) -> tuple[list[Path], str]:
    """Remove each folder; those removed, and what stopped the others ("" when none did)."""
    removed, failed = [], []
    for folder in folders:
        try:
            if folder.is_symlink():  # a link to a folder elsewhere: the link goes, never what it points at
                folder.unlink()
            else:
                _rmtree(folder)
        except OSError as exc:  # the file or folder inside that would not go: the one to see to
            failed.append(f"{exc.filename or folder} ({exc.strerror or exc})")
        else:
            removed.append(folder)
    return removed, "; ".join(failed)


def _rmtree(folder: Path) -> None:
    """shutil.rmtree, its error raised with the whole path of what would not go: rmtree unlinks by a name relative to
    its folder's descriptor, so its own error named "SPY.csv" alone; its error handler is given the whole path
    (`onexc` from Python 3.12, which deprecates `onerror`)."""
    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=lambda _function, path, exc: _named_whole(path, exc))
    else:
        shutil.rmtree(folder, onerror=lambda _function, path, exc_info: _named_whole(path, exc_info[1]))


def _named_whole(path: str, exc: BaseException) -> None:
    if isinstance(exc, OSError):
        raise OSError(exc.errno, exc.strerror, path) from exc
    raise exc
