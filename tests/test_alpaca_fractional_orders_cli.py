"""An order placed by hand at Alpaca in dollars or in a fraction of a share, through the command line (the real
alpaca-py client against the loopback fake): Alpaca's web page offers both for a fractionable asset, and a market DAY
order so placed at night waits for the open. Alpaca writes a notional order with no qty at all ("qty": null,
"notional": "500") and a fractional one as "0.5". Before, every look at the account's open orders refused such an order
("alpaca sent order ... without a whole share quantity"): every job of the account exited 1 while it stayed open."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.fakes.by_hand import trade_by_hand
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    MIDDAY,
    WEEKLY,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)

runner = CliRunner()


@pytest.mark.parametrize(
    ("qty", "notional", "said"),
    [(None, 500.0, "buy $500.00 of QQQ"), (0.5, None, "buy 0.5 QQQ"), (2.25, None, "buy 2.25 QQQ")],
)
def test_an_open_order_by_hand_in_dollars_or_a_fraction_is_a_difference_not_a_failed_job(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
    qty: float | None,
    notional: float | None,
    said: str,
) -> None:
    name = runs.fresh_beside(alpaca)
    by_hand = trade_by_hand(alpaca.server, "QQQ", qty, notional=notional)  # queued for the open, by hand
    runs.monkeypatch.setenv("LLMTRADE_NOW", WEEKLY)
    done = runner.invoke(app, ["run-weekly"])
    assert done.exit_code == 0, done.output

    found = [
        e["difference"]
        for _, t, e in runs.events(name)
        if t == "ReconciliationDifferenceFound" and e["account_id"] == ALPACA_ACCOUNT
    ]
    [order] = [d for d in found if d["client_order_id"] == by_hand]
    assert order["kind"] == "unknown_order"
    assert f"open order {said} not sent by llmtrade" in order["detail"]
    assert alpaca.submitted[f"lt-20260107-{ALPACA_ACCOUNT}-SPY-open"] == 1  # the week's own order went, once

    alpaca.server.fill_open_orders()  # the open: the order by hand fills in a fraction of a share
    runs.invoke(["checkpoint", "12:00"], MIDDAY)  # exits 0: the fraction held is a difference too, not a failure
    found = [e["difference"] for _, t, e in runs.events(name) if t == "ReconciliationDifferenceFound"]
    assert any(d["kind"] == "fractional_shares" and d["symbol"] == "QQQ" for d in found), found
