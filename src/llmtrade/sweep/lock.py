"""The lock a sweep's driver holds on its record (`llmtrade_sw_<name>`) while it runs: one driver per sweep name.

A session advisory lock, taken before the driver records anything or starts a worker, and held to its end;
PostgreSQL releases it when the driver's connection ends, so a driver killed outright (`kill -9`, the OOM killer)
leaves no stale lock behind. Without it a second `backtest sweep` of the same name ran beside the first: it took
the runs the first had not begun yet, met "in use" on the one the first was running, recorded that run as failed
in the shared record, and both exited 75 part-way through although every run finished between them.

One sweep per record, too (`refuse_other_spelling`): names that differ only in case or in - and _ share one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from llmtrade.domain import streams
from llmtrade.domain.sweeps import SweepStarted
from llmtrade.errors import TemporaryError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

    import psycopg

    from llmtrade.storage.bootstrap import Storage

# The key of the driver's lock; advisory locks are per database, and this one is the sweep's own record's.
SWEEP_DRIVER = 0x5357_4545_5000_0001
_HOLDER = "llmtrade sweep "  # the prefix of the holder's application_name; then its pid and host


@contextmanager
def sweep_lock(conn: psycopg.Connection, name: str) -> Iterator[None]:
    """Hold sweep `name`'s driver lock on `conn` (its record's database) for the duration. TemporaryError (exit 75:
    the same command succeeds once the other has ended, and goes on where it stopped) when another session holds it,
    naming the process and host that run it (as its connection is named while it holds the lock) and what to do."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (SWEEP_DRIVER,)).fetchone()
    if not row or not row[0]:
        raise TemporaryError(
            f"sweep {name} is already running ({_holder(conn)}): nothing was started or recorded; wait for it to "
            "finish, or stop it (Ctrl-C or kill PID: its runs keep their finished weeks), then run this command "
            "again: finished runs are not run again and a stopped one resumes"
        )
    me = f"{_HOLDER}pid {os.getpid()} on {socket.gethostname()}"
    conn.execute("SELECT set_config('application_name', %s, false)", (me[:63],))  # PostgreSQL keeps 63 bytes
    try:
        yield
    finally:
        # A connection lost mid-sweep took the lock with it, and the unlock's own error must not replace the failure
        # being raised (the sweep's): nothing is left held either way.
        if not conn.closed:
            with suppress(Exception):
                conn.execute("SELECT pg_advisory_unlock(%s)", (SWEEP_DRIVER,))


def running_elsewhere(conn: psycopg.Connection) -> str | None:
    """Who runs the sweep whose record `conn` is open on, when another session holds its driver lock ("pid P on HOST,
    since T"); None when no driver runs it. Read from pg_locks: nothing is taken, so a sweep starting at that moment
    never finds it held by this reader (`report --sweep`)."""
    return _holder(conn) if _holder_row(conn) is not None else None


def _holder(conn: psycopg.Connection) -> str:
    """Who holds the lock: "pid P on HOST, since T" as its connection is named; else the server's view of it (its
    client address), or "in another process" when the role may not see the other session."""
    row = _holder_row(conn)
    if row is None:
        return "in another process"
    label, address, since = row
    if label and label.startswith(_HOLDER):
        who = label.removeprefix(_HOLDER)
        return f"{who}, since {since}" if since else who
    where = f"a connection from {address}" if address else "another process"
    return f"{where}, since {since}" if since else where


def _holder_row(conn: psycopg.Connection) -> tuple[str | None, str | None, str | None] | None:
    """The lock holder's application_name, client address and session start (UTC), or None when no other session
    holds the lock."""
    return conn.execute(
        """SELECT a.application_name, host(a.client_addr), to_char(a.backend_start AT TIME ZONE 'UTC',
                  'YYYY-MM-DD HH24:MI "UTC"')
           FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid <> pg_backend_pid()
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND l.classid::bigint = %s AND l.objid::bigint = %s""",
        (SWEEP_DRIVER >> 32, SWEEP_DRIVER & 0xFFFF_FFFF),
    ).fetchone()


def refuse_other_spelling(storage: Storage, path: Path, name: str, database: str) -> None:
    """UsageError (exit 2) when the record `database` is another sweep's: names that differ only in case or in - and _
    share one (`sweep_database`), and a sweep named `Mom-a` beside an earlier `mom_a` ran into its record, counted
    mom_a's runs as its own file's earlier runs in its trials and showed as mom_a in `report --sweep`. Refused as
    `llmtrade backtest --name` refuses another spelling of an existing backtest, before anything is recorded."""
    events = storage.events.read_stream(streams.SWEEP)
    names = [str(e.payload.get("name")) for e in events if e.type == SweepStarted.event_type()]
    if names and names[0] != name:  # the record is the sweep's that made it
        raise UsageError(
            f"sweep file {path}: key name: {name} names the record of sweep {names[0]} ({database}: sweep names that "
            f"differ only in case or in - and _ share one); nothing was started or recorded: name it {names[0]} to "
            "go on with that sweep, or give this one another name"
        )
