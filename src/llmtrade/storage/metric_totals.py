"""The metrics' totals (observe/metrics.py) as a projection of the events, brought up to date by what is new.

`refresh` calls `metric_totals_refresh(alone)` (migration 0011; 0014 adds the equity's time, 0015 killed runs, 0016
waits, 0017 old stage waits): one round trip that folds the events written since the last refresh into the tables
metric_counts (sums: runs, stage failures, model calls with their tokens and cost, orders and fills, market data
failures, clamps) and metric_latest (the value of the highest-ranked event: a job's last run and last success, a
stage's last duration, a breaker, an equity and when it was valued), then returns every family's rows. A metrics step
after a command so costs the events written since the last one, not the whole history (the full aggregate,
`aggregate`, grew about 7 ms per 1,000 model call records).

Why each event is counted exactly once. A refresh locks the state row first, so refreshes run one at a time
and each reads with a snapshot S taken after the previous one committed. In that one statement it reads the
events whose txid (the inserting transaction, migration 0010) is at or above the horizon H, skips the ids in
`counted`, and records H' = max(H, xmin(S)) and counted' = the ids S saw with txid >= H'. Invariant after a
refresh: the totals fold exactly the events S saw, and every transaction with an xid below H' was finished
when S was taken (xmin(S) is the oldest transaction still running then; ids below the old H were finished
before the older snapshot). So for the next refresh's snapshot S2:
- an event S2 sees and S did not was written by a transaction not finished at S: its txid is >= H', so the
  scan finds it, and it is not in counted' (only events S saw are): it is added, once;
- an event S saw with txid >= H' is found again and skipped (it is in counted');
- an event S saw with txid < H' (or NULL: written before migration 0010, when every such writer was done) is
  not read at all, and none of its kind can appear later: its transaction had finished.
`counted` holds only the events since the oldest transaction running at the last refresh began: a few.
A refresh that fails rolls back with the caller's transaction, its horizon with its totals.

Latest values compare ranks (event ids; for the last success its time, as the full aggregate's max), so an
event committed late with a lower id does not overwrite a newer one. Sums of the cost are numeric, exact:
the order events are added in does not change the total (the full aggregate's float sum depends on it in the
last bits).

The function carries a logic version: raising it (a migration replacing the function) empties the totals and
the horizon, and the next refresh reads every event once -- as the first refresh after migration 0011 does on
a database with history. Events are never removed (migration 0001 refuses UPDATE, DELETE and TRUNCATE; a
backtest's events live in a database of its own). A dump restored on another server keeps the totals, the
horizon and the events' txids: where that server's xids are ahead, every event written there is above the
horizon and counted as usual; where they are behind, the horizon is past the server's next xid, which the
refresh takes as a sign to rebuild (the same way): the first command's metrics step after the restore does,
in the usual case well before that server's xids reach the horizon.

`aggregate` is the full aggregate over every event (one statement, one snapshot), the same rows in the same
order: what the metrics fall back to when the projection cannot be written (a read-only database, a stuck
lock), and what the tests compare the projection with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

# Each family's rows as JSON arrays, in the order `refresh` and `aggregate` return them (observe/metrics.py
# unpacks them in this order).
FAMILIES = (
    # job, ok|degraded|failed|waiting, unix time, duration ms: the job's last run (a killed run failed, its time when it
    # was last known alive, its duration 0: not known; waiting: it stopped to wait, migration 0016 `metric_run_status`)
    "run_ends",
    "successes",  # job, unix time of its last RunFinished
    "run_counts",  # job, ok|degraded|failed (a killed run too)|waiting, runs
    "stages",  # stage, duration ms of its last completion (not loaded from a previous run)
    "stage_failures",  # stage, failures (not a stage that stopped to wait: stage_waits)
    "calls",  # model, live|rules|cache, ok|failed, calls, prompt tokens, completion tokens, cost USD
    "by_account",  # OrderSubmitted|OrderRejected|OrderFilled, account, events
    "breakers",  # account, halted
    "equity",  # account, equity USD at its latest valuation, unix time of that valuation (None before migration 0014)
    "market",  # MarketProviderFailed|MarketDataRejected, provider, events
    "clamps",  # rule, adjustments
    "stage_waits",  # stage, StageFailed of errors.Waiting (migration 0016): the stage stopped to wait, no failure
)

_RUN_ENDS = """
SELECT payload->>'command', metric_run_status(type, payload, run_id),
       extract(epoch FROM CASE WHEN type = 'RunKilled' THEN (payload->>'last_event_at')::timestamptz
                               ELSE occurred_at END),
       coalesce((payload->>'duration_ms')::float8, 0)
