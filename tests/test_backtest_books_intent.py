"""`llmtrade backtest delete`: its intent (BacktestDeleting) is recorded in the live books before the drop, its outcome
after; a delete killed between the two (SIGKILL, the OOM killer, a power loss) is settled by the next `backtest list`
or `backtest delete`, which asks the server whether the database is gone.

The deletes are real processes killed by a real SIGKILL at exact points: the console script run with `drop_database`
wrapped to kill its own process just before or just after the DROP (as tests/test_killed_runs.py holds a run open).
The fixtures are test_backtest_books.py's: one finished backtest run once for the module, copied for each delete.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.domain.backtests_held import BacktestDeleted
from llmtrade.domain.events import StoredEvent
from llmtrade.storage import run_leases
from llmtrade.storage.database import backtest_database
from tests.test_backtest_books import Pair, _copy, _exists, _sweep, _sweep_exists, _unique, env, pair

runner = CliRunner()
__all__ = ["env", "pair"]  # the fixtures, used by name

# The console script with storage's DROP DATABASE wrapped: the process kills itself with SIGKILL just before the
# drop (`before`) or just after it (`after`), or after the given number of drops (`after:N`).
_KILLED_AT = """
import os, signal, sys

from llmtrade.storage import database_list

where = os.environ["KILL_AT"]
dropping = database_list.drop_database
drops = []


def drop_then_die(location, name):
    if where == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    dropping(location, name)
    drops.append(name)
    if where == "after" or where == f"after:{len(drops)}":
        os.kill(os.getpid(), signal.SIGKILL)


database_list.drop_database = drop_then_die
from llmtrade.app import backtest_books, sweep_books

backtest_books.drop_database = drop_then_die
sweep_books.drop_database = drop_then_die
sys.argv = ["llmtrade", *sys.argv[1:]]
from llmtrade.entry import main

main()
"""


def _killed(env: dict[str, str], at: str, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_AT, *args],
        env={**env, "KILL_AT": at},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


def _events(env: dict[str, str]) -> list[tuple[int, str, dict[str, Any]]]:
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT id, type, payload FROM events WHERE stream = 'backtests-deleted' ORDER BY id"
        ).fetchall()
    return [(int(i), str(t), p) for i, t, p in rows]


def _settled_by_list(env: dict[str, str], kind: str) -> list[tuple[int, str, dict[str, Any]]]:
    """`backtest list` run until the killed delete's lease is given back by the server (it ends the killed process's
    session on its own, a moment later) and the list has settled its intent: the events then."""
    deadline = time.monotonic() + 30
    while True:
        listed = runner.invoke(cli, ["backtest", "list", "--json"], env=env)
        assert listed.exit_code == 0, listed.output
        found = _events(env)
        if any(t == kind for _, t, _ in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_delete_killed_after_the_drop_is_recorded_by_the_next_list_once(
    pair: Pair, env: dict[str, str], cli_env: dict[str, str]
) -> None:
    name = _unique()
    _copy(pair, name)
    _killed(cli_env, "after", "backtest", "delete", name, "--yes")
    assert not _exists(pair, name)
    # Its intent is on record, with what it was; no outcome yet.
    [(intent_id, kind, intent)] = _events(env)
    assert kind == "BacktestDeleting" and intent["database"] == backtest_database(name)
    assert (intent["name"], intent["status"], intent["drop"]) == (name, "finished", True) and intent["events"] > 100

    events = _settled_by_list(env, "BacktestDeleted")
    [(_, _, deleted)] = [e for e in events if e[1] == "BacktestDeleted"]
    assert deleted["intent"] == intent_id and deleted["completed_later"] and deleted["dropped"]
    assert (deleted["name"], deleted["status"], deleted["events"]) == (name, "finished", intent["events"])

    # Two reruns at once, and one after: the deletion stays recorded once.
    reruns = [
        subprocess.Popen([sys.executable, "-m", "llmtrade", *args], env=cli_env, stdout=subprocess.PIPE, text=True)
        for args in (["backtest", "list", "--json"], ["backtest", "delete", name, "--yes"])
    ]
    for rerun in reruns:
        rerun.communicate(timeout=120)
    assert [r.returncode for r in reruns] == [0, 2]  # the delete: no such backtest now
    assert runner.invoke(cli, ["backtest", "list"], env=env).exit_code == 0
    assert [t for _, t, _ in _events(env)] == ["BacktestDeleting", "BacktestDeleted"]


def test_concurrent_reruns_after_a_kill_record_the_deletion_once(
    pair: Pair, env: dict[str, str], cli_env: dict[str, str]
) -> None:
    name = _unique()
    _copy(pair, name)
    _killed(cli_env, "after", "backtest", "delete", name, "--yes")
    [(_, _, intent)] = _events(env)
    deadline = time.monotonic() + 30
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        while run_leases.held_anywhere(conn, intent["lease"]):  # the server ends the killed session on its own
            assert time.monotonic() < deadline
            time.sleep(0.1)
    reruns = [
        subprocess.Popen(
            [sys.executable, "-m", "llmtrade", "backtest", *args], env=cli_env, stdout=subprocess.PIPE, text=True
        )
        for args in (["list", "--json"], ["list", "--json"], ["delete", name, "--yes"])
    ]
    for rerun in reruns:
        rerun.communicate(timeout=120)
    # The delete either settled it itself (exit 0, "an earlier delete") or found it settled by a list (exit 2).
    assert [r.returncode for r in reruns[:2]] == [0, 0] and reruns[2].returncode in (0, 2)
    assert [t for _, t, _ in _events(env)] == ["BacktestDeleting", "BacktestDeleted"]


def test_a_delete_killed_before_the_drop_is_recorded_abandoned_and_the_backtest_listed_as_it_is(
    pair: Pair, env: dict[str, str], cli_env: dict[str, str]
) -> None:
    name = _unique()
    _copy(pair, name)
    _killed(cli_env, "before", "backtest", "delete", name, "--yes")
    assert _exists(pair, name)
    events = _settled_by_list(env, "DeleteAbandoned")
    assert [t for _, t, _ in events] == ["BacktestDeleting", "DeleteAbandoned"]
    assert events[1][2]["intent"] == events[0][0] and "still there" in events[1][2]["reason"]
    listed = runner.invoke(cli, ["backtest", "list", "--json"], env=env)
    [row] = [b for b in json.loads(listed.stdout)["backtests"] if b["name"] == name]
    assert row["status"] == "finished"
    # The user's rerun deletes it, under an intent of its own.
    again = runner.invoke(cli, ["backtest", "delete", name, "--yes", "--json"], env=env)
    assert again.exit_code == 0, again.output
    events = _events(env)
    assert [t for _, t, _ in events] == [
        "BacktestDeleting",
        "DeleteAbandoned",
        "BacktestDeleting",
        "BacktestDeleted",
    ]
    assert events[3][2]["intent"] == events[2][0] and not events[3][2]["completed_later"]
    assert json.loads(again.stdout)["event_id"] == events[3][0] and not _exists(pair, name)


def test_a_rerun_of_the_killed_delete_says_it_was_deleted_and_records_it(
    pair: Pair, env: dict[str, str], cli_env: dict[str, str]
) -> None:
    name = _unique()
    _copy(pair, name)
    _killed(cli_env, "after", "backtest", "delete", name, "--yes")
    deadline = time.monotonic() + 30
    rerun = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
    while rerun.exit_code == 75 and time.monotonic() < deadline:  # the killed one's lease not yet given back
        time.sleep(0.2)
        rerun = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
    assert rerun.exit_code == 0, rerun.output
    assert "an earlier delete" in rerun.stdout
    assert [t for _, t, _ in _events(env)] == ["BacktestDeleting", "BacktestDeleted"]


def test_no_intent_written_no_drop(pair: Pair, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The live books not answering when the intent is to be written: nothing is dropped (exit 75)."""
    from llmtrade.storage.event_store import EventStore

    name = _unique()
    _copy(pair, name)
    appending = EventStore.append

    def lost(self: EventStore, events: Any, *args: Any, **kwargs: Any) -> Any:
        if any(e.stream == "backtests-deleted" for e in events):
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return appending(self, events, *args, **kwargs)

    monkeypatch.setattr(EventStore, "append", lost)
    result = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
    assert result.exit_code == 75, result.output
    assert "nothing was deleted" in result.stderr and _exists(pair, name)


