"""AlpacaBroker through the real alpaca-py TradingClient, against a fake Alpaca server on loopback.

Nothing of alpaca-py is mocked: the JSON the fake serves goes through alpaca-py's own strict models, and
the failures it injects come back as the exceptions alpaca-py really raises. The drills that matter most
are the ambiguous submissions: a 504 or a timeout after the server stored the order must be settled by
lookup, with exactly one POST on the wire (alpaca-py's own 429/504 retry is switched off).
"""

from __future__ import annotations

import inspect
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.fills import record_new_fills
from llmtrade.brokers.protocol import Broker
from llmtrade.domain.trading import AccountSnapshot, Order, OrderStatus, Position, Side
from llmtrade.errors import BrokerRejected, BrokerUnavailable, LiveTradingRefused, OperationalError
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer

KEY_ID = "test-key-id"
SECRET = "test-secret"
ORDERS = "/v2/orders"
LOOKUP = "/v2/orders:by_client_order_id"


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        yield fake


def broker_for(server: FakeAlpacaServer, *, secret: str = SECRET, timeout: float = 0.5) -> AlpacaBroker:
    return AlpacaBroker("pm-alpha", KEY_ID, secret, url_override=server.base_url, timeout_seconds=timeout)


def order(client_order_id: str = "w2026-01-05-pm-alpha-SPY-open", **changes: object) -> Order:
    fields: dict[str, object] = {
        "client_order_id": client_order_id,
        "account_id": "pm-alpha",
        "week_id": date(2026, 1, 5),
        "symbol": "SPY",
        "side": Side.BUY,
        "qty": 10,
        "intent": "open",
    }
    return Order.model_validate({**fields, **changes})


def test_broker_satisfies_the_protocol(server: FakeAlpacaServer) -> None:
    """Every member of the protocol, with its parameters (the contract suite checks what they do)."""
    broker: Broker = broker_for(server)
    methods = [m for m, v in vars(Broker).items() if not m.startswith("_") and callable(v)]

    reads = {"account", "look_at", "find", "open_orders", "fills", "is_shortable"}
    members = reads | {"record_canceled", "submit", "cancel", "settle"}
    assert set(methods) == members
    for method in methods:
        ours = list(inspect.signature(getattr(broker, method)).parameters)
        assert ours == list(inspect.signature(getattr(Broker, method)).parameters)[1:], method
    assert (broker.name, broker.account_id) == ("alpaca", "pm-alpha")


def test_account_snapshot_reads_string_money_and_long_and_short_positions(server: FakeAlpacaServer) -> None:
    server.set_account(cash=25_000.5, buying_power=50_001.25, equity=31_234.75)
    server.set_position("SPY", 10, 600.125)
    server.set_position("QQQ", -5, 500)  # Alpaca's way: side "short" and a negative qty
    server.set_position("IWM", -3, 220.5, signed_qty=False)  # side "short" with a positive qty
    server.set_price("SPY", 610.125)  # Alpaca marks it: unrealized_pl "100"

    snapshot = broker_for(server).account({})

    assert snapshot == AccountSnapshot(
        account_id="pm-alpha",
        cash=25_000.5,
        equity=31_234.75,
        buying_power=50_001.25,
        positions={
            "SPY": Position(symbol="SPY", qty=10, avg_price=600.125),
            "QQQ": Position(symbol="QQQ", qty=-5, avg_price=500),
            "IWM": Position(symbol="IWM", qty=-3, avg_price=220.5),
        },
        # What names the account: a reset from the dashboard gives another (workflows/account_reset.py).
        broker_account=f"{server.account_uuid} PA3FAKE00001",
        # Alpaca's own unrealised P/L of each position, for one llmtrade cannot price (domain/reconciliation.py).
        broker_pnl={"SPY": 100.0, "QQQ": 0.0, "IWM": 0.0},
    )


