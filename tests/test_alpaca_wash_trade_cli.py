"""An Alpaca order refused as a potential wash trade, through the command line (the real alpaca-py client against the
loopback fake): the user left an order of their own on the other side of the symbol in Alpaca's dashboard, and Alpaca
refuses any order of the account that could fill against it ("potential wash trade detected. use complex orders": 403
code 40310000 in most reports, 422 code 42210000 in others). Before, the run said only Alpaca's words, which name
neither the order in the way nor what to do."""

from __future__ import annotations

from datetime import date

import pytest
from typer.testing import CliRunner

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.cli import app
from llmtrade.domain.trading import Order, Side
from llmtrade.errors import BrokerRejected
from tests.fakes.alpaca_server import FakeAlpacaServer
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


@pytest.mark.parametrize("status", [403, 422])
def test_a_wash_trade_refusal_names_the_order_in_the_way_and_what_to_do(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
    status: int,
) -> None:
    name = runs.fresh_beside(alpaca)
    alpaca.server.wash_trade_status = status
    alpaca.server.set_position("SPY", 10, 400.0)  # bought by hand
    by_hand = trade_by_hand(alpaca.server, "SPY", 10, side="sell")  # queued for the open, by hand
    runs.monkeypatch.setenv("LLMTRADE_NOW", WEEKLY)
    done = runner.invoke(app, ["run-weekly"])
    assert done.exit_code == 0, done.output  # the week goes on, degraded: a rerun or a checkpoint retries it

    [rejected] = [
        e for _, t, e in runs.events(name) if t == "OrderRejected" and e["order"]["account_id"] == ALPACA_ACCOUNT
    ]
    reason = rejected["reason"]
    assert "potential wash trade detected" in reason and f"(HTTP {status})" in reason  # Alpaca's words, kept
    assert f"sell 10 SPY ({by_hand}, by hand) is open" in reason
    assert "cancel it in Alpaca's dashboard or let it fill" in reason
    assert f"sell 10 SPY ({by_hand}, by hand) is open" in done.stderr  # said by the run, as recorded
    assert alpaca.submitted[f"lt-20260107-{ALPACA_ACCOUNT}-SPY-open"] == 1  # sent once, refused: not resent blindly


@pytest.mark.parametrize("status", [403, 422])
def test_a_wash_trade_refusal_against_an_order_being_canceled_says_to_wait_for_its_cancel(status: int) -> None:
    """The breaker's cancel of a queued add sits in pending_cancel (still open at Alpaca) when a close of the same
    symbol is sent: refused as a wash trade. Asking the user to cancel an order whose cancel is under way misleads."""
    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        server.wash_trade_status = status
        server.set_price("SPY", 500.0)
        server.set_position("SPY", 100, 500.0)
        broker = AlpacaBroker("acct_1", "k", "s", url_override=server.base_url, timeout_seconds=2.0)
        add = "lt-20260105-acct_1-SPY-resize"
        broker.submit(_order(Side.BUY, 50, add))  # queued for the open
        server.orders[add]["status"] = "pending_cancel"
        with pytest.raises(BrokerRejected) as refused:
            broker.submit(_order(Side.SELL, 100, "lt-20260105-acct_1-SPY-close"))

    said = str(refused.value)
    assert f"buy 50 SPY ({add}) is being canceled (pending_cancel)" in said
    assert "once it ends" in said and "cancel it in Alpaca's dashboard" not in said


def _order(side: Side, qty: int, cid: str) -> Order:
    return Order(
        account_id="acct_1",
        week_id=date(2026, 1, 7),
        symbol="SPY",
        side=side,
        qty=qty,
        client_order_id=cid,
        intent="close" if side is Side.SELL else "resize",
    )


def test_alpacas_older_words_for_an_order_in_the_way_name_it_too() -> None:
    """Some accounts get Alpaca's older refusal for the same rule ("cannot open a short sell while a long buy order is
    open", 403 code 40310000): it matched neither note, and the user got Alpaca's bare words (an audit)."""
    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        server.wash_trade_words = None
        server.set_price("SPY", 500.0)
        broker = AlpacaBroker("acct_1", "k", "s", url_override=server.base_url, timeout_seconds=2.0)
        add = "lt-20260105-acct_1-SPY-resize"
        broker.submit(_order(Side.BUY, 50, add))  # queued for the open
        with pytest.raises(BrokerRejected) as refused:
            broker.submit(_order(Side.SELL, 100, "lt-20260105-acct_1-SPY-close"))

    said = str(refused.value)
    assert "cannot open a short sell while a long buy order is open" in said
    assert f"buy 50 SPY ({add}) is open" in said and "cancel it in Alpaca's dashboard or let it fill" in said
