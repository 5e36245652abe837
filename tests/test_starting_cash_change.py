"""An account's starting_cash changed in accounts.yaml after the books began is refused by every job and said by the
commands that read, never folded into its history.

A trial changed acct_1's starting_cash from 100,000 to 50,000 after two weeks: status showed a week P/L of -50,100.94,
and the next weekly run's circuit breaker halted acct_1 (drawdown 50.1% from its peak of 100,052.66), a loss no price
made, while the leaderboard ranked its whole history from the new cash.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events

runner = CliRunner()


def _with_cash(folder: Path, cash: int) -> Path:
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    accounts = folder / "accounts.yaml"
    old = "{id: acct_1, name: GPT-5.1 PM, role: pm, "
    assert old in accounts.read_text()
    accounts.write_text(accounts.read_text().replace(old, f"{old}starting_cash: {cash}, "))
    return folder


def test_a_starting_cash_changed_under_an_accounts_books_is_refused_and_said(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # the week's run values every account at 100,000
    config = str(_with_cash(tmp_path / "config", 50_000))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
    runs = len(stored_events(wednesday_week, type="RunStarted"))
    woke = runner.invoke(app, ["--config", config, "-q", "run-due"])
    assert woke.exit_code == 2, woke.output
    assert "accounts.yaml: accounts[0].starting_cash: acct_1 began with 100,000.00" in woke.stderr, woke.stderr
    assert len(stored_events(wednesday_week, type="RunStarted")) == runs  # nothing ran on the rewritten books
    [rejected] = stored_events(wednesday_week, type="ConfigRejected")
    assert "accounts[0].starting_cash" in rejected.payload["error"]
    shown = runner.invoke(app, ["--config", config, "status", "--json"])
    assert shown.exit_code == 0, shown.output
    assert [w for w in json.loads(shown.stdout)["warnings"] if "acct_1 began with 100,000.00" in w]
    board = runner.invoke(app, ["--config", config, "leaderboard", "--live", "--json"])
    assert [n for n in json.loads(board.stdout)["notes"] if "acct_1 began with 100,000.00" in n], board.output
    # Put back, the jobs run again; an account not valued yet starts with whatever accounts.yaml gives it.
    assert runner.invoke(app, ["--config", str(_with_cash(tmp_path / "same", 100_000)), "-q", "run-due"]).exit_code == 0