FROM (SELECT DISTINCT ON (payload->>'command') payload, type, occurred_at, run_id
      FROM events WHERE type IN ('RunFinished', 'RunFailed', 'RunKilled')
      ORDER BY payload->>'command', id DESC) AS last"""
_LAST_SUCCESS = """
SELECT payload->>'command', extract(epoch FROM max(occurred_at))
FROM events WHERE type = 'RunFinished' GROUP BY 1"""
_RUN_COUNTS = """
SELECT payload->>'command', metric_run_status(type, payload, run_id), count(*)
FROM events WHERE type IN ('RunFinished', 'RunFailed', 'RunKilled') GROUP BY 1, 2"""
_STAGES = """
SELECT DISTINCT ON (payload->>'stage') payload->>'stage', (payload->>'duration_ms')::float8
FROM events WHERE type = 'StageCompleted' AND NOT coalesce((payload->>'loaded')::boolean, false)
ORDER BY payload->>'stage', id DESC"""
# A StageFailed of errors.Waiting is a wait (as trace reads it: observe/timeline.py), counted apart (migration 0016);
# read as the store reads it, so a wait recorded before errors.Waiting is one too (migration 0017's upcast).
_STAGE_FAILURES = """
SELECT payload->>'stage', count(*) FROM (SELECT stage_failed_as_read(payload, schema_version, run_id) AS payload
                                         FROM events WHERE type = 'StageFailed') AS failed
WHERE payload->>'error_type' IS DISTINCT FROM 'Waiting' GROUP BY 1"""
_STAGE_WAITS = """
SELECT payload->>'stage', count(*) FROM (SELECT stage_failed_as_read(payload, schema_version, run_id) AS payload
                                         FROM events WHERE type = 'StageFailed') AS failed
WHERE payload->>'error_type' = 'Waiting' GROUP BY 1"""
# A call's record holds its messages (kilobytes, toasted): jsonb_to_record reads the few fields with one
# detoast per row, where one `->>` per field would decompress the whole payload each time (3x slower).
_CALLS = """
SELECT r.model, CASE WHEN type = 'LLMCallFailed' THEN 'live' ELSE r.source END,
       CASE WHEN type = 'LLMCallFailed' THEN 'failed' ELSE 'ok' END, count(*),
       coalesce(sum(r.prompt_tokens), 0), coalesce(sum(r.completion_tokens), 0), coalesce(sum(r.cost_usd), 0)::float8
FROM events, jsonb_to_record(payload)
     AS r(model text, source text, prompt_tokens bigint, completion_tokens bigint, cost_usd numeric)
WHERE type IN ('LLMCallCompleted', 'LLMCallFailed') GROUP BY 1, 2, 3"""
_BY_ACCOUNT = """
SELECT type, coalesce(account_id, payload->'order'->>'account_id', payload->'fill'->>'account_id'), count(*)
FROM events WHERE type IN ('OrderSubmitted', 'OrderRejected', 'OrderFilled') GROUP BY 1, 2"""
_BREAKERS = """
SELECT DISTINCT ON (payload->'state'->>'account_id') payload->'state'->>'account_id',
       (payload->'state'->>'halted')::boolean
FROM events WHERE type = 'BreakerUpdated' ORDER BY payload->'state'->>'account_id', id DESC"""
_EQUITY = """
SELECT DISTINCT ON (payload->>'account_id') payload->>'account_id', (payload->>'equity')::float8,
       extract(epoch FROM occurred_at)
