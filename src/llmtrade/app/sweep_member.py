"""Which sweep a backtest is a run of, so that its own leaderboard says the sweep's trials beside its own.

A sweep's run is a whole backtest named "<sweep>-<its run id's first 12 hex digits>" (sweep/spec.py), whose
leaderboard deflates each account's Sharpe ratio for the run's own trial accounts. The sweep's leaderboard
(`backtest sweep`, `report --sweep`) deflates the same account for every trial account of every run of the
sweep: `leaderboard --backtest RUN` said "trials = 5" and a DSR of 71.2% where the sweep said 10 and 59.8%, with
nothing saying the run was one of a sweep's. Read-only: one query on the sweep's record, none made.
"""

from __future__ import annotations

import re

from llmtrade.clock import SystemClock
from llmtrade.domain import streams
from llmtrade.domain.sweeps import SweepStarted
from llmtrade.errors import UsageError
from llmtrade.settings import Settings
from llmtrade.storage.connection import connect
from llmtrade.storage.database import database_exists, locate, sibling
from llmtrade.storage.event_store import EventStore

# A sweep's name (sweep/spec.py `_NAME`), then the run's id's first 12 digits.
_RUN = re.compile(r"^(?P<sweep>[A-Za-z0-9][A-Za-z0-9_-]{0,23})-(?P<run>[0-9a-f]{12})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,23}$")


def sweep_database(name: str) -> str:
    """The database of sweep `name`'s record: `llmtrade_sw_<name>`, lower-cased, - as _. UsageError (exit 2) for a
    name no sweep can have (`report --sweep "bad name"` named the database "llmtrade_sw_bad name", as if one)."""
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"sweep name {name!r}: a sweep's name (its file's name:) is 1-24 letters, digits, _ or -, starting with a "
            "letter or digit, so no sweep has this one"
        )
    return f"llmtrade_sw_{name.lower().replace('-', '_')}"


def run_of(backtest: str) -> str | None:
    """The name of the sweep whose run backtest `backtest` is named as (`<sweep>-<12 hex digits>`; listed without its
    recorded name, `<sweep>_<hex>`, its database's), by the name alone: no record is read. None for any other name."""
    found = _RUN.fullmatch(backtest) or _RUN.fullmatch("-".join(backtest.rsplit("_", 1)))
    return None if found is None else found["sweep"]


def sweep_run(settings: Settings, backtest: str) -> tuple[SweepStarted, int] | None:
    """The sweep whose latest start names backtest `backtest` as one of its runs, and the run's place in it; None for
    a backtest that is no sweep's run (or only looks like one: a run of an earlier version of the file)."""
    found = _RUN.fullmatch(backtest)
    if found is None:
        return None
    location = locate(settings)
    database = sweep_database(found["sweep"])
    if not database_exists(location, database):
        return None
    import psycopg.errors

    with connect(sibling(location, database).url) as conn:
        try:
            events = EventStore(conn, SystemClock()).read(stream=streams.SWEEP, type=SweepStarted.event_type())
        except psycopg.errors.UndefinedTable:  # made, not migrated yet: no sweep began there
            return None
    if not events:
        return None
    started = SweepStarted.from_event(events[-1])
    at = next((n for n, run_id in enumerate(started.run_ids) if run_id.startswith(found["run"])), None)
    return None if at is None else (started, at)


def _label(started: SweepStarted, at: int) -> str:
    return f" ({started.labels[at]})" if at < len(started.labels) else ""


def sweep_note(settings: Settings, backtest: str, trials: int) -> str | None:
    """What to say on the leaderboard of backtest `backtest` (deflated for its own `trials`) when it is a run of a
    sweep whose latest start names it: the sweep's name, the run's axes and the sweep's trials. None otherwise."""
    run = sweep_run(settings, backtest)
    if run is None:
        return None
    started, at = run
    return (
        f"this backtest is a run of sweep {started.name}{_label(started, at)}: its DSR here is deflated for its own "
        f"{trials} trial accounts, but the sweep compares {started.trials} (every run's PM and chairman accounts), and "
        f"picking the best of the sweep is picking among all of them: `llmtrade report --sweep {started.name}` "
        f"deflates for {started.trials}"
    )


def refuse_sweep_run(settings: Settings, backtest: str) -> None:
    """UsageError (exit 2) when `llmtrade backtest --name` names a sweep's run: its books are the sweep's, written by
    the sweep's workers. A trial's plain backtest under such a name ran five more weeks into them (exit 0): the run's
    leaderboard then read past the sweep's range while the sweep, its report and the run's note still said the sweep's
    range and figures, and nothing said they disagreed."""
    run = sweep_run(settings, backtest)
    if run is None:
        return
    started, at = run
    raise UsageError(
        f"backtest {backtest!r} is a run of sweep {started.name}{_label(started, at)}: its books are the sweep's, "
        f"written by `llmtrade backtest sweep`, and a backtest by hand under its name would make the sweep, its report "
        "and this run disagree; give another --name (a backtest of its own), or change the sweep file (its range) and "
        "run `llmtrade backtest sweep` again"
    )


def sweep_named(settings: Settings, name: str) -> str | None:
    """What to say when `name`, given as a backtest's, is no backtest's but a sweep's (its record's database exists):
    a sweep's runs are backtests of their own, named SWEEP-<run id>. `leaderboard --backtest SWEEP` said "run
    `llmtrade backtest --name SWEEP` first", sending a newcomer to run a plain backtest. None for any other name."""
    if not _NAME.fullmatch(name) or not database_exists(locate(settings), sweep_database(name)):
        return None
    return (
        f"{name!r} is a sweep's name: each of its runs is a backtest of its own, named {name}-<run id> (the "
        f"`backtest` column of `llmtrade backtest sweep`'s table, which a rerun of the sweep file prints again); give "
        f"one of those, or compare the runs with `llmtrade report --sweep {name} -o FILE.html`"
    )
