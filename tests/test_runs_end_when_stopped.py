"""Every run a stopped backtest started has its end on file: a Ctrl-C (or SIGTERM) landing anywhere between a run's
RunStarted and its end, even inside the start's own append (its log line, after the event was stored), records the
run's RunFailed as a stop (app/runs.py `RunLog.ends_recorded`, `start_run`). Found by a new user's trial: a `discover`
run inside a backtest cut by the signal left a RunStarted with no RunFailed or RunFinished, and so did checkpoints
whose start's log line the signal landed in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from llmtrade.app import checkpoint_run, discovery, jobs
from llmtrade.domain.events import StoredEvent
from llmtrade.storage import event_store
from llmtrade.storage.database import backtest_database
from tests.test_backtest import _run, _unique, _url


def _after(real: Callable[..., Any]) -> Callable[..., Any]:
    """`real`, then a Ctrl-C: the stop lands right after it has returned."""

    def then_stopped(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise KeyboardInterrupt

    return then_stopped


def _in_the_start_log_line_of(command: str) -> Callable[[Sequence[StoredEvent]], list[StoredEvent]]:
    """event_store's `log_appended`, with a Ctrl-C landing in the log line of the first `command` run's RunStarted,
    after the store holds it."""
    real = event_store.log_appended

    def logged(events: Sequence[StoredEvent]) -> list[StoredEvent]:
        stored = real(events)
        if any(e.type == "RunStarted" and e.payload["command"] == command for e in stored):
            event_store.log_appended = real  # type: ignore[attr-defined]
            raise KeyboardInterrupt
        return stored

    return logged


# Where the stop lands: the module and name patched, and what it is patched with (from the real one).
STOPS: dict[str, tuple[Any, str, Callable[[Any], Any]]] = {
    "discover after its answer, before its suggestions": (discovery, "execute", _after),
    "run-weekly after its pipeline, before its end": (jobs, "held_back_notes", _after),
    "checkpoint after its pipeline, before its end": (checkpoint_run, "held_back_notes", _after),
    "postmortem after its pipeline, before its end": (jobs, "project_week_summaries", _after),
    "checkpoint in its start's log line": (
        event_store,
        "log_appended",
        lambda _real: _in_the_start_log_line_of("checkpoint"),
    ),
}


@pytest.mark.parametrize("where", STOPS)
def test_a_run_stopped_anywhere_after_its_start_has_its_runfailed_as_a_stop(
    where: str, database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, name, patched = STOPS[where]
    monkeypatch.setattr(module, name, patched(getattr(module, name)))
    backtest = _unique()
    with pytest.raises(KeyboardInterrupt):
        _run(database_url, tmp_path, backtest, audit=0)

    with psycopg.connect(_url(pg_admin_url, backtest_database(backtest))) as conn:
        runs = conn.execute(
            """SELECT s.run_id, s.payload->>'command', e.type, e.payload->>'error_type', e.payload->>'exit_code'
               FROM events s LEFT JOIN events e ON e.run_id = s.run_id AND e.type IN ('RunFinished', 'RunFailed')
               WHERE s.type = 'RunStarted' ORDER BY s.id"""
        ).fetchall()
    # Before: the stopped run's RunStarted had no end.
    assert [run for run in runs if run[2] is None] == []
    assert len({run[0] for run in runs}) == len(runs)  # one end each
    *finished, stopped = runs
    assert {run[2] for run in finished} <= {"RunFinished"}
    assert stopped[1:] == (where.split()[0], "RunFailed", "KeyboardInterrupt", "130")


def test_a_stop_that_leaves_the_backtests_connection_busy_still_writes_the_runs_end(
    database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C between a statement sent on the backtest's held connection and its answer leaves the connection busy
    ("another command is already in progress"): the flush on the way out failed there, and the stopped postmortem's
    RunFailed (and its events before it) were lost with it (a trial's SIGTERM, 1 in 60 stops)."""

    def busy_then_stopped(conn: psycopg.Connection[Any], *args: Any) -> None:
        conn.pgconn.send_query(b"SELECT 1")  # sent, its answer never read: as psycopg is left by a stop there
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs, "project_week_summaries", busy_then_stopped)
    backtest = _unique()
    with pytest.raises(KeyboardInterrupt):
        _run(database_url, tmp_path, backtest, audit=0)

    with psycopg.connect(_url(pg_admin_url, backtest_database(backtest))) as conn:
        last = conn.execute(
            "SELECT type, payload->>'command', payload->>'exit_code' FROM events ORDER BY id"
        ).fetchall()
    assert last[-1] == ("RunFailed", "postmortem", "130")
    assert ("PostmortemWritten", None, None) in last  # what the run recorded before the stop: kept
    # Its marker goes with the run's end (workflows/completion.py): a stop before it leaves the postmortem to run again.
    assert ("PostmortemCompleted", None, None) not in last
