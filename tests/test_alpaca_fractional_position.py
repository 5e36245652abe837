"""A fraction of a share held at Alpaca (10.5 SPY after a 3-for-2 split of 7, or a by-hand fractional buy) is reported,
not truncated to 10 without a word (trial A, p9): whole-share orders cannot trade it. The real alpaca-py client
against the loopback fake."""

from __future__ import annotations

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.reconcile import look_now
from llmtrade.brokers.reconcile_records import record_differences
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer

KEY, SECRET = "k", "s"


def test_a_fractional_position_is_reported_as_a_difference(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        server.set_position("SPY", 10, 400.0, served_qty="10.5")
        broker = AlpacaBroker("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)

        seen = look_now(storage.events, broker, {"SPY": 500.0})

        assert seen.account.positions["SPY"].qty == 10  # what whole-share orders can trade
        fractional = [d for d in seen.differences if d.kind == "fractional_shares"]
        assert [(d.symbol, d.broker_qty) for d in fractional] == [("SPY", 10)]
        assert "10.5 SPY" in fractional[0].detail and "0.5 of a share" in fractional[0].detail
        recorded = record_differences(
            storage.events, "acct_1", seen.differences, occasion="checkpoint", week_id=None, run_id="r1"
        )
        assert "fractional_shares" in [d.kind for d in recorded]
        assert (
            record_differences(
                storage.events, "acct_1", seen.differences, occasion="checkpoint", week_id=None, run_id="r2"
            )
            == []
        )  # once
