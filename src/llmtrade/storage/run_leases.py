"""A run's lease: a session advisory lock its connection takes before its RunStarted is stored and gives back once its
end is, so that a later process can prove the run is no longer running.

PostgreSQL releases a session's advisory locks when its connection ends, however it ends (SIGKILL, the OOM killer, a
reboot, the server restarted); a process still running keeps its connection and with it the lock. A lease that is free
while the run's end is missing is therefore a run that will never record one (app/killed_runs.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

# Advisory-lock keys: "LTR" in the high bits, beside the week lock's "LTW" (workflows/weekly.py); 40 bits of the run
# id's hash below. Two runs that hash alike are safe: the second takes no lease, and a lease held is never judged.
_NAMESPACE = 0x4C54_5200_0000_0000


def lease_key(run_id: str) -> int:
    return _NAMESPACE + int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:5], "big")


def take(conn: psycopg.Connection, key: int) -> bool:
    """Hold `key` on this connection until `release` (or the connection's end); False when another session holds it."""
    if _held_here(conn, key):  # re-entrant within a session: taking it again would hide a second holder
        return False
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


def release(conn: psycopg.Connection, key: int) -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


@contextmanager
def claimed(conn: psycopg.Connection, key: int) -> Iterator[bool]:
    """Whether no session holds `key`, this one included; when none did, it is held here through the block, so a
    second process looking at the same run meanwhile finds it held and leaves it be."""
    free = take(conn, key)
    try:
        yield free
    finally:
        if free:
            release(conn, key)


def unended(conn: psycopg.Connection, started: str, ends: tuple[str, ...]) -> list[tuple[str, int]]:
    """(run id, lease) of each run whose `started` event names a lease and which has no event of a type in `ends`:
    one query, whose cost stays near constant as the books grow (reading every run's start and end back cost ~250 ms
    a run in books of 1,200 runs, and grew with them; a reviewer's measurement)."""
    rows = conn.execute(
        """SELECT s.run_id, (s.payload->>'lease')::bigint FROM events s
             WHERE s.type = %s AND s.payload->>'lease' IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM events e WHERE e.run_id = s.run_id AND e.type = ANY(%s))
             ORDER BY s.id""",
        (started, list(ends)),
    ).fetchall()
    return [(run_id, int(lease)) for run_id, lease in rows]


def held_anywhere(conn: psycopg.Connection, key: int) -> bool:
    """Whether any session holds `key` (a read: nothing is taken, so `status` may ask it)."""
    row = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
             AND classid::bigint = %s AND objid::bigint = %s)""",
        (key >> 32, key & 0xFFFF_FFFF),
    ).fetchone()
    return bool(row and row[0])


def _held_here(conn: psycopg.Connection, key: int) -> bool:
    row = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
             AND pid = pg_backend_pid() AND classid::bigint = %s AND objid::bigint = %s)""",
        (key >> 32, key & 0xFFFF_FFFF),
    ).fetchone()
    return bool(row and row[0])
