"""An account taken out of accounts.yaml while it holds a position is said by run-due, once a day, under -q: an
operator's trial removed acct_4 (and its PM) mid-week holding a short; every wake-up exited 0 without a word and the
short stayed open for good, no checkpoint judging it and no roll closing it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events

runner = CliRunner()


def _without_acct_4(folder: Path) -> Path:
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    accounts, models = folder / "accounts.yaml", folder / "models.yaml"
    accounts.write_text("\n".join(line for line in accounts.read_text().splitlines() if "id: acct_4" not in line))
    models.write_text("\n".join(line for line in models.read_text().splitlines() if "account: acct_4" not in line))
    return folder


def test_a_removed_account_still_holding_is_said_once_a_day(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # the week's run
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T10:01:00-05:00")
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # its orders filled at the open, recorded now
    held = {
        e.payload["fill"]["symbol"]
        for e in stored_events(wednesday_week, type="OrderFilled")
        if e.payload["fill"]["account_id"] == "acct_4"
    }
    assert held, "acct_4 bought nothing: the test proves nothing"
    config = _without_acct_4(tmp_path / "config")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
    woke = runner.invoke(app, ["--config", str(config), "-q", "run-due"])
    assert woke.exit_code == 0, woke.output
    [line] = [s for s in woke.stderr.splitlines() if s.startswith("acct_4 ")]
    assert f"acct_4 is not in accounts.yaml but its books hold {held.pop()} " in line and "close the position" in line
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:01:00-05:00")
    again = runner.invoke(app, ["--config", str(config), "-q", "run-due"])
    assert "acct_4" not in again.output  # said once a day
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T09:01:00-05:00")
    assert "acct_4 is not in accounts.yaml" in runner.invoke(app, ["--config", str(config), "-q", "run-due"]).stderr
    # With the account back, nothing is said.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T09:01:00-05:00")
    assert "acct_4 is not in accounts.yaml" not in runner.invoke(app, ["-q", "run-due"]).output
