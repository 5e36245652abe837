"""A run that stops on a failure it cannot record (its database lost mid-run: the connection ended by the server) said
it and exited 75, yet the next run recorded it as RunKilled, "killed without warning", alerted as a kill. It now
leaves that end in the home (app/unrecorded_ends.py) and the next run records it as the run's RunFailed, exit 75.
A real SIGKILL of the process is still RunKilled (tests/test_killed_runs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app import inquiries
from llmtrade.cli import app
from tests.support import stored_events

runner = CliRunner()


def _connections_ended_after_start(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The council's run loses its database once its start (and lease) is stored: the server ends its sessions, as
    a server killed or restarted does, while the test's other databases and the session's server stay up."""
    started = inquiries.start_run

    def then_lost(*args, **kwargs):
        run = started(*args, **kwargs)
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        return run

    monkeypatch.setattr(inquiries, "start_run", then_lost)


def test_a_run_that_lost_its_database_is_recorded_failed_by_the_next_run_not_killed(
    cli_env: dict[str, str], clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    with monkeypatch.context() as lost:
        _connections_ended_after_start(url, lost)
        first = runner.invoke(app, ["-q", "council", "--offline", "is the trend up?"])
    assert first.exit_code == 75, first.output
    assert "Traceback" not in first.output
    [started] = stored_events(url, type="RunStarted")
    assert not stored_events(url, run_id=started.run_id, type=["RunFinished", "RunFailed", "RunKilled"])

    second = runner.invoke(app, ["-q", "council", "--offline", "is the trend still up?"])
    assert second.exit_code == 0, second.output
    finder = stored_events(url, type="RunStarted")[-1].run_id

    assert not stored_events(url, type="RunKilled")
    [failed] = stored_events(url, run_id=started.run_id, type="RunFailed")
    assert failed.payload["exit_code"] == 75 and failed.payload["command"] == "council"
    assert "its end could not be stored" in failed.payload["error"]
    assert f"recorded by run {finder}" in failed.payload["error"]
    assert not list((clean_environment / "runs" / "unrecorded").glob("*"))  # read once, then gone

    shown = runner.invoke(app, ["status", "--offline", "--json"])
    assert shown.exit_code == 0, shown.output
    assert "killed" not in shown.stdout


def test_status_shows_a_run_that_lost_its_database_as_failed_before_the_next_run_records_it(
    cli_env: dict[str, str], clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as lost:
        _connections_ended_after_start(cli_env["DATABASE_URL"], lost)
        assert runner.invoke(app, ["-q", "council", "--offline", "is the trend up?"]).exit_code == 75
    # No run since: its end is only in the home. Before, status said it was killed ("the next job records it as
    # RunKilled"), while it had said its failure and exit 75, and the next run records that as its RunFailed.
    shown = runner.invoke(app, ["status", "--offline", "--json"])
    assert shown.exit_code == 0, shown.output
    council = json.loads(shown.stdout)["last_runs"]["council"]
    assert council["outcome"] == "failed", council
    assert "exit 75" in council["error"] and "not recorded yet, the next run records it" in council["error"]
    assert len(list((clean_environment / "runs" / "unrecorded").glob("*.json"))) == 1  # status records nothing
