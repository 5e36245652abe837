"""A fresh backtest's memory is bulk-loaded: the HNSW graph of its setups' vectors (memory_setup_vectors_hnsw,
migration 0009) is built once, when its weeks are done, instead of one insert at a time at every remember.

Each remember projects its memories at once, in a round trip the backtest waits for (memory/store.py), and a graph
insert is most of that round trip's server time: 520 synthetic weeks, with the graph built row by row, waited some
3.0 s in their weekly runs beyond their CPU, 2.4 s with it deferred. The backtest never reads by the graph: its
similar-setups reads come from its held setups (memory/held_setups.py), an exact scan, until memory/store.py's
EXACT_BELOW setups (20,000: some forty years of weeks), past which a read goes to PostgreSQL, which then scans the
vectors exactly until the graph is built. A resume runs with it (the held setups are read from the table once, at the
start): only a backtest that starts on an empty events table defers it.

The events' own indexes by account and by type were deferred the same way while a week's COPY was written in the
backtest's own thread; since it runs behind (storage/write_behind.py) on a connection of its own, PostgreSQL
maintains them on the other core while the next week computes, and building them at the end was only a wait:
520 synthetic weeks' time outside the jobs went from 4.8 to 3.7 s without it.

The graph is built back
- by the backtest when its weeks are done, on a connection of its own while its leaderboard is made (`beside`: the
  leaderboard reads nothing of the memory), the backtest holding SOLE_WRITER on its first
  (BacktestContainer.indexing_books); else on its held connection (`index_books`);
- by any open of a database (storage/bootstrap.py) that finds it missing while no backtest holds the database (a
  backtest that failed or was killed: its resume, a leaderboard of it, a report): every reader outside a running
  backtest gets the indexes the migrations made. A failing backtest does not build it on its way out: the
  failure (an interrupt, say) is reported at once, and whatever opens the database next pays.
A live database never loses it: only BacktestContainer.held defers, on the backtest's own database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

# A session advisory lock on a backtest's own database, held by the one process writing its books
# (app/backtest_container.py); building the indexes waits for no one holding it.
SOLE_WRITER = 0x11_77_B7_01

# Exactly as the migrations made them (0009): tests/test_bulk_load.py compares the definitions PostgreSQL reports
# after a build with those of a freshly migrated database.
DEFERRED: dict[str, str] = {
    "memory_setup_vectors_hnsw": (
        "CREATE INDEX IF NOT EXISTS memory_setup_vectors_hnsw ON memory_setup_vectors"
        " USING hnsw ((embedding::halfvec(256)) halfvec_cosine_ops) WITH (m = 8, ef_construction = 128)"
    ),
}
# The events' indexes an older build deferred (migrations 0001, 0010): built back where a backtest it ran was killed.
DEFERRED_BEFORE: dict[str, str] = {
    "events_account_idx": "CREATE INDEX IF NOT EXISTS events_account_idx ON events (account_id, id)",
    "events_account_txid_idx": "CREATE INDEX IF NOT EXISTS events_account_txid_idx ON events (account_id, txid)",
    "events_type_txid_idx": "CREATE INDEX IF NOT EXISTS events_type_txid_idx ON events (type, txid)",
    "events_account_type_idx": "CREATE INDEX IF NOT EXISTS events_account_type_idx ON events (account_id, type, id)",
}
_BUILT_BACK = {**DEFERRED_BEFORE, **DEFERRED}


def missing(conn: psycopg.Connection) -> list[str]:
    """The indexes a backtest deferred (this build or an older one) that the database lacks (none on a database the
    migrations made and no backtest deferred)."""
    rows = conn.execute(
        "SELECT name FROM unnest(%s::text[]) WITH ORDINALITY AS d(name, n) WHERE to_regclass(name) IS NULL ORDER BY n",
        (list(_BUILT_BACK),),
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
    holds SOLE_WRITER (so no one else writes the table or builds the index meanwhile). The process builds each missing
    one on a session of its own at once (an older build's four events indexes: each build is mostly a scan of the whole
    table, and PostgreSQL has the concurrent scans share their reads, synchronize_seqscans).

    Without parallel workers: the builds are already several. A lock it cannot have within a few seconds (the holder's
    session in a transaction that wrote events: never expected) fails the build rather than wait for a holder that
    may be waiting for it."""
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '5s'")
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        conn.execute("SET LOCAL max_parallel_maintenance_workers = 0")
        conn.execute(_BUILT_BACK[name])


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
        # In memory, not spilled: a graph of ~250k setups, a sort of a few million events' keys.
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for name in names:
            conn.execute(_BUILT_BACK[name])
    return names
