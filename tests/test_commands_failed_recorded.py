"""A job command that loses its database outside any run (run-due reading what is due, or between its jobs; the
database not answering at all) exits 75, and the next job command records that it failed (CommandFailed), with when
and why: before, nothing on record said the wake-up had failed (the next one redid the work, a soak's finding). A
database lost inside a run is its run's RunFailed (app/unrecorded_ends.py), not recorded twice."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app import jobs
from llmtrade.cli import app
from tests.support import stored_events

runner = CliRunner()

# The README's cron line as a process whose database stops taking connections just as run-due reads what is due: the
# server itself refuses (ALLOW_CONNECTIONS false, every session of it ended), as a server restarting or gone does.
_LOST_READING_WHAT_IS_DUE = """
import sys
import psycopg
from llmtrade.app import due_run

ADMIN, NAME = sys.argv[1], sys.argv[2]
listed = due_run.due


def due(app):
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{NAME}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = %s", (NAME,)
        )
    return listed(app)


due_run.due = due
sys.argv = ["llmtrade", *sys.argv[3:]]
from llmtrade.entry import main
main()
"""


def _allow(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_run_due_that_lost_its_database_reading_what_is_due_is_recorded_by_the_next_wake_up(
    cli_env: dict[str, str], pg_admin_url: str, tmp_path: Path
) -> None:
    url = cli_env["DATABASE_URL"]
    name = url.partition("?")[0].rsplit("/", 1)[1]
    home = Path(cli_env["LLMTRADE_HOME"])
    env = {**cli_env, "LLMTRADE_NOW": "2026-01-13T20:00:00-05:00"}  # Tuesday evening: nothing due, the week unrun
    launcher = tmp_path / "lost_reading_what_is_due.py"
    launcher.write_text(_LOST_READING_WHAT_IS_DUE)
    try:
        lost = subprocess.run(
            [sys.executable, str(launcher), pg_admin_url, name, "-q", "run-due", "--offline"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        _allow(pg_admin_url, name)
    assert lost.returncode == 75, lost.stderr
    assert "Traceback" not in lost.stderr
    assert stored_events(url, type="CommandFailed") == []  # it could store nothing then
    assert stored_events(url, type="RunStarted") == []  # outside any run: no RunFailed will say it either

    woken = subprocess.run(
        [sys.executable, "-m", "llmtrade", "-q", "run-due", "--offline"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert (woken.returncode, woken.stdout, woken.stderr) == (0, "", ""), woken.stderr
    [failed] = stored_events(url, type="CommandFailed")
    payload = failed.payload
    assert (payload["command"], payload["exit_code"]) == ("run-due", 75)
    assert datetime.fromisoformat(payload["failed_at"]) == datetime.fromisoformat("2026-01-13T20:00:00-05:00")
    assert "database" in payload["error"].lower() and payload["error_type"]
    assert not list((home / "runs" / "unrecorded-commands").glob("*"))  # recorded once, then gone

    again = runner.invoke(app, ["-q", "run-due", "--offline"], env={"LLMTRADE_NOW": env["LLMTRADE_NOW"]})
    assert again.exit_code == 0, again.output
    assert len(stored_events(url, type="CommandFailed")) == 1


def test_a_database_lost_inside_a_run_is_its_runs_failure_not_also_a_command_failure(
    cli_env: dict[str, str], clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    started = jobs.start_run

    def then_lost(*args, **kwargs):  # type: ignore[no-untyped-def]
        run = started(*args, **kwargs)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        return run

    with monkeypatch.context() as lost:
        lost.setattr(jobs, "start_run", then_lost)
        first = runner.invoke(app, ["-q", "run-weekly", "--offline"])
    assert first.exit_code == 75, first.output
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    [started_run] = [e for e in stored_events(url, type="RunStarted")][:1]
    assert stored_events(url, run_id=started_run.run_id, type="RunFailed")  # the run says it
    assert stored_events(url, type="CommandFailed") == []
    assert not (clean_environment / "runs" / "unrecorded-commands").exists()
