"""An account's or a type's copy refreshed by the rows written since its last snapshot (migration 0010), not by
counting its history: the answer must stay the full read's, whatever commits late or in what order."""

from __future__ import annotations

import random
from typing import Any

import psycopg
import pytest

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_columns import COLUMNS
from llmtrade.storage.event_copies import copies_of
from llmtrade.storage.event_inserts import to_event as _to_event
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW

# The refreshes read by the last snapshot's xmin, which any transaction running on the server holds back.
pytestmark = pytest.mark.quiet_server

TYPES = ("OrderSubmitted", "OrderFilled", "AccountValued", "LLMCallCompleted")


def _insert(conn: psycopg.Connection, n: int, type: str, account_id: str = "acct_1") -> None:
    """An append by another process, straight into the table (its own stream, so versions never collide)."""
    conn.execute(
        """INSERT INTO events (type, stream, version, account_id, occurred_at, payload, schema_version)
           VALUES (%s, %s, 1, %s, now(), %s, 1)""",
        (type, f"other-{n}", account_id, f'{{"n": {n}}}'),
    )


def _full(conn: psycopg.Connection, **where: Any) -> list[int]:
    """The full read: every committed row of the selection, by id."""
    if "account_id" in where:
        sql, params = "account_id = %s AND type = ANY(%s)", [where["account_id"], list(where["types"])]
    else:
        sql, params = "type = ANY(%s)", [list(where["types"])]
    rows = conn.execute(f"SELECT payload->>'n' FROM events WHERE {sql} ORDER BY id", params).fetchall()
    return [int(n) for (n,) in rows]


def test_a_copy_answers_as_the_full_read_through_late_commits_new_types_and_other_accounts(
    storage: Storage, database_url: str
) -> None:
    rng = random.Random(10)
    events = storage.events
    with (
        psycopg.connect(database_url, autocommit=True) as reader,
        psycopg.connect(database_url, autocommit=True) as slow,
        psycopg.connect(database_url, autocommit=True) as fast,
    ):
        open_since: int | None = None  # `slow` holds a transaction open over several reads, then commits it
        for n in range(1, 241):
            move = rng.random()
            if move < 0.35:
                events.append(
                    [NewEvent(type=rng.choice(TYPES), stream=f"mine-{n}", payload={"n": n}, account_id="acct_1")]
                )
            elif move < 0.55:
                _insert(fast, n, rng.choice(TYPES), rng.choice(["acct_1", "acct_2"]))
            elif move < 0.7:
                if open_since is None:
                    slow.execute("BEGIN")
                    open_since = n
                _insert(slow, n, rng.choice(TYPES))  # an id drawn now, committed later: below ids read meanwhile
            if open_since is not None and n - open_since > rng.randint(3, 30):
                slow.execute("COMMIT")
                open_since = None
            # Reads of a growing set of types, so types held later are read alone and merged in.
            wanted = TYPES[: 1 + min(3, n // 60)] if rng.random() < 0.7 else tuple(rng.sample(TYPES, 2))
            got = [e.payload["n"] for e in events.read(account_id="acct_1", type=list(wanted))]
            assert got == _full(reader, account_id="acct_1", types=wanted), f"after event {n}"
            by_type = [e.payload["n"] for e in events.read(type="OrderFilled")]
            assert by_type == _full(reader, types=["OrderFilled"]), f"after event {n}"
        if open_since is not None:
            slow.execute("COMMIT")
        everything = [e.payload["n"] for e in events.read(account_id="acct_1", type=list(TYPES))]
        assert everything == _full(reader, account_id="acct_1", types=TYPES)
        # A store opened afresh (its own first read, no copy kept) agrees with the one refreshed all along.
        copies_of(storage.conn).counted.clear()
        again = [e.payload["n"] for e in events.read(account_id="acct_1", type=list(TYPES))]
        assert again == everything


class _Fetches:
    """A connection that counts the event rows each statement hands back."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.rows: list[int] = []
        self.statements: list[tuple[str, Any]] = []

    def execute(self, sql: str, params: Any = None) -> Any:
        self.statements.append((sql, params))
        cursor = self.conn.execute(sql, params)
        rows = cursor.fetchall()
        self.rows.append(sum(1 for row in rows if row[1] is not None))

        class _Done:
            def fetchall(self) -> list[Any]:
                return rows

        return _Done()


def _rows_scanned(conn: psycopg.Connection, sql: str, params: Any) -> int:
    """How many rows (and index entries) the statement's scans of the events table went through."""
    plan = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchone()[0][0]["Plan"]

    def walk(node: dict[str, Any]) -> int:
        own = 0
        if "Scan" in node["Node Type"] and str(node.get("Relation Name", node.get("Index Name", ""))).startswith(
            "events"
        ):
            own = int(node["Actual Rows"] * node["Actual Loops"])
        return own + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan)


def test_a_refresh_fetches_what_was_written_since_its_last_snapshot_not_the_history(storage: Storage) -> None:
    events = storage.events
    events.append(
        [NewEvent(type="OrderSubmitted", stream=f"s-{n}", payload={"n": n}, account_id="acct_1") for n in range(300)]
    )
    copies = copies_of(storage.conn)
    copies.counted.clear()
    spy = _Fetches(storage.conn)
    first = copies.account(spy, "acct_1", ["OrderSubmitted"], _to_event)  # type: ignore[arg-type]  # a spy
    assert len(first.events) == 300 and spy.rows == [300]
    horizon = first.horizon
    events.append([NewEvent(type="OrderSubmitted", stream="s-new", payload={"n": 300}, account_id="acct_1")])
    again = copies.account(spy, "acct_1", ["OrderSubmitted"], _to_event)  # type: ignore[arg-type]
    assert [e.payload["n"] for e in again.events] == list(range(301))
    # Exactly the rows written by transactions at or after the last read's snapshot xmin: here the new one, as no
    # transaction was running then; the 300 before it are not fetched again.
    recent = storage.conn.execute(
        "SELECT count(*) FROM events WHERE account_id = 'acct_1' AND txid >= %s::xid8", (str(horizon),)
    ).fetchone()
    assert spy.rows[1] == recent[0] == 1
    # And PostgreSQL went through those, not the account's history (counting it cost 301 index entries a look).
    assert _rows_scanned(storage.conn, *spy.statements[1]) <= 2


def test_events_written_before_migration_0010_have_no_txid_and_are_read_once(
    storage: Storage, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as old:
        old.execute(
            f"""INSERT INTO events (type, stream, version, account_id, occurred_at, payload, schema_version, txid)
                VALUES ('OrderFilled', 'old', 1, 'acct_1', now(), '{{"n": 1}}', 1, NULL) RETURNING {COLUMNS}"""
        )
    assert [e.payload["n"] for e in storage.events.read(account_id="acct_1", type="OrderFilled")] == [1]
    EventStore(storage.conn, FixedClock(FIXED_NOW)).append(
        [NewEvent(type="OrderFilled", stream="new", payload={"n": 2}, account_id="acct_1")]
    )
    assert [e.payload["n"] for e in storage.events.read(account_id="acct_1", type="OrderFilled")] == [1, 2]
