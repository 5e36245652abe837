"""Stage waits recorded before errors.Waiting (fa4423e8) read as waits: upcast where the events are read.

Before errors.Waiting, a stage that stopped to wait recorded its StageDeferred, then a StageFailed whose error_type was
TemporaryError (the plain error the checkpoint's price wait, the owner wait and pipeline/retry.py's role wait raised),
then the run's RunFailed (StageError, "stage '...' failed: ...", exit 75). The run read as a wait (exit 75 after its own
StageDeferred), its stage as a failure: trace listed it among the failures and llmtrade_stage_failures_total counted
it. These tests write that shape into the database, as the code then did, and read it back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from llmtrade.app.last_runs import last_runs
from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent, StageFailed
from llmtrade.domain.streams import held_stream, run_stream
from llmtrade.observe import metrics as observe_metrics
from llmtrade.observe.exposition import render
from llmtrade.observe.timeline import trace_run
from llmtrade.settings import Settings
from llmtrade.storage import migrations
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.metric_totals import aggregate, refresh

_NOW = datetime(2026, 1, 7, 18, 0, tzinfo=UTC)
_WAIT_TEXT = "checkpoint 2026-01-07 12:00: not judged yet, holding a symbol without a price now: acct_2: TLT"


def _old_run(run_id: str, stage: str, *, deferred_stage: str | None, version: int = 1) -> list[NewEvent]:
    """A checkpoint run as the code before errors.Waiting recorded it: StageDeferred (when `deferred_stage`), the
    stage's StageFailed of a plain TemporaryError (at schema `version`), RunFailed exit 75."""
    stream = run_stream(run_id)

    def on_run(kind: str, payload: dict[str, Any], schema_version: int = 1) -> NewEvent:
        return NewEvent(type=kind, stream=stream, payload=payload, run_id=run_id, schema_version=schema_version)

    started = {"command": "checkpoint", "arguments": {}, "mode": "offline", "mode_reason": "test",
               "config_source": "test", "version": "0"}  # fmt: skip
    events = [on_run("RunStarted", started), on_run("StageStarted", {"stage": stage})]
    if deferred_stage is not None:
        deferred = {"stage": deferred_stage, "waiting": ["acct_2"], "errors": ["acct_2: TLT"], "deadline": None}
        events.append(
            NewEvent(type="StageDeferred", stream=held_stream(f"checkpoint:{run_id}"), payload=deferred, run_id=run_id)
        )
    failed = {"stage": stage, "duration_ms": 3.0, "error_type": "TemporaryError", "error": _WAIT_TEXT}
    events.append(on_run("StageFailed", failed, version))
    ended = {"command": "checkpoint", "error_type": "StageError", "error": f"stage {stage!r} failed: {_WAIT_TEXT}",
             "duration_ms": 10.0, "exit_code": 75}  # fmt: skip
    events.append(on_run("RunFailed", ended))
    return events


def test_a_stage_wait_recorded_before_errors_waiting_reads_as_a_wait_in_the_store_trace_and_metrics(
    storage: Storage, database_url: str
) -> None:
    # The old wait (r-old) was a failure of its stage in trace ("failures: 1") and in llmtrade_stage_failures_total.
    # A plain TemporaryError with no StageDeferred of its stage (r-down: a provider down; r-other: another stage
    # deferred) is a failure as it was, and so is one written at StageFailed's current schema (r-new), whose
    # error_type says a wait itself.
    storage.events.append(_old_run("r-old", "complete", deferred_stage="complete"))
    storage.events.append(_old_run("r-down", "complete", deferred_stage=None))
    storage.events.append(_old_run("r-other", "complete", deferred_stage="ask"))
    storage.events.append(_old_run("r-new", "research", deferred_stage="research", version=StageFailed.schema_version))

    # Every read of the store sees the new shape: by run, by type (its copies), by stream.
    [by_run] = [e for e in storage.events.read(run_id="r-old") if e.type == "StageFailed"]
    by_type = {e.run_id: e.payload["error_type"] for e in storage.events.read(type="StageFailed")}
    [by_stream] = [e for e in storage.events.read(stream=run_stream("r-old")) if e.type == "StageFailed"]
    assert by_run.payload["error_type"] == by_stream.payload["error_type"] == "Waiting"
    assert by_type == {"r-old": "Waiting", "r-down": "TemporaryError", "r-other": "TemporaryError",
                       "r-new": "TemporaryError"}  # fmt: skip
    assert StageFailed.from_event(by_run).error_type == "Waiting"

    old = trace_run(storage.events, "r-old")
    assert old.status == "stopped to wait"
    assert [s.outcome for s in old.stages] == ["waited"]
    assert old.failures == 0, [(e.kind, e.name, e.detail) for e in old.entries]
    for other in ("r-down", "r-other", "r-new"):
        assert [s.outcome for s in trace_run(storage.events, other).stages] == ["failed"], other

    with psycopg.connect(database_url, autocommit=True) as conn:
        assert refresh(conn) == aggregate(conn)
        lines = set(render(observe_metrics.snapshot(conn)).splitlines())
    assert 'llmtrade_stage_waits_total{stage="complete"} 1.0' in lines, lines
    assert 'llmtrade_stage_failures_total{stage="complete"} 2.0' in lines, lines
    assert 'llmtrade_stage_failures_total{stage="research"} 1.0' in lines, lines


