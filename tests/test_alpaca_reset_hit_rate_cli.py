"""`status`'s hit rate of an Alpaca paper account reset from the dashboard, through the command line (the real
alpaca-py client against the loopback fake). Alpaca lists no order from before the reset: before, `status` counted
only the round trips it still listed (a trade closed before the reset vanished from the hit rate and the trade count),
where the leaderboard's curve counts llmtrade's own recorded fills across the reset."""

from __future__ import annotations

import json
from datetime import datetime

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
THURSDAY_NOON = "2026-01-08T12:00:00-05:00"


def _invoke(runs: Runs, args: list[str], at: str) -> str:  # noqa: F811
    runs.monkeypatch.setenv("LLMTRADE_NOW", at)
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    return done.stdout


def _acct_1(runs: Runs, at: str) -> dict:  # noqa: F811
    shown = json.loads(_invoke(runs, ["status", "--json"], at))
    return {a["account_id"]: a for a in shown["accounts"]}[ALPACA_ACCOUNT]


def test_a_trade_closed_before_a_reset_stays_in_status_hit_rate(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    state = alpaca.snapshot()
    primed = runs.primed()
    alpaca.restore(state)
    name = runs.fresh(primed)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))
    _invoke(runs, ["run-weekly"], OPENED)  # acct_1 buys SPY at Alpaca
    bought = [
        e["fill"] for _, t, e in runs.events(name) if t == "OrderFilled" and e["fill"]["account_id"] == ALPACA_ACCOUNT
    ]
    [buy] = bought
    alpaca.server.set_price("SPY", buy["price"] * 0.95)
    alpaca.server.set_time(datetime.fromisoformat(MIDDAY))
    _invoke(runs, ["checkpoint", "12:00"], MIDDAY)  # its SPY closed at a loss
    sold = [
        e["fill"] for _, t, e in runs.events(name) if t == "OrderFilled" and e["fill"]["account_id"] == ALPACA_ACCOUNT
    ]
    assert [f["side"] for f in sold][:2] == ["buy", "sell"], sold
    before = _acct_1(runs, MIDDAY)
    assert before["trades"] >= 1 and before["hit_rate"] is not None, before

    alpaca.server.reset_paper_account(25_000.0)
    _invoke(runs, ["checkpoint", "12:00"], THURSDAY_NOON)
    after = _acct_1(runs, THURSDAY_NOON)

    assert (after["trades"], after["hit_rate"]) == (before["trades"], before["hit_rate"])
