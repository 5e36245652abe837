"""A second `backtest sweep` of a sweep name still running is refused at its start (exit 75), naming who runs it.

It ran beside the first: it took the runs the first had not begun, met "in use" on the one the first was running,
recorded it failed in the shared record, and both sweeps exited 75 part-way through.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.config.loader import load_config
from llmtrade.domain import streams
from llmtrade.settings import Settings
from llmtrade.storage.database import connect
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


@pytest.fixture
def settings(pg_admin_url: str, tmp_path: Path) -> Settings:
    database = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    head, _, query = pg_admin_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")
    return Settings(DATABASE_URL=url, LLMTRADE_HOME=str(tmp_path / "home"))


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
            release.wait(60)  # the first sweep is in its first run while the second starts
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
        assert inside.wait(60)
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
