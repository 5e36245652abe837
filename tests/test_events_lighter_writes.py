"""Migration 0013: events of up to ~8 KB stored whole in their heap page (not compressed into TOAST), and the
an index no query needs dropped; on a database migrated from 0012 with rows, which read back as they were."""

from __future__ import annotations

import psycopg
import pytest

from llmtrade.domain.events import NewEvent
from llmtrade.storage.bootstrap import Storage
from tests.support import migrate_around

# ~4 KB of JSON that pglz compresses well: a model call's record, as TOAST used to take it.
_PROMPT = {"prompt": " ".join(f"word{n % 50}" for n in range(600)), "model": "rules"}
_HUGE = {"pack": " ".join(f"line{n}" for n in range(3000))}  # ~26 KB: moved out to TOAST


def _events(tag: str) -> list[NewEvent]:
    return [
        NewEvent(type="LLMCallCompleted", stream=f"calls-{tag}", account_id="acct_1", payload={**_PROMPT, "tag": tag}),
        NewEvent(type="OrderSubmitted", stream=f"orders-{tag}", account_id="acct_1", payload={"tag": tag}),
        NewEvent(type="ResearchPackBuilt", stream=f"packs-{tag}", payload={**_HUGE, "tag": tag}),
    ]


def _compression(conn: psycopg.Connection, tag: str) -> dict[str, str | None]:
    rows = conn.execute(
        "SELECT type, pg_column_compression(payload) FROM events WHERE payload->>'tag' = %s", (tag,)
    ).fetchall()
    return dict(rows)


def test_an_existing_database_keeps_its_rows_and_stores_new_ones_whole(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fill(storage: Storage) -> None:
        storage.events.append(_events("old"))

    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        assert migrate_around(conn, empty_database_url, 13, fill, monkeypatch)[0] == 13  # and any later ones
        # Written under 0012: the model call was compressed (pglz), the small order was not.
        assert _compression(conn, "old") == {
            "LLMCallCompleted": "pglz",
            "OrderSubmitted": None,
            "ResearchPackBuilt": "pglz",
        }
        indexes = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'events'")}
        # (type, id) dropped; (account_id, id) kept for `ask`'s latest events of an account.
        assert "events_type_idx" not in indexes
        assert {
            "events_account_idx",
            "events_account_type_idx",
            "events_type_txid_idx",
            "events_account_txid_idx",
        } <= indexes
        options = conn.execute("SELECT reloptions FROM pg_class WHERE oid = 'events'::regclass").fetchone()
        assert options == (["toast_tuple_target=8160"],)

    from llmtrade.clock import FixedClock
    from llmtrade.settings import Settings
    from llmtrade.storage.bootstrap import open_storage
    from tests.support import FIXED_NOW

    with open_storage(Settings(DATABASE_URL=empty_database_url), FixedClock(FIXED_NOW)) as storage:
        conn = storage.conn
        toast = "SELECT pg_total_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'events'::regclass"
        before = conn.execute(toast).fetchone()
        storage.events.append(_events("new"))
        # Nothing is compressed now: the ~4 KB record stays whole in its heap page, the ~26 KB one goes to TOAST as
        # it is (before, it was compressed with pglz first).
        assert _compression(conn, "new") == {
            "LLMCallCompleted": None,
            "OrderSubmitted": None,
            "ResearchPackBuilt": None,
        }
        after = conn.execute(toast).fetchone()
        assert before is not None and after is not None and after[0] - before[0] > 20_000
        size = conn.execute(
            "SELECT pg_column_size(payload) FROM events WHERE payload->>'tag' = 'new' AND type = 'LLMCallCompleted'"
        ).fetchone()
        assert size is not None and size[0] > 2500
        # Every read gives the payloads as written, old and new alike, oldest first: through the held copies
        # (outside a transaction) and through SQL (inside one, where no copy is used).
        expected = [(e.type, e.payload) for e in _events("old") + _events("new")]
        calls_and_orders = [p for p in expected if p[0] != "ResearchPackBuilt"]
        assert [(e.type, e.payload) for e in storage.events.read(account_id="acct_1")] == calls_and_orders
        with conn.transaction():
            in_sql = storage.events.read(account_id="acct_1", type=["OrderSubmitted", "LLMCallCompleted"])
            by_type = storage.events.read(type="ResearchPackBuilt")
        assert [(e.type, e.payload) for e in in_sql] == calls_and_orders
        assert [(e.type, e.payload) for e in by_type] == [p for p in expected if p[0] == "ResearchPackBuilt"]
        assert [(e.type, e.payload) for e in storage.events.read(type=["ResearchPackBuilt", "OrderSubmitted"])] == [
            p for p in expected if p[0] != "LLMCallCompleted"
        ]
