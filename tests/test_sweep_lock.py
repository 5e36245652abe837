"""A second `backtest sweep` of a sweep name still running is refused at its start (exit 75), naming who runs it.

It ran beside the first: it took the runs the first had not begun, met "in use" on the one the first was running,
recorded it failed in the shared record, and both sweeps exited 75 part-way through.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app.backtest_lock import take
from llmtrade.cli import app as cli
from llmtrade.config.loader import load_config
from llmtrade.domain import streams
from llmtrade.settings import Settings
from llmtrade.storage.connection import connect
from llmtrade.storage.database import backtest_database
from llmtrade.sweep import work
from llmtrade.sweep.driver import SweepOptions, SweepResult, run_sweep, sweep_database

runner = CliRunner()
NAME = f"t{uuid.uuid4().hex[:8]}"
SWEEP = f"""
name: {NAME}
retries: 0
ranges:
  - {{from: 2026-01-07, to: 2026-01-14}}
overrides:
  base: {{}}
  tight: {{risk.limits.max_position_pct: 0.05}}
"""
# Each test's sweep has a name of its own: sweeps' records are databases of the session's one server.
OTHER = f"u{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(empty_database_url: str, tmp_path: Path) -> Settings:
    return Settings(DATABASE_URL=empty_database_url, LLMTRADE_HOME=str(tmp_path / "home"))


def _record(settings: Settings) -> list[str]:
    """The event types of the sweep's record, in order."""
    head, _, query = (settings.database_url or "").partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{sweep_database(NAME)}" + (f"?{query}" if query else "")
    with connect(url) as conn:
        rows = conn.execute("SELECT type FROM events WHERE stream = %s ORDER BY id", (streams.SWEEP,)).fetchall()
    return [row[0] for row in rows]


def test_a_second_sweep_of_a_running_name_is_refused_at_its_start_naming_the_process(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    inside, release = threading.Event(), threading.Event()
    real = work._backtest
    first_thread: list[threading.Thread] = []

    def backtest(plan: Any, shared: Any) -> Any:
        if threading.current_thread() in first_thread:
            inside.set()
            release.wait(300)  # the first sweep is in its first run while the second starts
        return real(plan, shared)

    monkeypatch.setattr(work, "_backtest", backtest)
    outcome: list[SweepResult | BaseException] = []

    def first() -> None:
        try:
            outcome.append(run_sweep(settings, load_config(None), None, path, SweepOptions()))
        except BaseException as exc:  # handed to the test's thread, which asserts on it
            outcome.append(exc)

    thread = threading.Thread(target=first)
    first_thread.append(thread)
    thread.start()
    try:
        assert inside.wait(300)
        second = runner.invoke(cli, ["backtest", "sweep", str(path)], env={"DATABASE_URL": settings.database_url or ""})
    finally:
        release.set()
        thread.join(120)
    assert second.exit_code == 75, second.output
    said = " ".join(second.output.split())
    assert f"sweep {NAME} is already running (pid {os.getpid()} on " in said
    assert "nothing was started or recorded" in said
    assert "then run this command again" in said
    assert "Traceback" not in second.output
    # The first sweep ran both its runs and is the only one the record knows.
    [result] = outcome
    assert isinstance(result, SweepResult), result
    assert [r.status for r in result.runs] == ["finished", "finished"]
    assert _record(settings) == ["SweepStarted", "SweepRunFinished", "SweepRunFinished"]


def _url(settings: Settings, database: str) -> str:
    head, _, query = (settings.database_url or "").partition("?")
    return f"{head.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")


def _page(settings: Settings, path: Path) -> str:
    written = runner.invoke(
        cli, ["report", "--sweep", OTHER, "-o", str(path)], env={"DATABASE_URL": settings.database_url or ""}
    )
    assert written.exit_code == 0, written.output
    return " ".join(re.sub(r"<[^>]+>", " ", path.read_text()).split())


def test_report_sweep_of_a_sweep_running_now_says_it_runs_not_that_its_run_stopped(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`report --sweep` while the sweep's first run is in its worker's hands (its backtest's lock held, both its weeks
    done, its result not recorded yet) said "stopped part-way: 2 of 2 weeks done; run the sweep again to resume it"
    and counted it stopped: a rerun then is refused, as the sweep runs. Now the page says the sweep runs (who, since
    when), that run is running and the other waits for it; once the sweep has ended, nothing of that is said."""
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP.replace(NAME, OTHER))
    inside, release = threading.Event(), threading.Event()
    real = work._backtest
    first_run: list[str] = []

    def backtest(plan: Any, shared: Any) -> Any:
        result = real(plan, shared)
        if not first_run:
            first_run.append(plan.backtest)
            # The worker still holds its backtest's books (app/backtest_lock.py) as it hands its result back.
            with connect(_url(settings, backtest_database(plan.backtest))) as conn:
                assert take(conn)
                inside.set()
                release.wait(300)
        return result

    monkeypatch.setattr(work, "_backtest", backtest)
    outcome: list[SweepResult | BaseException] = []

    def first() -> None:
        try:
            outcome.append(run_sweep(settings, load_config(None), None, path, SweepOptions()))
        except BaseException as exc:  # handed to the test's thread, which asserts on it
            outcome.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert inside.wait(300)
        during = _page(settings, tmp_path / "during.html")
    finally:
        release.set()
        thread.join(120)
    assert f"This sweep is running now (pid {os.getpid()} on " in during
    assert f"{first_run[0]} running: 2 of 2 weeks done" in during
    assert "to run: the sweep running now comes to it" in during
    assert "stopped part-way" not in during
    assert "run the sweep again" not in during
    assert "0 of the 2 runs finished (1 running now, 1 not run)" in during
    assert isinstance(outcome[0], SweepResult), outcome
    after = _page(settings, tmp_path / "after.html")
    assert "running" not in after
    assert after.count(" finished 0 ") == 2  # each run's status, then its failed attempts


def test_a_connection_lost_inside_the_lock_raises_the_sweeps_own_failure(empty_database_url: str) -> None:
    """The driver's connection lost mid-sweep (the server restarted, a network cut): the lock went with the session,
    and the failure raised is the sweep's, not the unlock's "terminating connection" in its place."""
    from llmtrade.sweep.lock import sweep_lock

    class SweepFailed(Exception):
        pass

    with (
        connect(empty_database_url) as conn,
        pytest.raises(SweepFailed, match="the sweep's own"),
        sweep_lock(conn, NAME),
        psycopg.connect(empty_database_url, autocommit=True) as other,
    ):
        other.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        raise SweepFailed("the sweep's own failure")
