"""`status`'s hit rate of an Alpaca paper account reset from the dashboard, through the command line (the real
alpaca-py client against the loopback fake). Alpaca lists no order from before the reset: before, `status` counted
only the round trips it still listed (a trade closed before the reset vanished from the hit rate and the trade count),
where the leaderboard's curve counts llmtrade's own recorded fills across the reset."""

from __future__ import annotations

from datetime import datetime

from typer.testing import CliRunner

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


def test_a_trade_closed_before_a_reset_stays_in_status_hit_rate(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    name = runs.fresh_beside(alpaca)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))
    runs.invoke(["run-weekly"], OPENED)  # acct_1 buys SPY at Alpaca
    bought = [
        e["fill"] for _, t, e in runs.events(name) if t == "OrderFilled" and e["fill"]["account_id"] == ALPACA_ACCOUNT
    ]
    [buy] = bought
    alpaca.server.set_price("SPY", buy["price"] * 0.95)
    alpaca.server.set_time(datetime.fromisoformat(MIDDAY))
    runs.invoke(["checkpoint", "12:00"], MIDDAY)  # its SPY closed at a loss
    sold = [
        e["fill"] for _, t, e in runs.events(name) if t == "OrderFilled" and e["fill"]["account_id"] == ALPACA_ACCOUNT
    ]
    assert [f["side"] for f in sold][:2] == ["buy", "sell"], sold
    before = runs.account_shown(ALPACA_ACCOUNT, MIDDAY)
    assert before["trades"] >= 1 and before["hit_rate"] is not None, before

    alpaca.server.reset_paper_account(25_000.0)
    runs.invoke(["checkpoint", "12:00"], THURSDAY_NOON)
    after = runs.account_shown(ALPACA_ACCOUNT, THURSDAY_NOON)

    assert (after["trades"], after["hit_rate"]) == (before["trades"], before["hit_rate"])
