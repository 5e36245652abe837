"""An order of llmtrade's that Alpaca scaled for a split while it was open (alpacahq/alpaca-py #469: the qty times the
split's ratio): a rerun's POST answered "client_order_id must be unique", or a lookup after an ambiguous POST, finds it
for other shares than llmtrade sent. Before, `_same_order` compared the qty and recorded the order refused, though
Alpaca held it and would fill it; now the id (llmtrade's own, unique) with the symbol and side is the order, and a qty
scaled by a split's ratio is said in its result. What llmtrade cannot reconcile (another symbol or side, or a qty no
split explains) is an error of the run, said, and never a refusal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from fractions import Fraction

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.fills import record_new_fills
from llmtrade.brokers.order_plan import client_order_id
from llmtrade.brokers.reconcile import managed_positions
from llmtrade.domain.events import NewEvent
from llmtrade.domain.ledger import Split
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.streams import ORDERS, SPLITS, week_stream
from llmtrade.domain.trading import OrderOverfilled, OrderStatus, OrderSubmitted, QueuedOrderCanceled, Side
from llmtrade.errors import BrokerRejected, OperationalError
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, SECRET, broker_for, order
from tests.test_alpaca_broker import ORDERS as POSTS

WEEK = date(2025, 12, 31)


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        yield fake


def _recorded(symbol: str, ratio: float, ex_day: date) -> SplitDetected:
    n, d = Fraction(ratio).limit_denominator(1000).as_integer_ratio()
    return SplitDetected(
        symbol=symbol,
        ex_day=ex_day,
        ratio=ratio,
        looks_like=f"{n}-for-{d}",
        price=150.0,
        provider="alpaca",
        evidence="the broker's position",
    )


def _broker(server: FakeAlpacaServer, *splits: SplitDetected) -> AlpacaBroker:
    """The account's broker, the splits recorded in the store being `splits` (as the registry hands it them)."""
    recorded = tuple(Split.of(s) for s in splits)
    return AlpacaBroker(
        "pm-alpha", KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=0.5, splits=lambda: recorded
    )


SENT = datetime(2026, 1, 2, 22, tzinfo=UTC)  # Friday evening: queued for Monday's open, over a split's ex-day


def test_a_rerun_finds_its_order_scaled_by_a_split_and_takes_it(server: FakeAlpacaServer) -> None:
    server.set_price("SPY", 600)
    server.set_time(SENT)
    first = _broker(server).submit(order())
    server.split("SPY", 4)  # Alpaca scales the open order: 10 -> 40 shares

    again = _broker(server, _recorded("SPY", 4, date(2026, 1, 5))).submit(order())  # 422 duplicate id, the lookup

    assert again.status is OrderStatus.ACCEPTED
    assert again.broker_order_id == first.broker_order_id
    assert "alpaca holds it for 40 shares, 10 sent" in again.message and "4-for-1" in again.message
    assert len(server.orders) == 1


def test_a_lookup_after_a_lost_answer_finds_the_order_scaled_by_a_split(server: FakeAlpacaServer) -> None:
    server.set_price("SPY", 600)
    server.set_time(SENT)
    server.fail_route("POST", POSTS, 504, after_processing=True)  # stored, the answer lost
    server.after_next("POST", POSTS, lambda: server.split("SPY", 0.5))  # a reverse split before the lookup
    broker = _broker(server, _recorded("SPY", 0.5, date(2026, 1, 5)))

    found = broker.submit(order())

    assert found.status is OrderStatus.ACCEPTED
    assert "alpaca holds it for 5 shares, 10 sent" in found.message
    assert len(server.orders) == 1


@pytest.mark.parametrize(
    "recorded",
    [
        (),
        (_recorded("SPY", 2, date(2026, 1, 5)),),  # another ratio than the qty's
        (_recorded("QQQ", 4, date(2026, 1, 5)),),  # another symbol's
        (_recorded("SPY", 4, date(2026, 1, 2)),),  # before the order was sent: sized in the new shares
    ],
    ids=["none recorded", "another ratio", "another symbol", "before it was sent"],
)
def test_an_order_scaled_by_a_ratio_no_recorded_split_explains_is_an_error_never_taken(
    server: FakeAlpacaServer, recorded: tuple[SplitDetected, ...]
) -> None:
    """llmtrade never sends a client_order_id again with another qty: an order under its id for 4 times the shares,
    with no 4-for-1 of SPY recorded since it was sent, is no order of llmtrade's it can explain. Before, any announced
    split's ratio was taken for one, said in a note, and the order taken as llmtrade's."""
    server.set_price("SPY", 600)
    server.set_time(SENT)
    _broker(server).submit(order())
    server.split("SPY", 4)

    with pytest.raises(OperationalError, match="already names an order at alpaca") as raised:
        _broker(server, *recorded).submit(order())

    assert not isinstance(raised.value, BrokerRejected)  # Alpaca holds an order under this id: never booked refused
    assert "buy 40 SPY" in str(raised.value) and "no split of SPY recorded since it was sent" in str(raised.value)
    assert len(server.orders) == 1


