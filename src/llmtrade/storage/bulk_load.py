"""A fresh backtest's events are bulk-loaded: four of the events' indexes are built once, when its weeks are done,
instead of row by row at every weekly COPY.

A backtest writes some 850 events a week in one COPY (storage/sole_writer.py), and PostgreSQL's CPU for it is most
of what the process waits on at each week's end. Every index of `events` is updated for every row; the four here
are keyed by account or by type first, so each COPY inserts into leaf pages spread over the whole index (the others
are keyed by something that grows with the backtest: id, week, run, a stream's version). Built once from the
finished table (a sort per index) they cost a fraction of that: measured in the commit that added this module.

Why a backtest can go without them while it runs: they serve reads by account and by type, and a backtest's store is
its database's sole writer, whose reads by account and by type come from its in-process copies
(storage/event_copies.py), each read from PostgreSQL once, at the start, while the table is nearly empty, then kept
current from its own appends. Its reads that do reach PostgreSQL every week keep their indexes: a week's events
(week_id, id), a run's model calls for the look-ahead audit (run_id, id), the heads (stream, version), the highest id
(the primary key). A resume runs with all of them (its copies' first reads go over the weeks written before), so
only a backtest that starts on an empty events table defers them.

They are built back
- by the backtest when its weeks are done, each on a connection of its own while its leaderboard is made (`beside`:
  the leaderboard's reads come from the copies and the bar cache held in memory, none by these indexes), the backtest
  holding SOLE_WRITER on its first (BacktestContainer.indexing_books); else on its held connection (`index_books`);
- by any open of a database (storage/bootstrap.py) that finds one missing while no backtest holds the database (a
  backtest that failed or was killed: its resume, a leaderboard of it, a report): every reader outside a running
  backtest gets the indexes the migrations made. A failing backtest does not build them on its way out: the
  failure (an interrupt, say) is reported at once, and whatever opens the database next pays.
A live database never loses them: only BacktestContainer.held defers, on the backtest's own database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

# A session advisory lock on a backtest's own database, held by the one process writing its books
# (app/backtest_container.py); building the indexes waits for no one holding it.
SOLE_WRITER = 0x11_77_B7_01

# Exactly as the migrations made them (0001, 0010): tests/test_bulk_load.py compares the definitions PostgreSQL
# reports after a build with those of a freshly migrated database.
DEFERRED: dict[str, str] = {
    "events_account_idx": "CREATE INDEX IF NOT EXISTS events_account_idx ON events (account_id, id)",
    "events_account_txid_idx": "CREATE INDEX IF NOT EXISTS events_account_txid_idx ON events (account_id, txid)",
    "events_type_txid_idx": "CREATE INDEX IF NOT EXISTS events_type_txid_idx ON events (type, txid)",
    "events_account_type_idx": "CREATE INDEX IF NOT EXISTS events_account_type_idx ON events (account_id, type, id)",
}


def missing(conn: psycopg.Connection) -> list[str]:
    """The deferred indexes the database lacks (none on a database the migrations made and no backtest deferred)."""
    rows = conn.execute(
        "SELECT name FROM unnest(%s::text[]) WITH ORDINALITY AS d(name, n) WHERE to_regclass(name) IS NULL ORDER BY n",
        (list(DEFERRED),),
    ).fetchall()
    return [str(row[0]) for row in rows]


def defer(conn: psycopg.Connection) -> bool:
    """Drop the deferred indexes if the events table is empty (a fresh backtest's database); whether it did.

    The caller holds SOLE_WRITER, so no other process writes the table until `build`."""
    with conn.transaction():
        # The table's lock first: an append committed by anyone between the check and the drop is not possible.
        conn.execute("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE")
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM events)").fetchone()
        if row is None or row[0]:
            return False
        for name in DEFERRED:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
    return True


def beside(conn: psycopg.Connection, name: str) -> None:
    """Build the deferred index `name` on `conn`: a session of its own, opened by the process whose first session
    holds SOLE_WRITER (so no one else writes the table or builds the index meanwhile). The process builds each on a
    session of its own at once: each build is mostly a scan of the whole table, and PostgreSQL has the concurrent
    scans share their reads (synchronize_seqscans); at 520 weeks, on a loaded machine, one after another took 3.7-4.0 s,
    all four at once 2.2-2.4 s.

    Without parallel workers: the builds are already several. A lock it cannot have within a few seconds (the holder's
    session in a transaction that wrote events: never expected) fails the build rather than wait for a holder that
    may be waiting for it."""
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '5s'")
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        conn.execute("SET LOCAL max_parallel_maintenance_workers = 0")
        conn.execute(DEFERRED[name])


def build(conn: psycopg.Connection) -> list[str]:
    """Build the deferred indexes the database lacks, in one transaction; the names built. Nothing (an empty list)
    while another session holds SOLE_WRITER: that backtest builds them when its weeks are done."""
    if not missing(conn):
        return []
    with conn.transaction():
        # Within the holder's own session the lock is granted again (advisory locks are re-entrant per session).
        row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (SOLE_WRITER,)).fetchone()
        if not (row and row[0]):
            return []
        names = missing(conn)  # again under the lock: another opener may have built them meanwhile
        # Each index is a sort of the table's keys: in memory, not spilled, up to a few million events.
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for name in names:
            conn.execute(DEFERRED[name])
    return names
