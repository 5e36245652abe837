"""The databases llmtrade made beside the live books on one server (a backtest's `llmtrade_bt_*`, a sweep's record
`llmtrade_sw_*`): which there are, what each holds on disk, and dropping one.

Every backtest and every run of a sweep is a database of its own (storage/database.py `sibling`), so they pile up on
a server run for months; these are the reads `llmtrade backtest list` and `delete` (app/backtest_books.py) need, and
the names an error about a name that names none lists (app/books_named.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from llmtrade.errors import DatabaseError, TemporaryError
from llmtrade.storage.connection import connect
from llmtrade.storage.database import DatabaseLocation

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class HeldDatabase:
    """One database: its name on the server, the name its last start recorded (`record_name`: `btA`, where the
    database is `llmtrade_bt_bta`; else the database's without the prefix), and its size on disk in bytes
    (`pg_database_size`: tables, indexes and TOAST, as `du` would count its folder)."""

    database: str
    name: str
    size_bytes: int


def held_databases(location: DatabaseLocation, prefix: str) -> list[HeldDatabase]:
    """The databases on the server at `location` whose names begin with `prefix` (`llmtrade_bt_`: the backtests'),
    sorted by database. Read-only, one query: the names and sizes ride on the list. `left()`, not LIKE, where `_`
    would match any character. A database this role may not connect to has no size it can read: 0 then."""
    with connect(location.url) as conn:
        rows = conn.execute(
            "SELECT datname, shobj_description(oid, 'pg_database'), "
            "CASE WHEN has_database_privilege(oid, 'CONNECT') THEN pg_database_size(oid) ELSE 0 END "
            "FROM pg_database WHERE left(datname, %s) = %s ORDER BY datname",
            (len(prefix), prefix),
        ).fetchall()
    # A comment is taken only when it names that very database (a person's own comment on it is not a name).
    return [
        HeldDatabase(
            str(datname),
            given
            if given and prefix + str(given).lower().replace("-", "_") == datname
            else str(datname)[len(prefix) :],
            int(size or 0),
        )
        for datname, given, size in rows
    ]


def url_on(location: DatabaseLocation, database: str) -> str:
    """The URL of `database` on `location`'s server, made or not (storage/database.py `sibling` makes it, and refuses a
    name made by hand that PostgreSQL would need quoting for)."""
    return urlunsplit(urlsplit(location.url)._replace(path=f"/{database}"))


def database_oid(location: DatabaseLocation, name: str) -> int | None:
    """The oid of database `name` on the server at `location` (None: there is none). A database dropped and made again
    under the same name has another oid: a delete's intent names the one it meant to drop."""
    with connect(location.url) as conn:
        row = conn.execute("SELECT oid::bigint FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return int(row[0]) if row else None


def databases_named(location: DatabaseLocation, prefix: str) -> list[str]:
    """The names of `held_databases(location, prefix)`: what a name that names none may be told exists."""
    return [held.name for held in held_databases(location, prefix)]


class DatabaseInUse(TemporaryError):
    """A database to drop has sessions on it (a leaderboard or report reading it, a backtest writing it): nothing is
    dropped, and once they end the same command drops it (exit 75)."""


def drop_database(location: DatabaseLocation, name: str) -> None:
    """DROP DATABASE `name` on the server at `location` (connected to the live database, as a database cannot be
    dropped from a session on it). Never forced: another session on it is a reader or a writer whose work would be
    cut off, so DatabaseInUse (exit 75) names how many there are. DatabaseError (exit 1) when this role may not drop
    it (made by hand by another role on a server of DATABASE_URL's). A database gone meanwhile is no error.

    PostgreSQL's docs (DROP DATABASE): it "cannot be executed while you are connected to the target database" and
    fails while others are, unless WITH (FORCE), which terminates them."""
    import psycopg.errors  # lazy, as in connect()
    from psycopg import sql

    with connect(location.url) as conn:
        # Asked first: DROP DATABASE waits 5 s for the others to leave before it fails (PostgreSQL's
        # CountOtherDBBackends), a pause for nothing when they are there now. One that comes after the look is met by
        # the DROP's own refusal.
        if others := _sessions_on(conn, name):
            raise DatabaseInUse(_in_use(name, others))
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        except psycopg.errors.ObjectInUse as exc:
            raise DatabaseInUse(_in_use(name, _sessions_on(conn, name))) from exc
        except psycopg.errors.InsufficientPrivilege as exc:
            raise DatabaseError(
                f"could not drop the database {name}: {' '.join(str(exc).split())}; drop it as its owner "
                f"(DROP DATABASE {name})"
            ) from exc


def _sessions_on(conn: psycopg.Connection, name: str) -> int:
    """How many sessions other than `conn`'s are connected to database `name` (pg_stat_activity lists every role's
    sessions, their database and pid to any role)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
    ).fetchone()
    return int(row[0]) if row else 0


def _in_use(name: str, others: int) -> str:
    sessions = f"{others} other session{'s' if others != 1 else ''}" if others else "other sessions"
    return (
        f"the database {name} is in use by {sessions} (a leaderboard, report or backtest reading or writing it): "
        "nothing was deleted; run the command again once they end"
    )
