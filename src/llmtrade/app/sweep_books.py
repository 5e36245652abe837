"""`llmtrade backtest delete NAME --sweep`: a sweep's record and every run's books, removed together.

A sweep's record (`llmtrade_sw_<name>`) is a database no `backtest delete` of a run reaches, and its runs are
backtests named `<sweep>-<run id>` (`llmtrade_bt_<sweep>_<12 hex digits>`). Nothing is deleted while the sweep's
driver runs or one of its runs is held; the runs go first, each recorded as a BacktestDeleted in the live books, then
the record (SweepDeleted), so a delete stopped part-way leaves the record to find the rest by, and the same command
finishes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from llmtrade.app.backtest_books import dropped, held_backtest, record
from llmtrade.app.backtest_books_results import BacktestHeld, SweepDeletion, SweepHeld
from llmtrade.app.books_named import BACKTESTS, SWEEPS, held
from llmtrade.app.sweep_member import sweep_database
from llmtrade.clock import Clock
from llmtrade.domain.backtests_held import SweepDeleted
from llmtrade.domain.events import EventPayload
from llmtrade.errors import TemporaryError, UsageError
from llmtrade.settings import Settings
from llmtrade.stops import signals_held
from llmtrade.storage.connection import connect
from llmtrade.storage.database import DatabaseLocation, backtest_database, database_exists, locate
from llmtrade.storage.database_list import HeldDatabase, drop_database, held_databases, url_on
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
    found = next((s for s in held_databases(location, SWEEPS) if s.database == database), None)
    runs = _runs(location, database)
    if found is None and not runs:
        # A plain backtest's name given with --sweep is told so, as a sweep's given without it is told to add it.
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
    if found is not None:
        with connect(url_on(location, database)) as conn:
            driver = running_elsewhere(conn)
        if driver is not None:
            raise TemporaryError(
                f"sweep {found.name} is running ({driver}): nothing was deleted; stop it, or run the command again "
                "once it ends"
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
    done: list[EventPayload] = []
    try:
        for was in helds:
            # Ctrl-C and SIGTERM wait from each drop to its place in `done`: one landing between the two left a run
            # dropped and on record nowhere. Between runs they stop the command, after the record of those dropped.
            with signals_held():
                event, _ = dropped(location, was.database, was.name, was, [])
                done.append(event)
        with signals_held():
            if found is not None:
                drop_database(location, database)
            done.append(
                SweepDeleted(
                    name=record_held.name,
                    database=database,
                    runs=[h.name for h in helds],
                    size_bytes=record_held.size_bytes + sum(h.size_bytes for h in helds),
                )
            )
    finally:
        with signals_held():  # a second Ctrl-C, as the first one's record is written, would lose it
            ids = record(settings, clock, done) if done else []  # what was dropped is recorded, even if one was in use
    return SweepDeletion(
        name=record_held.name,
        database=database,
        record_dropped=found is not None,
        runs=helds,
        size_bytes=record_held.size_bytes + sum(h.size_bytes for h in helds),
        event_ids=ids,
    )


def _runs(location: DatabaseLocation, database: str) -> list[HeldDatabase]:
    """The backtest databases of the sweep whose record is `database`: `llmtrade_bt_<its key>_<12 hex digits>`. The
    digits are exactly twelve, so sweep `a`'s runs are never sweep `a_b`'s."""
    run = re.compile(re.escape(BACKTESTS + database.removeprefix(SWEEPS)) + r"_[0-9a-f]{12}")
    return [h for h in held_databases(location, BACKTESTS) if run.fullmatch(h.database)]
