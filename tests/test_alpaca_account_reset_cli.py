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


def _status() -> dict:
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    return {a["account_id"]: a for a in json.loads(shown.stdout)["accounts"]}[ALPACA_ACCOUNT]


def test_a_reset_between_the_weekly_run_and_a_checkpoint_is_no_return_and_no_halt(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    state = alpaca.snapshot()
    primed = runs.primed()
    alpaca.restore(state)
    name = runs.fresh(primed)
    alpaca.server.fill_immediately = True
    runs.monkeypatch.setenv("LLMTRADE_NOW", OPENED)
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0  # acct_1 buys at Alpaca, filled at once
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
