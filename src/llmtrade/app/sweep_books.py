"""`llmtrade backtest delete NAME --sweep`: a sweep's record and every run's books, removed together.

A sweep's record (`llmtrade_sw_<name>`) is a database no `backtest delete` of a run reaches, and its runs are
backtests named `<sweep>-<run id>` (`llmtrade_bt_<sweep>_<12 hex digits>`). Nothing is deleted while the sweep's
driver runs or one of its runs is held; the runs go first, each deleted as a backtest is (its BacktestDeleting in the
live books before its drop, its BacktestDeleted after), then the record (SweepDeleting, SweepDeleted), so a delete
stopped part-way leaves the record to find the rest by, and the same command finishes it; one killed between an
intent and its outcome is settled by the next `backtest list` or `delete` (app/backtest_deletions.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NoReturn

from llmtrade.app.backtest_books import delete_held, held_backtest
from llmtrade.app.backtest_books_results import BacktestHeld, SweepDeletion, SweepHeld
from llmtrade.app.backtest_deletions import intend, leased, live_books, record, settle, settle_after_failure, shown
from llmtrade.app.books_named import BACKTESTS, SWEEPS, held
from llmtrade.app.sweep_member import sweep_database
from llmtrade.clock import Clock
from llmtrade.domain.backtests_held import SweepDeleted, SweepDeleting
from llmtrade.errors import TemporaryError, UsageError
from llmtrade.settings import Settings
from llmtrade.stops import signals_held
from llmtrade.storage.connection import connect
from llmtrade.storage.database import DatabaseLocation, backtest_database, database_exists, locate
from llmtrade.storage.database_list import HeldDatabase, database_oid, drop_database, held_databases, url_on
from llmtrade.sweep.lock import running_elsewhere


def delete_sweep(
    settings: Settings,
    name: str,
    *,
    confirm: Callable[[SweepHeld, list[BacktestHeld]], bool],
    clock: Clock | None = None,
) -> SweepDeletion:
    """Drop sweep `name`'s runs' databases, then its record's, once `confirm` (shown the record and the runs) agrees;
    each recorded in the live books. Names are matched as a sweep file's `name:` is (case, - and _ alike).

    Raises UsageError (exit 2) for a name no sweep has (saying which there are) or a `confirm` that declines;
    TemporaryError (exit 75), nothing deleted, while the sweep's driver runs or one of its runs is held by another
    process, and (storage/database_list.py DatabaseInUse) when another session has one open: the runs dropped
    before it are recorded, and the same command goes on with the rest."""
    database = sweep_database(name)
    location = locate(settings)
    with live_books(settings, clock) as storage:
        earlier = settle(storage, location)
        settled = [shown(s) for s in earlier]
        found = next((s for s in held_databases(location, SWEEPS) if s.database == database), None)
        runs = _runs(location, database)
        if found is None and not runs:
            mine = [
                (s.outcome, s.event_id)
                for s in earlier
                if isinstance(s.outcome, SweepDeleted) and s.outcome.database == database
            ]
            if mine:  # dropped by an earlier delete killed before it recorded it: recorded now
                deleted, event_id = mine[-1]
                assert isinstance(deleted, SweepDeleted)
                return SweepDeletion(
                    name=deleted.name,
                    database=database,
                    record_dropped=True,
                    runs=[],
                    size_bytes=deleted.size_bytes,
                    event_ids=[event_id],
                    settled=settled,
                )
            _not_a_sweep(settings, location, name, database)
        if found is not None:
            with connect(url_on(location, database)) as conn:
                driver = running_elsewhere(conn)
            if driver is not None:
                raise TemporaryError(
                    f"sweep {found.name} is running ({driver}): nothing was deleted; stop it, or run the command "
                    "again once it ends"
                )
        helds = [held_backtest(location, run, {database}) for run in runs]
        busy = [h.name for h in helds if h.status == "running"]
        if busy:
            raise TemporaryError(
                f"sweep {name}'s run {', '.join(busy)} is running (another process holds its database): nothing was "
                "deleted; run the command again once it ends"
            )
        record_held = SweepHeld(
            name=found.name if found else name, database=database, size_bytes=found.size_bytes if found else 0
        )
        if not confirm(record_held, helds):
            raise UsageError(f"sweep {record_held.name} was not deleted (not confirmed)")
        # Each run as a backtest is deleted (its intent, its drop, its outcome), then the record: a delete stopped
        # part-way (a run in use: exit 75) leaves the record to find the rest by, and the same command finishes it.
        # Between runs Ctrl-C and SIGTERM stop the command, after the outcome of those dropped.
        ids = [
            delete_held(storage, location, was.database, was.name, was, [], sweep=record_held.name)[1] for was in helds
        ]
        # A run another delete dropped as this one was about to (no event id: none recorded) is not one it deleted.
        helds = [was for was, event_id in zip(helds, ids, strict=True) if event_id is not None]
        size_bytes = record_held.size_bytes + sum(h.size_bytes for h in helds)
        with leased(storage, database) as lease, signals_held():
            intent = SweepDeleting(
                name=record_held.name,
                database=database,
                runs=[h.name for h in helds],
                size_bytes=size_bytes,
                drop=found is not None,
                oid=database_oid(location, database) if found is not None else None,
                lease=lease,
            )
            intent_id = intend(storage, intent)
            if found is not None:
                try:
                    drop_database(location, database)
                except Exception as exc:
                    settle_after_failure(storage, location, intent_id, intent, exc)
                    raise
            ids.append(record(storage, intent.deleted(intent_id, later=False), intent_id))
    return SweepDeletion(
        name=record_held.name,
        database=database,
        record_dropped=found is not None,
        runs=helds,
        size_bytes=size_bytes,
        event_ids=[i for i in ids if i is not None],
        settled=settled,
    )


def _not_a_sweep(settings: Settings, location: DatabaseLocation, name: str, database: str) -> NoReturn:
    """UsageError for a name no sweep has: a plain backtest's name given with --sweep is told so, as a sweep's given
    without it is told to add it."""
    try:
        plain = database_exists(location, backtest_database(name))
    except UsageError:  # a sweep's name may be one no backtest can have
        plain = False
    said = (
        f"it is a backtest's name: `llmtrade backtest delete {name}` (without --sweep) deletes it"
        if plain
        else held(settings, SWEEPS, name, "sweep")
    )
    raise UsageError(f"no sweep named {name!r} (no database {database}); {said}")


def _runs(location: DatabaseLocation, database: str) -> list[HeldDatabase]:
    """The backtest databases of the sweep whose record is `database`: `llmtrade_bt_<its key>_<12 hex digits>`. The
    digits are exactly twelve, so sweep `a`'s runs are never sweep `a_b`'s."""
    run = re.compile(re.escape(BACKTESTS + database.removeprefix(SWEEPS)) + r"_[0-9a-f]{12}")
    return [h for h in held_databases(location, BACKTESTS) if run.fullmatch(h.database)]
