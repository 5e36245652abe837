"""A halted account's options spread placed by hand (a multi-leg order, listed as its legs) is canceled as Alpaca
cancels one: the whole spread, once, by its parent's id. The halt asked each opening leg by the leg's own id, which
Alpaca does not cancel: the spread kept working through the halt. The real alpaca-py client against the loopback
fake, which refuses a leg's id as Alpaca does and ends the legs with their spread."""

from __future__ import annotations

from datetime import UTC, datetime

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.risk.halt_cancels import cancel_opening_orders
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_pending_cancel_exposure import WEEK

SPREAD = [("SPY260116C00600000", "buy", 1), ("SPY260116C00610000", "sell", 1)]


def test_a_halt_cancels_a_spread_placed_by_hand_by_its_parent_once(storage: Storage) -> None:
    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        server.set_time(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))  # before the open: the spread is queued
        broker = AlpacaBroker("acct_1", "k", "s", url_override=server.base_url, timeout_seconds=2.0)
        spread = server.add_multi_leg_order(SPREAD)
        assert len(broker.open_orders()) == 2  # listed as its legs

        canceled = cancel_opening_orders(storage.events, broker, {}, "drawdown 30%", week_id=WEEK, run_id="halt")

        assert [c.client_order_id for c in canceled] == [spread]  # both legs open: one cancel of the spread
        parent = server.orders[spread]
        assert server.count("DELETE", f"/v2/orders/{parent['id']}") == 1
        assert [leg["status"] for leg in parent["legs"]] == ["canceled", "canceled"]
        assert broker.open_orders() == []
