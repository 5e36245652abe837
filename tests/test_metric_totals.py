"""The metrics' totals projection (storage/metric_totals.py, migration 0011) against the real PostgreSQL: it says
what the full aggregate over every event says, counts each event once whatever order transactions commit in,
and a refresh reads only what is new."""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from llmtrade.observe import metrics as observe_metrics
from llmtrade.observe.exposition import render
from llmtrade.storage import migrations
from llmtrade.storage.metric_totals import FAMILIES, aggregate, last_refresh, refresh

# The refreshes read by the last snapshot's xmin, which any transaction running on the server holds back.
pytestmark = pytest.mark.quiet_server

_JOBS = ["run-weekly", "checkpoint", "postmortem"]
_STAGES = ["research", "pitches", "chairman", "execution"]
_MODELS = ["m/a", "m/b", "m/c"]
_ACCOUNTS = ["acct_1", "acct_2", "chairman", None]
_PROVIDERS = ["alpaca", "yfinance", None]
_RULES = ["max_position_pct", "whole_shares", None]
_START = datetime(2026, 1, 7, 13, 0, tzinfo=UTC)


def _event(rng: random.Random, kind: str) -> tuple[str, dict[str, Any], str | None]:
    """(type, payload, account_id column) shaped as the events the metrics read, labels sometimes missing."""
    account = rng.choice(_ACCOUNTS)
    named = rng.choice(_ACCOUNTS[:-1])  # a breaker's and a valuation's account is always named
    if kind in ("RunFinished", "RunFailed"):
        payload: dict[str, Any] = {"command": rng.choice(_JOBS), "duration_ms": rng.randint(1, 90_000) / 7}
        if rng.random() < 0.7:
            payload["degraded"] = rng.random() < 0.3
        return kind, payload, None
    if kind == "RunKilled":
        last = _START + timedelta(minutes=rng.randint(0, 900))
        return kind, {"command": rng.choice(_JOBS), "found_by": "r", "last_event_type": "StageStarted",
                      "last_event_at": last.isoformat()}, None  # fmt: skip
    if kind == "StageCompleted":
        loaded = {"loaded": True} if rng.random() < 0.2 else {}
        return kind, {"stage": rng.choice(_STAGES), "duration_ms": rng.random() * 5000, **loaded}, None
    if kind == "StageFailed":  # errors.Waiting: a stage that stopped to wait, counted apart
        return kind, {"stage": rng.choice(_STAGES), "error_type": rng.choice(["Waiting", "TemporaryError"])}, None
    if kind == "LLMCallCompleted":
        cost = None if rng.random() < 0.2 else round(rng.random() / 100, 6)
        return kind, {
            "model": rng.choice(_MODELS), "source": rng.choice(["live", "rules", "cache"]),
            "prompt_tokens": rng.randint(0, 5000), "completion_tokens": rng.randint(0, 900), "cost_usd": cost,
            "messages": [{"role": "user", "content": "x" * 5000}],  # toasted, as a real record's
        }, None  # fmt: skip
    if kind == "LLMCallFailed":
        return kind, {"model": rng.choice(_MODELS), "messages": []}, None
    if kind == "OrderSubmitted":
        return kind, {"order": {"account_id": account}}, rng.choice([account, None])
    if kind == "OrderRejected":
        return kind, {"order": {"account_id": account}}, account
    if kind == "OrderFilled":
        return kind, {"fill": {"account_id": account}}, None
    if kind == "BreakerUpdated":
        return kind, {"state": {"account_id": named, "halted": rng.random() < 0.5}}, named
    if kind == "AccountValued":
        return kind, {"account_id": named, "equity": rng.randint(90_000_00, 110_000_00) / 100}, named
    if kind in ("MarketProviderFailed", "MarketDataRejected"):
        return kind, {"provider": rng.choice(_PROVIDERS)}, None
    if kind == "RiskChecked":
        adjustments = [{"rule": rng.choice(_RULES)} for _ in range(rng.randint(0, 3))]
        return kind, {"verdict": {"adjustments": adjustments}}, account
    return kind, {"note": "a type the metrics do not read"}, account


_KINDS = [
    "RunFinished", "RunFailed", "RunKilled", "StageCompleted", "StageFailed", "LLMCallCompleted", "LLMCallFailed",
    "OrderSubmitted", "OrderRejected", "OrderFilled", "BreakerUpdated", "AccountValued", "MarketProviderFailed",
    "MarketDataRejected", "RiskChecked", "ResearchPackBuilt",
]  # fmt: skip