FROM events WHERE type = 'AccountValued' ORDER BY payload->>'account_id', id DESC"""
_MARKET = """
SELECT type, payload->>'provider', count(*)
FROM events WHERE type IN ('MarketProviderFailed', 'MarketDataRejected') GROUP BY 1, 2"""
_CLAMPS = """
SELECT adjustment->>'rule', count(*)
FROM events, jsonb_array_elements(payload->'verdict'->'adjustments') AS adjustment
WHERE type = 'RiskChecked' GROUP BY 1"""

# (query, its number of columns), in the order of FAMILIES.
_QUERIES = (
    (_RUN_ENDS, 4),
    (_LAST_SUCCESS, 2),
    (_RUN_COUNTS, 3),
    (_STAGES, 2),
    (_STAGE_FAILURES, 2),
    (_CALLS, 7),
    (_BY_ACCOUNT, 3),
    (_BREAKERS, 2),
    (_EQUITY, 3),
    (_MARKET, 3),
    (_CLAMPS, 2),
    (_STAGE_WAITS, 2),
)


def _as_json_rows(query: str, width: int) -> str:
    columns = [f"c{n}" for n in range(width)]
    row = ", ".join(f"q.{c}" for c in columns)
    return (
        f"(SELECT coalesce(json_agg(json_build_array({row}) ORDER BY {', '.join(f'q.{c}' for c in columns)}), '[]')"
        f" FROM ({query}) AS q({', '.join(columns)}))"
    )


# Every query in one statement (one round trip, one snapshot), each one's rows as a JSON array.
_AGGREGATE = "SELECT json_build_array(" + ",\n".join(_as_json_rows(query, width) for query, width in _QUERIES) + ")"


# A family of the projection's tables -> its place in FAMILIES and the columns its rows take after the labels:
# metric_counts' rows are [family, labels, n, prompt, completion, cost], metric_latest's [family, labels, kind,
# flag, at, value].
_COUNTED = {
    "runs": (2, (2,)),
    "stage_failures": (4, (2,)),
    "calls": (5, (2, 3, 4, 5)),
    "by_account": (6, (2,)),
    "market": (9, (2,)),
    "clamps": (10, (2,)),
    "stage_waits": (11, (2,)),
}
_LATEST = {
    "run_end": (0, (2, 4, 5)),
    "success": (1, (4,)),
    "stage": (3, (5,)),
    "breaker": (7, (3,)),
    "equity": (8, (5, 4)),
}


def refresh(conn: psycopg.Connection) -> list[list[list[Any]]]:
    """Fold the events written since the last refresh into the totals and return every family's rows (a list
    per name of FAMILIES, each row a list of the values the comments there name, labels ascending).

    One statement. Needs READ COMMITTED (the default) and a writable database. Raises psycopg.Error when the
    projection cannot be written (read-only, a lock held over 5 s: nothing of it is kept) or
    psycopg.errors.UndefinedFunction before migration 0011; in a caller's transaction a failure aborts it."""
    # Autocommit: the call is its own transaction, so its commit may skip waiting for the disk (see the function).
    found = conn.execute("SELECT metric_totals_refresh(%s)", (conn.autocommit,)).fetchone()
    assert found is not None  # a SELECT without FROM gives one row
    counted, latest = found[0]
    rows: list[list[list[Any]]] = [[] for _ in FAMILIES]
    for table, places in ((counted, _COUNTED), (latest, _LATEST)):
        for row in table:  # ordered by family, then labels
            place, columns = places[row[0]]
            rows[place].append([*row[1], *(row[c] for c in columns)])
    return rows


def aggregate(conn: psycopg.Connection) -> list[list[list[Any]]]:
    """The same rows as `refresh`, aggregated over every event (one statement; cost grows with the history).

    Raises psycopg.errors.UndefinedTable when the database has no events table (never migrated)."""
    found = conn.execute(_AGGREGATE).fetchone()
    assert found is not None
    return list(found[0])


def last_refresh(conn: psycopg.Connection) -> tuple[int, int]:
    """(events the last refresh read, of which new to the totals): a refresh after no new event reads none."""
    found = conn.execute("SELECT rows_read, rows_added FROM metric_totals_state").fetchone()
    assert found is not None  # migration 0011 inserts the one row
    return int(found[0]), int(found[1])
