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


def test_an_options_spread_by_hand_open_then_filled_is_its_legs_not_a_failed_job(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """A multi-leg options order (paper accounts trade options; Alpaca's web page places spreads) has no symbol and no
    side of its own, only its legs do: a look at the account's orders or fills failed on it ('None' is not a valid
    Side), every job of the account with it."""
    name = runs.fresh_beside(alpaca)
    spread = [("SPY260116C00600000", "buy", 1), ("SPY260116C00610000", "sell", 1)]
    alpaca.server.add_multi_leg_order(spread, qty=2)  # open, by hand
    runs.monkeypatch.setenv("LLMTRADE_NOW", WEEKLY)
    done = runner.invoke(app, ["run-weekly"])
    assert done.exit_code == 0, done.output
    found = [e["difference"] for _, t, e in runs.events(name) if t == "ReconciliationDifferenceFound"]
    assert {(d["kind"], d["symbol"]) for d in found} >= {
        ("unknown_order", "SPY260116C00600000"),
        ("unknown_order", "SPY260116C00610000"),
    }, found
    [bought] = [d for d in found if d["symbol"] == "SPY260116C00600000"]
    assert "open order buy 2 SPY260116C00600000 not sent by llmtrade" in bought["detail"]

    alpaca.server.add_multi_leg_order(spread, filled={"SPY260116C00600000": 5.0, "SPY260116C00610000": 3.0})
    runs.invoke(["checkpoint", "12:00"], MIDDAY)  # exits 0: the spread's fills are its legs'
    found = [e["difference"] for _, t, e in runs.events(name) if t == "ReconciliationDifferenceFound"]
    assert {(d["kind"], d["symbol"]) for d in found} >= {
        ("unknown_fill", "SPY260116C00600000"),
        ("unknown_fill", "SPY260116C00610000"),
    }, found
