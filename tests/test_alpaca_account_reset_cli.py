"""A paper account reset at Alpaca between a weekly run and a checkpoint, through the command line (the real
alpaca-py client against the loopback fake): the checkpoint records it and does not halt the account, and `status`
does not show the new balance as the account's return."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    MIDDAY,
    OPENED,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)

runner = CliRunner()


def _bought_at_alpaca(runs: Runs, alpaca: CountingAlpaca) -> str:  # noqa: F811
    """A fresh database whose week ran at the open: acct_1 bought at Alpaca, filled at once. Its database's name."""
    name = runs.fresh_beside(alpaca)
    alpaca.server.fill_immediately = True
    runs.monkeypatch.setenv("LLMTRADE_NOW", OPENED)
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0  # acct_1 buys at Alpaca, filled at once
    return name


def _status() -> dict:
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    return {a["account_id"]: a for a in json.loads(shown.stdout)["accounts"]}[ALPACA_ACCOUNT]


def test_a_reset_between_the_weekly_run_and_a_checkpoint_is_no_return_and_no_halt(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    name = _bought_at_alpaca(runs, alpaca)
    before = _status()["total_return"]

    alpaca.server.reset_paper_account(25_000.0)
    runs.monkeypatch.setenv("LLMTRADE_NOW", MIDDAY)
    checkpoint = runner.invoke(app, ["checkpoint", "12:00"])
    assert checkpoint.exit_code == 0, checkpoint.output

    types = [t for _, t, e in runs.events(name) if e.get("account_id") == ALPACA_ACCOUNT]
    assert "AccountHalted" not in types and types.count("BrokerAccountReset") == 1
    after = _status()
    assert not after["halted"]
    assert abs(after["total_return"] - before) < 0.01, (before, after["total_return"])  # not -75%


def test_a_reset_over_the_weekend_is_not_the_weeks_result_in_its_postmortem(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """Reset after the week's last close, before its postmortem: before, the postmortem took the new balance for the
    week's end (acct_1: -55% for the week, into week_summaries and the memory); now the week ends as its own fills
    made it, at the week's closes, as the same week of an account not reset (acct_5, SPY too)."""
    name = _bought_at_alpaca(runs, alpaca)
    alpaca.server.reset_paper_account(25_000.0)
    runs.monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T07:00:00-05:00")
    done = runner.invoke(app, ["postmortem", "--json"])
    assert done.exit_code == 0, done.output

    written = [e["postmortem"] for _, t, e in runs.events(name) if t == "PostmortemWritten"]
    by = {p["account_id"]: p for p in written}
    assert by[ALPACA_ACCOUNT]["week_return"] > -0.05, by[ALPACA_ACCOUNT]["week_return"]  # not the reset's -75%
    # The same week long SPY as acct_5 (paper): a return of the same sign and size, not a loss of the reset.
    assert abs(by[ALPACA_ACCOUNT]["week_return"] - by["acct_5"]["week_return"]) < 0.01