def test_wrong_keys_on_account_raise_broker_rejected_pointing_at_the_keys(server: FakeAlpacaServer) -> None:
    with pytest.raises(BrokerRejected, match=r"refused the account: .*HTTP 401.*check the account's keys") as caught:
        broker_for(server, secret="not-the-secret").account({})

    assert "not-the-secret" not in str(caught.value)


def test_server_error_on_account_raises_unavailable_without_alpaca_py_retries(server: FakeAlpacaServer) -> None:
    server.fail_route("GET", "/v2/account", 504)

    with pytest.raises(BrokerUnavailable, match=r"failed the account \(HTTP 504"):
        broker_for(server).account({})

    assert server.count("GET", "/v2/account") == 1


def test_submit_while_market_closed_is_accepted_and_queued(server: FakeAlpacaServer) -> None:
    server.fill_immediately = False
    server.set_price("SPY", 600)

    result = broker_for(server).submit(order())

    stored = server.orders["w2026-01-05-pm-alpha-SPY-open"]
    assert result.status is OrderStatus.ACCEPTED
    assert result.filled_qty == 0 and result.fill_price is None
    assert result.broker_order_id == stored["id"]
    assert (stored["symbol"], stored["side"], stored["qty"], stored["type"], stored["time_in_force"]) == (
        "SPY",
        "buy",
        "10",
        "market",
        "day",
    )


def test_submit_while_market_open_is_filled_with_price(server: FakeAlpacaServer) -> None:
    server.fill_immediately = True
    server.set_price("SPY", 601.25)

    result = broker_for(server).submit(order())

    assert result.status is OrderStatus.FILLED
    assert result.filled_qty == 10
    assert result.fill_price == 601.25
    assert result.broker_order_id == server.orders[result.client_order_id]["id"]


def test_504_after_the_server_stored_the_order_is_settled_by_lookup_with_one_post(server: FakeAlpacaServer) -> None:
    server.fill_immediately = True
    server.set_price("SPY", 600)
    server.fail_route("POST", ORDERS, 504, after_processing=True)

    result = broker_for(server).submit(order())

    assert result.status is OrderStatus.FILLED
    assert result.broker_order_id == server.orders[result.client_order_id]["id"]
    assert server.count("POST", ORDERS) == 1  # neither alpaca-py nor the broker sent it again
    assert server.count("GET", LOOKUP) == 1
    assert len(server.orders) == 1


def test_timeout_after_the_server_stored_the_order_is_settled_by_lookup_with_one_post(
    server: FakeAlpacaServer,
) -> None:
    server.set_price("SPY", 600)
    server.fail_route("POST", ORDERS, 200, after_processing=True, delay_seconds=1.0)

    result = broker_for(server, timeout=0.3).submit(order())

    assert result.status is OrderStatus.ACCEPTED
    assert result.broker_order_id == server.orders[result.client_order_id]["id"]
    assert server.count("POST", ORDERS) == 1
    assert len(server.orders) == 1


def test_504_before_the_server_processed_the_order_raises_unavailable_and_a_rerun_creates_it_once(
    server: FakeAlpacaServer,
) -> None:
    server.set_price("SPY", 600)
    server.fail_route("POST", ORDERS, 504)
    broker = broker_for(server)

    with pytest.raises(BrokerUnavailable, match=r"did not receive order .*HTTP 504.*rerun will send it again"):
        broker.submit(order())

    assert server.orders == {}
    assert server.count("POST", ORDERS) == 1

    result = broker.submit(order())

    assert result.status is OrderStatus.ACCEPTED
    assert list(server.orders) == [order().client_order_id]
    assert server.count("POST", ORDERS) == 2


def test_unreachable_server_on_submit_raises_unavailable_with_the_fate_unknown() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broker = AlpacaBroker("pm-alpha", KEY_ID, SECRET, url_override=f"http://127.0.0.1:{port}", timeout_seconds=0.5)

    with pytest.raises(BrokerUnavailable, match="looking it up failed too"):
        broker.submit(order())