@pytest.mark.parametrize(
    "changes", [{"qty": 17}, {"symbol": "QQQ"}, {"side": Side.SELL}], ids=["qty no split explains", "symbol", "side"]
)
def test_an_order_under_our_id_that_cannot_be_reconciled_is_an_error_never_a_refusal(
    server: FakeAlpacaServer, changes: dict[str, object]
) -> None:
    server.set_price("SPY", 600)
    server.set_price("QQQ", 500)
    server.set_position("SPY", 100, 590)
    broker = broker_for(server)
    broker.submit(order())

    with pytest.raises(OperationalError, match="already names an order at alpaca") as raised:
        broker.submit(order(**changes))

    assert not isinstance(raised.value, BrokerRejected)  # Alpaca holds an order under this id: never booked refused
    assert "is not recorded refused" in str(raised.value)
    assert len(server.orders) == 1


def _sent_over_a_split(
    server: FakeAlpacaServer, storage: Storage, *, recorded: bool, ratio: float = 4.0, named: str = "4-for-1"
) -> AlpacaBroker:
    """10 SPY sent by llmtrade on Friday evening (its OrderSubmitted recorded), queued for Monday's open; Alpaca splits
    SPY by `ratio` before it (4-for-1 unless told: the split `recorded` by a look, or not) and the order buys the 10 in
    the new shares at the open (40 at a 4-for-1, 2 at a 1-for-5)."""
    broker = broker_for(server)
    server.set_time(datetime(2026, 1, 2, 22, tzinfo=UTC))
    server.set_price("SPY", 600)
    sent = order(client_order_id(WEEK, "pm-alpha", "SPY", "add"), week_id=WEEK)
    result = broker.submit(sent)
    submitted = OrderSubmitted(order=sent, broker="alpaca", result=result)
    stream = week_stream(WEEK, ORDERS)
    storage.events.append([NewEvent.of(submitted, stream=stream, week_id=WEEK, account_id="pm-alpha", run_id="c0")])
    server.split("SPY", ratio)
    if recorded:
        split = SplitDetected(
            symbol="SPY",
            ex_day=date(2026, 1, 5),
            ratio=ratio,
            looks_like=named,
            price=600 / ratio,
            provider="alpaca",
            evidence="the broker's position",
        )
        storage.events.append([NewEvent.of(split, stream=SPLITS, run_id="c1")])
    server.set_time(datetime(2026, 1, 5, 14, 30, tzinfo=UTC))
    server.fill_open_orders()
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="c2")
    return broker


def test_an_order_alpaca_scaled_for_a_recorded_split_fills_its_new_shares_without_an_overfill(
    server: FakeAlpacaServer, storage: Storage
) -> None:
    """Its 40 are the 10 sent, in the new shares: before, the fill was said overfilled by 30 (an alert, and the user
    told to trade 30 shares back by hand)."""
    _sent_over_a_split(server, storage, recorded=True)

    [filled] = [e for e in storage.events.read() if e.type == "OrderFilled"]
    assert filled.payload["fill"]["qty"] == 40
    assert not [e for e in storage.events.read() if e.type == OrderOverfilled.event_type()]


def test_an_order_filled_past_its_qty_with_no_split_recorded_is_still_said_overfilled(
    server: FakeAlpacaServer, storage: Storage
) -> None:
    _sent_over_a_split(server, storage, recorded=False)

    [over] = [e for e in storage.events.read() if e.type == OrderOverfilled.event_type()]
    assert over.payload["filled"] == "40" and over.payload["meant"] == 10


def test_an_order_alpaca_scaled_down_for_a_recorded_reverse_split_is_filled_whole_not_ended(
    server: FakeAlpacaServer, storage: Storage
) -> None:
    """Alpaca scaled the 10 sent to 2 at a 1-for-5 and filled them at the new price. Before, the end-of-order reading
    took the 2 for a part fill of the 10 (an order replaced smaller) and booked the order CANCELED, "2 of 10 filled":
    the run said the plan's trade did not happen though it happened whole."""
    broker = _sent_over_a_split(server, storage, recorded=True, ratio=0.2, named="1-for-5")

    [filled] = [e for e in storage.events.read() if e.type == "OrderFilled"]
    assert (filled.payload["fill"]["qty"], filled.payload["fill"]["price"]) == (2, 3000.0)
    assert not [e for e in storage.events.read() if e.type == QueuedOrderCanceled.event_type()]
    assert managed_positions(storage.events, broker) == {"SPY": 2}  # the 10 bought, in the new shares
    lookups = server.count("GET", "/v2/orders:by_client_order_id")
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="c3")
    assert server.count("GET", "/v2/orders:by_client_order_id") == lookups  # filled whole: not asked at every look
    assert not [e for e in storage.events.read() if e.type == QueuedOrderCanceled.event_type()]


