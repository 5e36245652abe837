"""Whose end is an order's end, the circuit breaker's or Alpaca's, when the breaker's cancel races another hand.

The breaker lists the halted account's open orders, says which it cancels (BreakerCancelRequested), then its broker
looks the order up and DELETEs it. A cancel made by hand between the listing and the look found the order canceled, or
pending_cancel, and the breaker took that end as its own: recorded with the halt's reason, or taken (BreakerCancelTaken)
and credited to the halt when it came, the trade the operator ended named nowhere as Alpaca's. The real alpaca-py
client against the loopback fake."""

from __future__ import annotations

import pytest

from llmtrade.brokers.fills import observe
from llmtrade.brokers.order_ends import ended_notes, record_order_ends
from llmtrade.config.loader import load_config
from llmtrade.domain.trading import BreakerCancelFailed
from llmtrade.risk.controls import cancel_opening_orders, evaluate_breaker, halted
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import CID, KEY, SECRET, WEEK, _ends, _queued

BREAKER = load_config(None).config.risk.circuit_breaker


def _halt(storage: Storage) -> None:
    evaluate_breaker(
        storage.events,
        "acct_1",
        starting_equity=100_000,
        equity=70_000,
        fills=[],
        config=BREAKER,
        week_id=WEEK,
        run_id="halt",
    )
    assert halted(storage.events, "acct_1")[0]


@pytest.mark.parametrize(
    ("after", "status"),
    [
        ("GET /v2/orders", "canceled"),  # between the listing and the look: done
        ("GET /v2/orders", "pending_cancel"),  # between the listing and the look: under way
        ("GET /v2/orders:by_client_order_id", "canceled"),  # between the look and the DELETE (answered 422)
    ],
)
def test_a_cancel_by_hand_just_ahead_of_the_breakers_is_alpacas_end(storage: Storage, after: str, status: str) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)
        _halt(storage)
        method, path = after.split(" ")

        def by_hand() -> None:
            if status == "canceled":
                server.end_order(CID, "canceled")
            else:
                server.orders[CID].update(status="pending_cancel")

        server.after_next(method, path, by_hand)

        canceled = cancel_opening_orders(storage.events, broker, {}, "drawdown 30%", week_id=WEEK, run_id="halt")

        assert canceled == []  # the breaker canceled nothing
        deletes = server.count("DELETE", f"/v2/orders/{server.orders[CID]['id']}")
        assert deletes == (1 if path.endswith("by_client_order_id") else 0)
        [withdrawn] = [BreakerCancelFailed.from_event(e) for e in storage.events.read(type="BreakerCancelFailed")]
        assert withdrawn.client_order_id == CID and withdrawn.reason.startswith("not asked: "), withdrawn.reason
        server.settle_cancels()  # Alpaca's venue carries out the cancel made by hand
        assert record_order_ends(storage.events, broker, observe(broker), run_id="later") == [CID]

        [ended] = _ends(storage)
        assert ended.reason.startswith("ended at alpaca, unfilled: alpaca status canceled"), ended.reason
        [note] = ended_notes(storage.events, "later")
        assert CID in note and "the trade did not happen" in note