def test_a_sweep_delete_killed_after_its_records_drop_is_recorded_by_the_next_list(
    pair: Pair, env: dict[str, str], cli_env: dict[str, str]
) -> None:
    sweep, runs = _sweep(pair)
    _killed(cli_env, "after:3", "backtest", "delete", sweep, "--sweep", "--yes")
    assert not any(_exists(pair, r) for r in runs) and not _sweep_exists(pair, sweep)
    events = _settled_by_list(env, "SweepDeleted")
    runs_then_record = ["BacktestDeleting", "BacktestDeleted"] * 2 + ["SweepDeleting", "SweepDeleted"]
    assert [t for _, t, _ in events] == runs_then_record
    assert events[5][2]["intent"] == events[4][0] and events[5][2]["completed_later"]
    assert all(events[i][2]["sweep"] == sweep for i in (0, 2))


def test_an_old_backtest_deleted_without_an_intent_still_reads() -> None:
    from datetime import UTC, datetime

    old = StoredEvent(
        id=1,
        type="BacktestDeleted",
        stream="backtests-deleted",
        version=1,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        schema_version=1,
        payload={"name": "a", "database": "llmtrade_bt_a", "status": "finished", "folders": [], "dropped": True},
    )
    read = BacktestDeleted.from_event(old)
    assert read.intent is None and not read.completed_later


def test_a_settler_that_read_the_intent_before_another_recorded_its_outcome_records_nothing(
    pair: Pair, env: dict[str, str], cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two commands settling at once: the second read the intent as unsettled before the first recorded its outcome,
    and takes its lease after the first gave it back. It looks for the outcome again holding the lease."""
    from llmtrade.app import backtest_deletions
    from llmtrade.settings import Settings
    from llmtrade.storage.database import locate

    name = _unique()
    _copy(pair, name)
    _killed(cli_env, "after", "backtest", "delete", name, "--yes")
    settings = Settings(DATABASE_URL=env["DATABASE_URL"])
    location = locate(settings)
    with backtest_deletions.live_books(settings, None) as storage:
        stale = backtest_deletions._unsettled(storage.conn, storage)
        assert len(stale) == 1
    _settled_by_list(env, "BacktestDeleted")
    monkeypatch.setattr(backtest_deletions, "_unsettled", lambda conn, storage: stale)
    with backtest_deletions.live_books(settings, None) as storage:
        assert backtest_deletions.settle(storage, location) == []
    assert [t for _, t, _ in _events(env)] == ["BacktestDeleting", "BacktestDeleted"]