def _batch(rng: random.Random, n: int) -> list[tuple[str, dict[str, Any], str | None]]:
    return [_event(rng, kind) for kind in _KINDS] + [_event(rng, rng.choice(_KINDS)) for _ in range(n)]


def _insert(conn: psycopg.Connection, rows: list[tuple[str, dict[str, Any], str | None]]) -> None:
    with conn.cursor() as cur:
        for n, (kind, payload, account) in enumerate(rows):
            cur.execute(
                """INSERT INTO events (type, stream, version, account_id, occurred_at, payload)
                   VALUES (%s, gen_random_uuid()::text, 1, %s, %s, %s)""",
                (kind, account, _START + timedelta(minutes=n * 37 % 1000), json.dumps(payload)),
            )


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def test_the_projection_equals_the_full_aggregate_over_batches_with_refreshes_between(
    conn: psycopg.Connection,
) -> None:
    rng = random.Random(16)
    assert refresh(conn) == aggregate(conn) == [[] for _ in range(len(FAMILIES))]
    for size in (0, 40, 200, 5, 120):
        _insert(conn, _batch(rng, size))
        assert refresh(conn) == aggregate(conn)
    rows = aggregate(conn)
    assert all(rows), "every family has rows"
    assert any(None in row[:3] for family in rows for row in family), "missing labels are in the history"