def test_duplicate_client_order_id_returns_the_existing_order_without_a_second_one(server: FakeAlpacaServer) -> None:
    server.set_price("SPY", 600)
    broker = broker_for(server)
    first = broker.submit(order())

    second = broker.submit(order())

    assert second == first
    assert server.count("POST", ORDERS) == 2  # the second POST was answered 422, then looked up
    assert server.count("GET", LOOKUP) == 1
    assert len(server.orders) == 1


def test_duplicate_client_order_id_naming_another_order_is_an_error_not_a_refusal(server: FakeAlpacaServer) -> None:
    server.set_price("SPY", 600)
    broker = broker_for(server)
    broker.submit(order())

    with pytest.raises(OperationalError, match="already names an order at alpaca") as raised:
        broker.submit(order(qty=17))  # no split's ratio from 10: Alpaca holds an order under the id, not refused

    assert not isinstance(raised.value, BrokerRejected)

    assert len(server.orders) == 1


def test_insufficient_buying_power_raises_broker_rejected_with_alpacas_message(server: FakeAlpacaServer) -> None:
    server.set_account(cash=1_000)
    server.set_price("SPY", 600)

    with pytest.raises(BrokerRejected, match=r"alpaca rejected order .*: insufficient buying power \(HTTP 403\)"):
        broker_for(server).submit(order())

    assert server.orders == {}
    assert server.count("GET", LOOKUP) == 0


def test_other_422_raises_broker_rejected_with_alpacas_message(server: FakeAlpacaServer) -> None:
    server.set_price("SPY", 600)  # known, not shortable

    with pytest.raises(BrokerRejected, match=r'asset "SPY" cannot be sold short \(HTTP 422\)'):
        broker_for(server).submit(order(side=Side.SELL, intent="open"))

    assert server.orders == {}
    assert server.count("GET", LOOKUP) == 0


def test_find_of_an_unknown_id_returns_none(server: FakeAlpacaServer) -> None:
    assert broker_for(server).find("never-sent") is None


def test_find_returns_the_order_as_it_is_now(server: FakeAlpacaServer) -> None:
    server.set_price("SPY", 600)
    broker = broker_for(server)
    submitted = broker.submit(order())
    server.set_price("SPY", 603.5)
    server.fill_open_orders()

    found = broker.find(submitted.client_order_id)

    assert found is not None
    assert found.status is OrderStatus.FILLED
    assert (found.filled_qty, found.fill_price) == (10, 603.5)
    assert found.broker_order_id == submitted.broker_order_id


@pytest.mark.parametrize(
    ("alpaca_status", "ours"),
    [
        ("new", OrderStatus.ACCEPTED),
        ("pending_new", OrderStatus.ACCEPTED),
        ("partially_filled", OrderStatus.ACCEPTED),
        ("done_for_day", OrderStatus.ACCEPTED),
        ("rejected", OrderStatus.REJECTED),
        ("canceled", OrderStatus.CANCELED),
        ("expired", OrderStatus.REJECTED),
    ],
)
def test_find_maps_alpaca_order_statuses(server: FakeAlpacaServer, alpaca_status: str, ours: OrderStatus) -> None:
    server.set_price("SPY", 600)
    broker = broker_for(server)
    broker.submit(order())
    server.orders[order().client_order_id]["status"] = alpaca_status

    found = broker.find(order().client_order_id)

    assert found is not None
    assert found.status is ours
    assert alpaca_status in found.message


def test_is_shortable_follows_the_asset(server: FakeAlpacaServer) -> None:
    server.add_asset("SPY", shortable=True)
    server.add_asset("GME", shortable=False)
    broker = broker_for(server)

    assert broker.is_shortable("SPY") is True
    assert broker.is_shortable("GME") is False
    assert broker.is_shortable("NOSUCH") is False  # 404: an unknown asset cannot be shorted