def test_an_order_filled_whole_at_alpaca_in_fewer_shares_with_no_split_recorded_is_no_end_until_one_is(
    server: FakeAlpacaServer, storage: Storage
) -> None:
    """With no split recorded yet, the 2 Alpaca filled of the 10 sent were recorded as an end, "2 of 10 filled", the
    run saying the trade had not happened. But Alpaca filled the order itself (never replaced) whole, at a qty it
    changed: it does that only at a split (alpacahq/alpaca-py #469). No end is recorded; the order is looked up again
    at each look until the split is recorded, and then no more."""
    broker = _sent_over_a_split(server, storage, recorded=False, ratio=0.2, named="1-for-5")

    assert not [e for e in storage.events.read() if e.type == QueuedOrderCanceled.event_type()]
    lookups = server.count("GET", "/v2/orders:by_client_order_id")
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="c3")
    assert server.count("GET", "/v2/orders:by_client_order_id") == lookups + 1  # read again: no split recorded yet
    storage.events.append([NewEvent.of(_recorded("SPY", 0.2, date(2026, 1, 5)), stream=SPLITS, run_id="c4")])
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="c5")
    assert server.count("GET", "/v2/orders:by_client_order_id") == lookups + 1  # the order filled whole: asked no more
    assert not [e for e in storage.events.read() if e.type == QueuedOrderCanceled.event_type()]


def test_the_registrys_broker_reads_the_splits_recorded_in_the_store(
    server: FakeAlpacaServer, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker a run opens is handed the store's splits: the one recorded explains the order's 40 shares."""
    from llmtrade.brokers.registry import open_broker
    from llmtrade.clock import FixedClock
    from llmtrade.config.loader import load_config
    from llmtrade.config.models import Account
    from llmtrade.market.calendar import TradingCalendar
    from llmtrade.settings import Settings
    from tests.test_broker_registry import NoPrices

    monkeypatch.setenv("SPLIT_KEY", KEY_ID)
    monkeypatch.setenv("SPLIT_SECRET", SECRET)
    keys = {"key_env": "SPLIT_KEY", "secret_env": "SPLIT_SECRET"}
    account = Account.model_validate({"id": "pm-alpha", "role": "pm", "broker": "alpaca", "alpaca": keys})
    broker = open_broker(
        account,
        live=True,
        settings=Settings(LLMTRADE_ALPACA_URL=server.base_url),
        config=load_config().config,
        events=storage.events,
        clock=FixedClock(SENT),
        calendar=TradingCalendar(),
        prices=NoPrices(),
    )
    assert server.base_url in repr(broker)  # its endpoint is the fake, never the internet
    server.set_price("SPY", 600)
    server.set_time(SENT)
    broker.submit(order())
    server.split("SPY", 4)
    with pytest.raises(OperationalError, match="no split of SPY recorded since it was sent"):
        broker.submit(order())  # none recorded yet

    storage.events.append([NewEvent.of(_recorded("SPY", 4, date(2026, 1, 5)), stream=SPLITS, run_id="c1")])

    assert "alpaca holds it for 40 shares, 10 sent" in broker.submit(order()).message
    assert len(server.orders) == 1


@pytest.mark.parametrize(
    ("ratio", "named", "part", "said"), [(0.2, "1-for-5", 1, "1 of 2"), (4.0, "4-for-1", 20, "20 of 40")]
)
def test_an_order_scaled_by_a_split_part_filled_then_expired_says_its_part_in_the_new_shares(
    server: FakeAlpacaServer, storage: Storage, ratio: float, named: str, part: int, said: str
) -> None:
    """Alpaca scaled the 10 sent to 2 at a 1-for-5 (to 40 at a 4-for-1), filled part and expired the rest at the
    close. Its end said "1 of 10 filled", the 1 in the new shares against the 10 in the old; the 20 of 40 were taken
    for the order filled whole (20 is past the 10 sent): its end never recorded, the run never saying that half the
    trade did not happen. Now both are ended, said in the new shares, the 10 sent named with the split."""
    broker = broker_for(server)
    server.set_time(SENT)
    server.set_price("SPY", 600)
    sent = order(client_order_id(WEEK, "pm-alpha", "SPY", "add"), week_id=WEEK)
    submitted = OrderSubmitted(order=sent, broker="alpaca", result=broker.submit(sent))
    stream = week_stream(WEEK, ORDERS)
    storage.events.append([NewEvent.of(submitted, stream=stream, week_id=WEEK, account_id="pm-alpha", run_id="c0")])
    server.split("SPY", ratio)  # the queued 10 are now 10 times the ratio
    storage.events.append([NewEvent.of(_recorded("SPY", ratio, date(2026, 1, 5)), stream=SPLITS, run_id="c1")])
    server.set_time(datetime(2026, 1, 5, 14, 30, tzinfo=UTC))
    server.partially_fill(sent.client_order_id, part, 600 / ratio)
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="c2")
    server.end_order(sent.client_order_id, "expired")

    record_new_fills(storage.events, broker, week_id=WEEK, run_id="c3")

    [ended] = [QueuedOrderCanceled.from_event(e) for e in storage.events.read(type="QueuedOrderCanceled")]
    assert f"{said} filled, 10 sent before the {named} split" in ended.reason, ended.reason
    assert "of 10 filled" not in ended.reason
    assert not [e for e in storage.events.read() if e.type == OrderOverfilled.event_type()]