def test_an_event_committed_after_a_refresh_with_a_lower_id_is_counted_once(
    conn: psycopg.Connection, database_url: str
) -> None:
    rng = random.Random(7)
    _insert(conn, _batch(rng, 30))
    refresh(conn)
    with psycopg.connect(database_url) as late:  # a transaction: its id and txid are taken now, committed later
        _insert(late, [("AccountValued", {"account_id": "acct_1", "equity": 1.0}, "acct_1")])
        _insert(late, _batch(rng, 20))
        _insert(conn, [("AccountValued", {"account_id": "acct_1", "equity": 2.0}, "acct_1")])  # a higher id
        _insert(conn, _batch(rng, 20))
        assert refresh(conn) == aggregate(conn)  # without the open transaction's rows
        late.commit()
    assert refresh(conn) == aggregate(conn)
    assert refresh(conn) == aggregate(conn)
    assert last_refresh(conn)[1] == 0  # nothing added twice
    equity = {row[0]: row[1] for row in refresh(conn)[8]}
    latest = conn.execute(
        "SELECT payload->>'equity' FROM events WHERE type = 'AccountValued' AND account_id = 'acct_1' "
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert latest is not None and equity["acct_1"] == float(latest[0])


def test_two_refreshes_at_once_take_turns_and_the_second_sees_what_the_first_committed(
    conn: psycopg.Connection, database_url: str
) -> None:
    rng = random.Random(3)
    _insert(conn, _batch(rng, 50))
    second_result: list[list[list[Any]]] = []
    with psycopg.connect(database_url) as first, psycopg.connect(database_url, autocommit=True) as other:
        refresh(first)  # holds the state row's lock until it commits
        second = threading.Thread(target=lambda: second_result.append(refresh(other)))
        second.start()
        second.join(0.5)
        assert second.is_alive(), "the second refresh waits for the first"
        _insert(conn, _batch(rng, 50))  # committed while the first holds the lock: only the second sees it
        first.commit()
        second.join(10)
    assert second_result == [aggregate(conn)]
    assert refresh(conn) == aggregate(conn)


def test_a_refresh_after_no_new_events_reads_none(conn: psycopg.Connection) -> None:
    _insert(conn, _batch(random.Random(5), 100))
    refresh(conn)
    read, added = last_refresh(conn)
    assert read >= added == _read_by_metrics(conn) > 100
    refresh(conn)
    assert last_refresh(conn) == (0, 0)
    before = _read_by_metrics(conn)
    _insert(conn, _batch(random.Random(6), 10))
    refresh(conn)
    assert last_refresh(conn) == (_read_by_metrics(conn) - before,) * 2  # the new ones, not the history


def _read_by_metrics(conn: psycopg.Connection) -> int:
    found = conn.execute("SELECT count(*) FROM events WHERE type <> 'ResearchPackBuilt'").fetchone()
    assert found is not None
    return int(found[0])


def test_a_change_of_logic_or_a_horizon_from_another_server_rebuilds_the_totals(conn: psycopg.Connection) -> None:
    _insert(conn, _batch(random.Random(9), 60))
    expected = aggregate(conn)
    refresh(conn)
    conn.execute("UPDATE metric_counts SET n = n + 1000")  # totals an older logic would have left
    conn.execute("UPDATE metric_totals_state SET version = 0")
    assert refresh(conn) == expected
    conn.execute("UPDATE metric_counts SET n = n + 1000")
    conn.execute("UPDATE metric_totals_state SET horizon = '999999999999'::xid8")  # a restored dump's
    assert refresh(conn) == expected
    assert last_refresh(conn)[1] == _read_by_metrics(conn)  # every event read again once


def test_migrating_a_database_with_history_counts_it_once(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = migrations.available()
    assert [m.name for m in shipped if m.number == 11] == ["metric_totals"]
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        monkeypatch.setattr(migrations, "available", lambda: [m for m in shipped if m.number < 11])
        migrations.migrate(conn)
        rng = random.Random(11)
        _insert(conn, _batch(rng, 40))
        conn.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
        conn.execute("UPDATE events SET txid = NULL WHERE id % 2 = 0")  # as rows written before migration 0010
        conn.execute("ALTER TABLE events ENABLE TRIGGER events_append_only")
        monkeypatch.undo()
        assert [m.number for m in migrations.migrate(conn)] == [m.number for m in shipped if m.number >= 11]
        assert refresh(conn) == aggregate(conn)
        _insert(conn, _batch(rng, 40))
        assert refresh(conn) == aggregate(conn)


def test_a_read_only_database_falls_back_to_the_full_aggregate_and_says_so(
    conn: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    _insert(conn, _batch(random.Random(2), 40))
    expected = render(observe_metrics.snapshot(conn))
    _insert(conn, _batch(random.Random(4), 40))
    refreshed = render(observe_metrics.snapshot(conn))
    state = conn.execute("SELECT horizon::text, counted FROM metric_totals_state").fetchone()
    _insert(conn, _batch(random.Random(8), 40))
    conn.execute("SET default_transaction_read_only = on")
    with caplog.at_level(logging.WARNING, logger="llmtrade.metrics"):
        read_only = render(observe_metrics.snapshot(conn))
    assert "metric totals not refreshed" in caplog.text
    assert read_only != refreshed != expected  # each saw the events written before it
    assert conn.execute("SELECT horizon::text, counted FROM metric_totals_state").fetchone() == state
    conn.execute("SET default_transaction_read_only = off")
    assert render(observe_metrics.snapshot(conn)) == read_only  # the projection caught up: the same text


def test_in_a_callers_transaction_a_failed_refresh_leaves_it_usable(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        _insert(conn, _batch(random.Random(1), 20))
        conn.execute("SET LOCAL lock_timeout = '1ms'")
        with psycopg.connect(database_url) as holder:
            holder.execute("SELECT 1 FROM metric_totals_state FOR UPDATE")
            families = observe_metrics.snapshot(conn)  # the lock is held: the full aggregate, same transaction
        assert {f.name for f in families} >= {"llmtrade_runs", "llmtrade_model_calls"}
        assert render(families) == render(observe_metrics.snapshot(conn))
        conn.commit()


def test_latest_values_keep_the_highest_id_not_the_last_committed(conn: psycopg.Connection) -> None:
    start = _START - timedelta(days=1)
    _insert(conn, [("AccountValued", {"account_id": "acct_9", "equity": 5.0}, "acct_9")])
    refresh(conn)
    conn.execute(
        """INSERT INTO events (id, type, stream, version, account_id, occurred_at, payload)
           VALUES (0, 'AccountValued', 'late', 1, 'acct_9', %s, '{"account_id": "acct_9", "equity": 1.0}')""",
        (start,),
    )  # a lower id than the one counted, committed after it
    assert {row[0]: row[1] for row in refresh(conn)[8]}["acct_9"] == 5.0
    assert refresh(conn) == aggregate(conn)


def test_a_refresh_reads_by_the_horizon_even_after_many_in_one_session(conn: psycopg.Connection) -> None:
    """The events table is not read again: no sequential scan, and the index finds only what is new (a plan
    cached for any horizon, as plpgsql would choose after five calls in a session, reads every event again)."""
    conn.execute(
        """INSERT INTO events (type, stream, version, account_id, occurred_at, payload)
           SELECT 'OrderFilled', 'fill-' || n, 1, 'acct_1', %s, '{"fill": {"account_id": "acct_1"}}'
           FROM generate_series(1, 5000) AS n""",
        (_START,),
    )
    conn.execute("ANALYZE events")
    conn.execute("SET plan_cache_mode = force_generic_plan")  # what plpgsql may choose after five calls anyway
    for _ in range(8):
        refresh(conn)
    _insert(conn, _batch(random.Random(12), 0))
    with conn.transaction():  # the session's reads not yet reported, before and after: what the refresh read
        before = _events_read(conn)
        refresh(conn)
        sequential, by_index = (after - earlier for after, earlier in zip(_events_read(conn), before, strict=True))
    assert sequential == 0
    assert by_index == 15  # the new events the metrics read, one of each type


def _events_read(conn: psycopg.Connection) -> tuple[int, int]:
    found = conn.execute(
        "SELECT seq_tup_read, coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables WHERE relname = 'events'"
    ).fetchone()
    assert found is not None
    return int(found[0]), int(found[1])


def test_in_a_callers_transaction_its_commit_still_waits_for_the_disk(database_url: str) -> None:
    """Only a refresh that is its own transaction commits without waiting: the caller's events must be durable."""
    with psycopg.connect(database_url) as conn:
        conn.execute("SET synchronous_commit = on")  # the test server's default is off (conftest)
        refresh(conn)
        _insert(conn, _batch(random.Random(13), 0))
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
        conn.commit()


def test_the_equity_says_when_it_was_valued_and_a_database_folded_before_0014_gets_it(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`llmtrade_equity_usd` alone cannot tell a cron job that stopped valuing from accounts that did not move: each
    equity has its valuation's time beside it. Totals folded before migration 0014 (no time) are rebuilt once."""
    shipped = migrations.available()
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        monkeypatch.setattr(migrations, "available", lambda: [m for m in shipped if m.number < 14])
        migrations.migrate(conn)
        _insert(conn, _batch(random.Random(14), 60))
        before = refresh(conn)
        assert before[8] and all(row[2] is None for row in before[8])  # folded before 0014: no time
        monkeypatch.undo()
        assert [m.number for m in migrations.migrate(conn)] == [m.number for m in shipped if m.number >= 14]
        valued = conn.execute(
            "SELECT DISTINCT ON (payload->>'account_id') payload->>'account_id',"
            " extract(epoch FROM occurred_at)::float8"
            " FROM events WHERE type = 'AccountValued' ORDER BY payload->>'account_id', id DESC"
        ).fetchall()
        after = refresh(conn)
        assert after == aggregate(conn)
        assert {row[0]: float(row[2]) for row in after[8]} == dict(valued)
        text = render(observe_metrics.snapshot(conn))
    shown = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("llmtrade_equity_valued_timestamp_seconds{")
    }
    assert shown == pytest.approx(dict(valued))


def test_a_killed_run_is_the_jobs_last_run_failed_and_a_database_folded_before_0015_counts_it(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed with SIGKILL records no end; the run that finds it records RunKilled. The metrics read only
    RunFinished and RunFailed: `llmtrade_last_run_status` stayed "ok" and no run was counted (a cron trial)."""
    shipped = migrations.available()
    finished = {"command": "checkpoint", "degraded": False, "duration_ms": 1000.0}
    killed = {
        "command": "checkpoint",
        "found_by": "r2",
        "last_event_type": "StageStarted",
        "last_event_at": (_START + timedelta(minutes=70)).isoformat(),
    }
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        monkeypatch.setattr(migrations, "available", lambda: [m for m in shipped if m.number < 15])
        migrations.migrate(conn)
        _insert(conn, [("RunFinished", finished, None)])
        refresh(conn)  # folded before 0015
        _insert(conn, [("RunKilled", killed, None)])
        monkeypatch.undo()
        migrations.migrate(conn)
        assert refresh(conn) == aggregate(conn)
        text = render(observe_metrics.snapshot(conn))
    lines = set(text.splitlines())
    assert 'llmtrade_last_run_status{job="checkpoint",status="failed"} 1.0' in lines, text
    assert 'llmtrade_last_run_status{job="checkpoint",status="ok"} 0.0' in lines
    assert 'llmtrade_runs_total{job="checkpoint",status="failed"} 1.0' in lines
    assert 'llmtrade_runs_total{job="checkpoint",status="ok"} 1.0' in lines
    # its end: the last moment it was known alive
    ended = (_START + timedelta(minutes=70)).timestamp()
    assert f'llmtrade_last_run_timestamp_seconds{{job="checkpoint"}} {ended:.1f}' in lines or any(
        line.startswith('llmtrade_last_run_timestamp_seconds{job="checkpoint"}')
        and float(line.rsplit(" ", 1)[1]) == ended
        for line in lines
    )


def _run_events(conn: psycopg.Connection, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
    for n, (run_id, kind, payload) in enumerate(rows):
        conn.execute(
            """INSERT INTO events (type, stream, version, run_id, occurred_at, payload)
               VALUES (%s, gen_random_uuid()::text, 1, %s, %s, %s)""",
            (kind, run_id, _START + timedelta(minutes=n), json.dumps(payload)),
        )


def _ended(exit_code: int, error_type: str = "StageError") -> dict[str, Any]:
    return {"command": "checkpoint", "error_type": error_type, "error": "stage 'complete' failed: x",
            "duration_ms": 10.0, "exit_code": exit_code}  # fmt: skip


_DEFERRED = {"stage": "complete", "waiting": ["acct_2"], "errors": ["acct_2: TLT"], "deadline": None}


def test_a_run_that_stopped_to_wait_is_status_waiting_and_old_waits_read_so_after_0016(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that stopped to wait (exit 75 after a StageDeferred of its own: app/last_runs.py `waited`) was labelled
    status="failed", so an alert on failures paged for every price a minute late. Waits recorded before errors.Waiting
    (error_type StageError, "stage '...' failed: ...") read as waits too, as `status` reads them; an exit 75 with no
    StageDeferred of its own (a provider down) stays failed."""
    shipped = migrations.available()
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        monkeypatch.setattr(migrations, "available", lambda: [m for m in shipped if m.number < 16])
        migrations.migrate(conn)
        _run_events(conn, [("r1", "StageDeferred", _DEFERRED), ("r1", "RunFailed", _ended(75))])
        refresh(conn)  # folded before 0016: r1 counted failed
        monkeypatch.undo()
        migrations.migrate(conn)
        _run_events(conn, [("r2", "RunFailed", _ended(75, "TemporaryError")), ("r3", "RunFailed", _ended(1))])
        _run_events(conn, [("r4", "StageDeferred", _DEFERRED)])
        assert refresh(conn) == aggregate(conn)
        _run_events(conn, [("r4", "RunFailed", _ended(75))])  # its wait folded by an earlier refresh
        assert refresh(conn) == aggregate(conn)
        text = render(observe_metrics.snapshot(conn))
    lines = set(text.splitlines())
    assert 'llmtrade_last_run_status{job="checkpoint",status="waiting"} 1.0' in lines, text
    assert 'llmtrade_last_run_status{job="checkpoint",status="failed"} 0.0' in lines
    assert 'llmtrade_runs_total{job="checkpoint",status="waiting"} 2.0' in lines
    assert 'llmtrade_runs_total{job="checkpoint",status="failed"} 2.0' in lines


def test_a_stage_that_stopped_to_wait_is_counted_apart_from_the_stage_failures(conn: psycopg.Connection) -> None:
    """A StageFailed raised by errors.Waiting (its run stopped to wait) was counted in `llmtrade_stage_failures_total`;
    it is a wait, as trace says it (observe/timeline.py). A TemporaryError with no StageDeferred of its stage (a
    provider down) stays a failure there and here (one after its StageDeferred is an old wait: test_old_waits.py)."""
    _run_events(
        conn,
        [
            ("r1", "StageFailed", {"stage": "complete", "error_type": "Waiting", "error": "w", "duration_ms": 1.0}),
            ("r2", "StageFailed", {"stage": "complete", "error_type": "TemporaryError", "error": "", "duration_ms": 1}),
            ("r3", "StageFailed", {"stage": "research", "error_type": "Waiting", "error": "w", "duration_ms": 1.0}),
        ],
    )
    assert refresh(conn) == aggregate(conn)
    lines = set(render(observe_metrics.snapshot(conn)).splitlines())
    assert 'llmtrade_stage_failures_total{stage="complete"} 1.0' in lines
    assert not any(line.startswith('llmtrade_stage_failures_total{stage="research"}') for line in lines)
    assert 'llmtrade_stage_waits_total{stage="complete"} 1.0' in lines
    assert 'llmtrade_stage_waits_total{stage="research"} 1.0' in lines