def test_paper_false_is_refused_before_any_request_unless_enabled(server: FakeAlpacaServer) -> None:
    with pytest.raises(LiveTradingRefused, match=r"`live_trading_enabled: true` in risk\.yaml"):
        AlpacaBroker("pm-alpha", KEY_ID, SECRET, paper=False, url_override=server.base_url)

    assert server.requests == []


def test_live_host_in_url_override_is_refused_even_with_paper_true() -> None:
    with pytest.raises(LiveTradingRefused, match=r"api\.alpaca\.markets.*live_trading_enabled: true"):
        AlpacaBroker("pm-alpha", KEY_ID, SECRET, paper=True, url_override="https://api.alpaca.markets")


def test_live_trading_is_allowed_when_enabled(server: FakeAlpacaServer) -> None:
    server.set_price("SPY", 600)
    broker = AlpacaBroker(
        "pm-alpha",
        KEY_ID,
        SECRET,
        paper=False,
        url_override=server.base_url,
        timeout_seconds=0.5,
        live_trading_enabled=True,
    )

    result = broker.submit(order())

    assert broker.live is True
    assert result.status is OrderStatus.ACCEPTED
    assert server.count("POST", ORDERS) == 1


def test_repr_never_shows_the_keys(server: FakeAlpacaServer) -> None:
    text = repr(broker_for(server))

    assert KEY_ID not in text and SECRET not in text


