"""`config validate` runs the checks every job runs against the books before it runs, so a change it calls OK is one the
jobs take.

A new user's trial added `starting_cash: 1000000` to acct_1 after its first week: `config validate` said
"configuration OK", then every `run-due` exited 2 (`accounts[0].starting_cash: acct_1 began with 100,000.00 ...`).
And `status` showed acct_1 with a week P/L of +899,978.46 beside a total of 0.0%, its own note saying the figures
count from 1,000,000.00: the week's start valuation was the books' (from 100,000), its equity now from the new cash.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events
from tests.test_starting_cash_change import _with_cash  # a config folder with acct_1's starting cash set

runner = CliRunner()


def _acct_1(shown: str) -> dict:
    return next(a for a in json.loads(shown)["accounts"] if a["account_id"] == "acct_1")


def test_validate_refuses_a_starting_cash_the_jobs_refuse_with_their_message(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # the week's run values every account at 100,000
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
    before = runner.invoke(app, ["status", "--json"])
    assert before.exit_code == 0, before.output
    config = str(_with_cash(tmp_path / "config", 1_000_000))
    checked = runner.invoke(app, ["--config", config, "-q", "config", "validate"])
    woke = runner.invoke(app, ["--config", config, "-q", "run-due"])
    assert woke.exit_code == 2, woke.output
    assert checked.exit_code == 2, checked.output
    assert "configuration OK" not in checked.output
    said = "accounts.yaml: accounts[0].starting_cash: acct_1 began with 100,000.00"
    assert said in checked.stderr and said in woke.stderr, (checked.stderr, woke.stderr)
    assert checked.stderr.strip().splitlines()[-1] == woke.stderr.strip().splitlines()[-1]  # the same words
    assert len(stored_events(wednesday_week, type="ConfigRejected")) == 1  # run-due's; validate records nothing
    # status says the change and counts every figure from the new cash, the week's P/L too (not +899,000).
    shown = runner.invoke(app, ["--config", config, "status", "--json"])
    assert shown.exit_code == 0, shown.output
    was, now = _acct_1(before.stdout), _acct_1(shown.stdout)
    assert now["equity"] == pytest.approx(was["equity"] + 900_000, abs=0.01)
    assert now["week_pnl"] == pytest.approx(was["week_pnl"], abs=0.01), (was, now)
    # Put back, validate says OK again.
    same = str(_with_cash(tmp_path / "same", 100_000))
    assert runner.invoke(app, ["--config", same, "config", "validate"]).exit_code == 0


def test_validate_says_the_books_checks_were_not_run_when_the_database_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://llmtrade@127.0.0.1:1/nowhere")  # nothing listens on port 1
    checked = runner.invoke(app, ["--config", str(_with_cash(tmp_path / "config", 1_000_000)), "config", "validate"])
    assert checked.exit_code == 0, checked.output  # the files are right: only the books could not be asked
    assert "configuration OK" in checked.stdout
    assert "not checked against the books" in checked.output, checked.output
    assert "cannot connect to the database" in checked.output, checked.output


def test_validate_on_a_home_with_no_books_yet_starts_no_database(tmp_path: Path) -> None:
    checked = runner.invoke(app, ["--config", str(_with_cash(tmp_path / "config", 1_000_000)), "config", "validate"])
    assert checked.exit_code == 0, checked.output
    assert "no books yet" in checked.output, checked.output
    assert not (tmp_path / "home" / "pgdata").exists()
