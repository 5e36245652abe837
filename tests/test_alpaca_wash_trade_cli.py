"""An Alpaca order refused as a potential wash trade, through the command line (the real alpaca-py client against the
loopback fake): the user left an order of their own on the other side of the symbol in Alpaca's dashboard, and Alpaca
refuses any order of the account that could fill against it (403 "potential wash trade detected. use complex
orders"). Before, the run said only Alpaca's words, which name neither the order in the way nor what to do."""

from __future__ import annotations

from typer.testing import CliRunner

from llmtrade.cli import app
from tests.fakes.by_hand import trade_by_hand
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    WEEKLY,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)

runner = CliRunner()


def test_a_wash_trade_refusal_names_the_order_in_the_way_and_what_to_do(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    state = alpaca.snapshot()
    primed = runs.primed()
    alpaca.restore(state)
    name = runs.fresh(primed)
    alpaca.server.set_position("SPY", 10, 400.0)  # bought by hand
    by_hand = trade_by_hand(alpaca.server, "SPY", 10, side="sell")  # queued for the open, by hand
    runs.monkeypatch.setenv("LLMTRADE_NOW", WEEKLY)
    done = runner.invoke(app, ["run-weekly"])
    assert done.exit_code == 0, done.output  # the week goes on, degraded: a rerun or a checkpoint retries it

    [rejected] = [
        e for _, t, e in runs.events(name) if t == "OrderRejected" and e["order"]["account_id"] == ALPACA_ACCOUNT
    ]
    reason = rejected["reason"]
    assert "potential wash trade detected" in reason  # Alpaca's words, kept
    assert f"sell 10 SPY ({by_hand}, by hand) is open" in reason
    assert "cancel it in Alpaca's dashboard or let it fill" in reason
    assert f"sell 10 SPY ({by_hand}, by hand) is open" in done.stderr  # said by the run, as recorded
    assert alpaca.submitted[f"lt-20260107-{ALPACA_ACCOUNT}-SPY-open"] == 1  # sent once, refused: not resent blindly