def test_importing_the_broker_does_not_import_alpaca_py() -> None:
    code = (
        "import sys, llmtrade.brokers.alpaca; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alpaca', 'requests')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


# ----------------------------------------------------------------- open orders, fills, cancel


def _clone_filled(server: FakeAlpacaServer, template: str, count: int, submitted_at: list[str]) -> None:
    """`count` more filled orders shaped like `template`, submitted at the given instants (ties allowed)."""
    base = server.orders[template]
    for index in range(count):
        cid = f"clone-{index:05d}"
        server.orders[cid] = {
            **base,
            "id": str(uuid.uuid4()),
            "client_order_id": cid,
            "submitted_at": submitted_at[index],
            "filled_at": submitted_at[index],
        }


def test_fills_page_through_more_orders_than_one_answer_holds_even_with_ties_at_a_page_edge(
    server: FakeAlpacaServer,
) -> None:
    server.fill_immediately = True
    server.set_price("SPY", 600)
    broker = broker_for(server)
    broker.submit(order())
    # 1,100 more orders; 20 of them share one instant that straddles the edge of the first page of 500.
    newest_first = sorted(
        (f"2025-06-01T14:{m:02d}:{s:02d}.000000Z" for m in range(60) for s in range(60)), reverse=True
    )
    stamps = newest_first[:490] + [newest_first[490]] * 20 + newest_first[510:1100]
    _clone_filled(server, order().client_order_id, len(stamps), stamps)

    fills = broker.fills()

    assert len(fills) == 1101
    assert len({f.client_order_id for f in fills}) == 1101
    assert fills == sorted(fills, key=lambda f: f.filled_at)
    lists = [r for r in server.requests if r.method == "GET" and r.path == ORDERS]
    assert len(lists) == 3
    assert all(r.query["limit"] == "500" and r.query["status"] == "all" for r in lists)


def test_the_fake_cuts_a_larger_limit_to_500_as_alpaca_does(server: FakeAlpacaServer) -> None:
    server.fill_immediately = True
    server.set_price("SPY", 600)
    broker_for(server).submit(order())
    _clone_filled(server, order().client_order_id, 600, [f"2025-06-01T14:00:00.{i:06d}Z" for i in range(600)])
    import requests

    answer = requests.get(
        f"{server.base_url}/v2/orders",
        params={"status": "all", "limit": "1000"},
        headers={"APCA-API-KEY-ID": KEY_ID, "APCA-API-SECRET-KEY": SECRET},
        timeout=5,
    )

    assert len(answer.json()) == 500
    assert answer.json()[0]["filled_avg_price"] == "600"  # money as a string


def test_fills_since_asks_for_orders_submitted_a_week_earlier_and_keeps_fills_from_since(
    server: FakeAlpacaServer,
) -> None:
    server.fill_immediately = True
    server.set_price("SPY", 600)
    broker = broker_for(server)
    broker.submit(order())
    since = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    server.orders[order().client_order_id].update(
        submitted_at="2026-01-02T22:00:00.000000Z", filled_at="2026-01-05T14:30:00.000000Z"
    )

    fills = broker.fills(since=since)

    assert [f.filled_at for f in fills] == [since]  # submitted before `since`, filled at it: kept
    listed = [r for r in server.requests if r.path == ORDERS and r.method == "GET"][-1]
    assert datetime.fromisoformat(listed.query["after"]) == since - timedelta(days=7)
    assert broker.fills(since=since + timedelta(microseconds=1)) == []


def test_a_partial_fill_is_an_open_order_and_a_fill_but_is_recorded_only_once_complete(
    server: FakeAlpacaServer, storage: Storage
) -> None:
    server.set_price("SPY", 600)
    broker = broker_for(server)
    broker.submit(order())
    server.partially_fill(order().client_order_id, 4, 600)

    (working,) = broker.open_orders()
    (partial,) = broker.fills()

    assert (working.client_order_id, working.filled_qty, working.qty) == (order().client_order_id, 4, 10)
    assert (partial.qty, partial.price) == (4, 600.0)
    assert record_new_fills(storage.events, broker, week_id=order().week_id, run_id="r1") == []

    server.set_price("SPY", 610)
    server.fill_open_orders()
    (recorded,) = record_new_fills(storage.events, broker, week_id=order().week_id, run_id="r2")

    assert (recorded.qty, recorded.price) == (10, 606.0)  # 4 at 600 and 6 at 610
    assert broker.open_orders() == []


def test_cancel_that_loses_the_race_to_a_fill_returns_the_fill_without_an_error(server: FakeAlpacaServer) -> None:
    server.set_price("SPY", 600)
    broker = broker_for(server)
    queued = broker.submit(order())
    server.fill_before_cancel = True

    answer = broker.cancel(queued.client_order_id)

    assert answer is not None and not answer.asked  # the DELETE was refused: the fill came first
    assert (answer.result.status, answer.result.filled_qty) == (OrderStatus.FILLED, 10)
    assert server.count("DELETE", f"{ORDERS}/{queued.broker_order_id}") == 1  # answered 422, then looked up


def test_cancel_of_a_filled_order_sends_no_delete(server: FakeAlpacaServer) -> None:
    server.fill_immediately = True
    server.set_price("SPY", 600)
    broker = broker_for(server)
    filled = broker.submit(order())

    answer = broker.cancel(filled.client_order_id)

    assert answer is not None and answer.result.status is OrderStatus.FILLED and not answer.asked
    assert [r for r in server.requests if r.method == "DELETE"] == []


@pytest.mark.parametrize(
    ("status", "error"), [(503, BrokerUnavailable), (429, BrokerUnavailable), (403, BrokerRejected)]
)
def test_listing_orders_maps_failures_into_our_error_families(
    server: FakeAlpacaServer, status: int, error: type[Exception]
) -> None:
    server.fail_route("GET", ORDERS, status, times=2)
    broker = broker_for(server)

    with pytest.raises(error, match="the orders"):
        broker.open_orders()
    with pytest.raises(error, match="the orders"):
        broker.fills()


def test_a_failed_delete_is_unavailable_and_a_second_cancel_completes_it(server: FakeAlpacaServer) -> None:
    server.set_price("SPY", 600)
    broker = broker_for(server)
    queued = broker.submit(order())
    server.fail_route("DELETE", f"{ORDERS}/.*", 504)

    with pytest.raises(BrokerUnavailable, match="the cancel of order"):
        broker.cancel(queued.client_order_id)
    answer = broker.cancel(queued.client_order_id)

    assert answer is not None and answer.result.status is OrderStatus.CANCELED and answer.asked
    assert broker.open_orders() == []
