"""A dry run places nothing, so orders queued at the broker do not hold it back.

A user's trial: with this week's orders placed before the open (queued for 09:30), `run-weekly --week <last week>
--dry-run` exited 75 ("still has orders queued ... run again after they fill"): the risk gate's wait, which keeps a
real run from sizing against positions the queued orders are about to change (and doubling them), was applied to a
run that sends nothing. The dry run now goes on and says, per account, that it sized from the positions before they
fill; the real run still waits (exit 75)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import WEDNESDAY_8AM, stored_events

runner = CliRunner()
LAST_WEEK = "2025-12-31"


def test_a_dry_run_of_last_week_while_this_weeks_orders_are_queued_runs_and_says_so(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)  # before the open: this week's orders queue for 09:30
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    queued = {e.payload["order"]["client_order_id"] for e in stored_events(url, type="OrderSubmitted")}
    assert queued

    result = runner.invoke(app, ["-q", "run-weekly", "--week", LAST_WEEK, "--dry-run", "--offline", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and str(report["week_id"]) == LAST_WEEK and report["orders"]
    said = [line for line in result.stderr.splitlines() if "has orders queued" in line]
    assert said and all("this dry run sized it from the positions held now, before they fill" in s for s in said)
    assert {cid for cid in queued if any(cid in s for s in said)} == queued  # every queued order named
    assert report["queued"] == said  # and in --json, for a reader of the result alone
    assert len(stored_events(url, type="OrderSubmitted")) == len(queued)  # the dry run placed nothing
    assert not stored_events(url, week_id=date.fromisoformat(LAST_WEEK))  # nor recorded anything of that week


def test_a_real_run_stopped_by_queued_orders_names_every_account_and_its_orders(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: the real run's exit 75 named only the first account with orders queued, so a user who cancelled that
    account's order met the next account's at the next run. It names every account and its orders, in one line, with
    --json as without (exit 75, nothing on stdout); run-due's wait names them by account too."""
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T20:33:00-05:00")  # Tuesday evening: the orders queue for the open
    late = runner.invoke(app, ["-q", "run-weekly", "--offline", "--json"])
    assert late.exit_code == 0, late.output
    queued = [o["client_order_id"] for o in json.loads(late.stdout)["orders"] if o["detail"].startswith("queued for")]
    accounts = {cid.split("-")[2] for cid in queued}
    assert len(accounts) > 1

    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")  # Wednesday, before the open
    for json_flag in ([], ["--json"]):
        result = runner.invoke(app, ["-q", "run-weekly", "--offline", *json_flag])
        assert result.exit_code == 75, result.output
        assert result.stdout == ""
        [line] = [s for s in result.stderr.splitlines() if "orders queued" in s]
        for cid in queued:
            account = cid.split("-")[2]
            assert f"account {account} still has orders queued (" in line and cid in line, line
        assert line.endswith(
            "they fill at the open (one sent in session on daily prices only: at the session's close); "
            "run again after they fill"
        )

    wake = runner.invoke(app, ["run-due"])
    assert wake.exit_code == 0, wake.output
    [said] = [s for s in wake.output.splitlines() if "waits for the open" in s]
    for cid in queued:
        assert f"account {cid.split('-')[2]}: " in said and cid in said, said