def test_a_database_whose_old_stage_wait_was_counted_a_failure_counts_it_a_wait_after_0017(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A database with history: the old wait folded into llmtrade_stage_failures_total before migration 0017; the first
    # refresh after it rebuilds the totals (logic version 5) and counts it among the waits.
    shipped = migrations.available()
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        monkeypatch.setattr(migrations, "available", lambda: [m for m in shipped if m.number < 17])
        migrations.migrate(conn)
        for event in _old_run("r-old", "complete", deferred_stage="complete"):
            conn.execute(
                """INSERT INTO events (type, stream, version, run_id, occurred_at, payload, schema_version)
                   SELECT %s, %s, coalesce(max(version), 0) + 1, %s, now(), %s, %s FROM events WHERE stream = %s""",
                (event.type, event.stream, event.run_id, json.dumps(event.payload), event.schema_version, event.stream),
            )
        refresh(conn)
        before = set(render(observe_metrics.snapshot(conn)).splitlines())
        monkeypatch.undo()
        migrations.migrate(conn)
        assert refresh(conn) == aggregate(conn)
        after = set(render(observe_metrics.snapshot(conn)).splitlines())
    assert 'llmtrade_stage_failures_total{stage="complete"} 1.0' in before, before
    assert 'llmtrade_stage_waits_total{stage="complete"} 1.0' in after, after
    assert not any(line.startswith("llmtrade_stage_failures_total{") for line in after), after


def test_the_end_of_a_run_that_waited_before_errors_waiting_reads_as_a_wait_s_own_text(storage: Storage) -> None:
    # Its RunFailed said "stage 'complete' failed: checkpoint ... not judged yet": `status` read "stopped to wait:
    # stage 'complete' failed: ..." and trace's wait line likewise, where a wait recorded since says what it waits for.
    # A failure of a stage with no StageDeferred keeps its text.
    storage.events.append(_old_run("r-down", "research", deferred_stage=None))
    storage.events.append(_old_run("r-old", "complete", deferred_stage="complete"))  # the last checkpoint run
    ends = {e.run_id: e.payload["error"] for e in storage.events.read(type="RunFailed")}
    assert ends == {"r-old": _WAIT_TEXT, "r-down": f"stage 'research' failed: {_WAIT_TEXT}"}
    last = last_runs(storage.events)["checkpoint"]
    assert (last.outcome, last.error) == ("stopped to wait", _WAIT_TEXT)
    [end] = [e for e in trace_run(storage.events, "r-old").entries if e.name == "RunFailed"]
    assert end.detail == f"stopped to wait: {_WAIT_TEXT}"


def _old_price_wait(run_id: str) -> list[NewEvent]:
    """A checkpoint's price wait as the code before errors.Waiting recorded it (4e19bba4, workflows/checkpoint_trade.py
    `_defer`): its `complete` stage wrote the StageDeferred under the stage `prepare` (the accounts prepare found
    unpriced), then failed itself: a StageFailed and a RunFailed ("stage 'complete' failed: ...") of stage complete."""
    events = _old_run(run_id, "complete", deferred_stage="prepare")
    assert [e.payload["stage"] for e in events if e.type in ("StageDeferred", "StageFailed")] == ["prepare", "complete"]
    return events


def test_an_old_checkpoint_price_wait_deferred_under_prepare_reads_as_a_wait(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The commonest old wait (a price a minute late) was read as a failure after 0017 and 0018, which looked for a
    # StageDeferred of the failed stage itself: trace said "failed" with "failures: 1", the metrics counted a stage
    # failure, and `status` said "stopped to wait: stage 'complete' failed: ...". A database already at 0018 (folded
    # as a failure there) counts it a wait once migrated on.
    shipped = migrations.available()
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        monkeypatch.setattr(migrations, "available", lambda: [m for m in shipped if m.number <= 18])
        migrations.migrate(conn)
        for event in _old_price_wait("r-old"):
            conn.execute(
                """INSERT INTO events (type, stream, version, run_id, occurred_at, payload, schema_version)
                   SELECT %s, %s, coalesce(max(version), 0) + 1, %s, now(), %s, %s FROM events WHERE stream = %s""",
                (event.type, event.stream, event.run_id, json.dumps(event.payload), event.schema_version, event.stream),
            )
        refresh(conn)
        monkeypatch.undo()
        migrations.migrate(conn)
        assert refresh(conn) == aggregate(conn)
        lines = set(render(observe_metrics.snapshot(conn)).splitlines())
    assert 'llmtrade_stage_waits_total{stage="complete"} 1.0' in lines, lines
    assert not any(line.startswith("llmtrade_stage_failures_total{") for line in lines), lines

    with open_storage(Settings(DATABASE_URL=empty_database_url), FixedClock(_NOW)) as storage:
        old = trace_run(storage.events, "r-old")
        assert (old.status, [s.outcome for s in old.stages], old.failures) == ("stopped to wait", ["waited"], 0)
        [end] = [e for e in old.entries if e.name == "RunFailed"]
        assert end.detail == f"stopped to wait: {_WAIT_TEXT}"
        last = last_runs(storage.events)["checkpoint"]
        assert (last.outcome, last.error) == ("stopped to wait", _WAIT_TEXT)
