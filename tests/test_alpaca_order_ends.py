"""An order Alpaca accepted and later ended without filling it whole (rejected at the open, a DAY order expired, a
cancel) is recorded once, with Alpaca's status and when, and said by the run that found it: it was never recorded,
the week's order stayed "accepted" and the PM's trade silently never happened (trial A, p1). The real alpaca-py
client against the loopback fake, which ends the order as Alpaca does."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from typer.testing import CliRunner

from llmtrade.app.report_weeks import week_report
from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.fills import record_new_fills
from llmtrade.cli import app
from llmtrade.domain.streams import ORDERS, fill_stream, week_stream
from llmtrade.domain.trading import Order, OrderFilled, OrderStatus, QueuedOrderCanceled, Side
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import send_orders
from tests.fakes.alpaca_server import FakeAlpacaServer
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

KEY, SECRET = "k", "s"
WEEK = date(2026, 1, 5)
STREAM = week_stream(WEEK, ORDERS)
CID = "lt-20260105-acct_1-SPY-open"
ORDER = Order(
    client_order_id=CID, account_id="acct_1", week_id=WEEK, symbol="SPY", side=Side.BUY, qty=10, intent="open"
)


def _queued(storage: Storage, server: FakeAlpacaServer) -> AlpacaBroker:
    server.set_price("SPY", 500.0)
    server.set_time(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))  # the market is closed: queued for the open
    broker = AlpacaBroker("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)
    send_orders(storage.events, broker, [ORDER], stream=STREAM, week_id=WEEK, run_id="r1")
    assert server.orders[CID]["status"] == "accepted"
    return broker


def _ends(storage: Storage) -> list[QueuedOrderCanceled]:
    return [QueuedOrderCanceled.from_event(e) for e in storage.events.read(type=QueuedOrderCanceled.event_type())]


def test_an_order_alpaca_rejects_at_the_open_is_recorded_once_and_said(storage: Storage) -> None:
    from llmtrade.brokers.order_ends import ended_notes  # inside: the test fails on its assertions before the fix

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)
        server.set_time(datetime(2026, 1, 6, 14, 30, tzinfo=UTC))
        server.end_order(CID, "rejected")  # buying power checked again at the open

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")  # a later look records nothing more

        [ended] = _ends(storage)
        assert (ended.account_id, ended.client_order_id, ended.status) == ("acct_1", CID, OrderStatus.REJECTED)
        assert "alpaca, unfilled: alpaca status rejected at 2026-01-06 14:30 UTC" in ended.reason
        [event] = storage.events.read(type=QueuedOrderCanceled.event_type())
        assert (event.stream, event.week_id, event.run_id) == (fill_stream("acct_1", CID), WEEK, "r2")
        [note] = ended_notes(storage.events, "r2")
        assert f"acct_1's order open buy 10 SPY ({CID})" in note and "the trade did not happen" in note
        assert ended_notes(storage.events, "r3") == []

        lines = week_report(WEEK, storage.events.read(week_id=WEEK)).orders  # the report shows the end too
        assert [(o.client_order_id, o.status) for o in lines] == [(CID, "accepted"), (CID, "rejected")]
        assert "alpaca status rejected" in lines[1].detail

        again = send_orders(storage.events, broker, [ORDER], stream=STREAM, week_id=WEEK, run_id="r4")
        assert again.refused == [] and server.count("POST", "/v2/orders") == 1  # never sent again


def test_an_order_a_killed_run_sent_and_alpaca_ended_before_the_rerun_is_recorded_ended_and_said(
    storage: Storage,
) -> None:
    # An audit: run 1 POSTed the order and was killed before recording it; Alpaca rejected it at the open; the rerun
    # recorded Alpaca's answer (rejected) as an OrderSubmitted, which no look took for an end: never said, never sent.
    from llmtrade.brokers.order_ends import ended_notes
    from llmtrade.domain.trading import OrdersPlanned
    from llmtrade.workflows.plan_recovery import recover_orders

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        server.set_time(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
        broker = AlpacaBroker("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)
        broker.submit(ORDER)  # run 1's POST; its OrderSubmitted never written
        server.set_time(datetime(2026, 1, 6, 14, 30, tzinfo=UTC))
        server.end_order(CID, "rejected")
        plan = OrdersPlanned(account_id="acct_1", broker="alpaca", orders=[ORDER], positions_before={})
        [recovered] = recover_orders(storage.events, broker, plan, stream=STREAM, week_id=WEEK, run_id="r2")
        assert recovered.result.status is OrderStatus.REJECTED

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

        [ended] = _ends(storage)
        assert (ended.client_order_id, ended.status) == (CID, OrderStatus.REJECTED)
        [note] = ended_notes(storage.events, "r2")
        assert f"acct_1's order open buy 10 SPY ({CID})" in note and "the trade did not happen" in note


def test_a_partly_filled_order_that_expires_is_recorded_after_its_fill(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)
        server.set_time(datetime(2026, 1, 6, 14, 31, tzinfo=UTC))
        server.partially_fill(CID, 4, 500.0)
        server.set_time(datetime(2026, 1, 6, 21, 0, tzinfo=UTC))
        server.end_order(CID, "expired")  # a DAY order, the rest unfilled at the close

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

        stream = storage.events.read_stream(fill_stream("acct_1", CID))
        assert [e.type for e in stream] == [OrderFilled.event_type(), QueuedOrderCanceled.event_type()]
        assert OrderFilled.from_event(stream[0]).fill.qty == 4
        [ended] = _ends(storage)
        assert "4 of 10 filled: alpaca status expired at 2026-01-06 21:00 UTC" in ended.reason


def test_a_partial_fill_of_an_order_that_ended_says_its_time_is_the_orders_last_update(storage: Storage) -> None:
    """Alpaca's order gives no fill time for an order partly filled and then ended (filled_at stays null): its fill
    is stamped at updated_at, the expiry, and says so, that no reader takes 21:00 for the time it traded."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)
        server.set_time(datetime(2026, 1, 6, 14, 31, tzinfo=UTC))
        server.partially_fill(CID, 4, 500.0)
        server.set_time(datetime(2026, 1, 6, 21, 0, tzinfo=UTC))
        server.end_order(CID, "expired")
        assert server.orders[CID]["filled_at"] is None  # as Alpaca has it: filled_at only for an order filled whole

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

        [fill] = [OrderFilled.from_event(e).fill for e in storage.events.read(type=OrderFilled.event_type())]
        assert fill.filled_at == datetime(2026, 1, 6, 21, 0, tzinfo=UTC)
        assert "filled_at is the order's last update" in fill.price_source and "not the trade's" in fill.price_source


def test_a_runs_ended_notes_read_nothing_from_the_store(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every checkpoint, weekly run and postmortem asks for its notes: a read by run and type there flushed the
    backtest's buffered writes and queried (statements per checkpoint 0.1 -> 5.1). The notes are kept as the ends
    are recorded; a run that recorded none costs nothing."""
    from llmtrade.brokers.order_ends import ended_notes

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)
        server.end_order(CID, "canceled")
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

        def no_reads(*args: object, **kwargs: object) -> None:
            raise AssertionError("ended_notes read the store")

        monkeypatch.setattr(storage.events, "read", no_reads)
        [note] = ended_notes(storage.events, "r2")
        assert f"acct_1's order open buy 10 SPY ({CID}) ended at alpaca, unfilled" in note
        assert ended_notes(storage.events, "a-run-that-recorded-no-end") == []


def test_a_checkpoint_says_the_weeks_order_alpaca_rejected_and_is_degraded(runs: Runs, alpaca: CountingAlpaca) -> None:  # noqa: F811
    state = alpaca.snapshot()
    primed = runs.primed()  # a run of its own: its orders reached the fake broker, which is put back
    alpaca.restore(state)
    name = runs.fresh(primed)
    runs.invoke(["run-weekly"], WEEKLY)  # before the open: the Alpaca account's orders wait for it
    queued = [cid for cid, o in alpaca.server.orders.items() if o["status"] == "accepted"]
    assert queued
    for cid in queued:
        alpaca.server.end_order(cid, "rejected")

    runs.monkeypatch.setenv("LLMTRADE_NOW", MIDDAY)
    result = CliRunner().invoke(app, ["checkpoint", "12:00", "--json"])

    assert result.exit_code == 0, result.output
    degraded = json.loads(result.stdout)["degraded"]
    for cid in queued:
        assert any(cid in note and "alpaca status rejected" in note for note in degraded), degraded
    ended = [e for _, t, e in runs.events(name) if t == "QueuedOrderCanceled"]
    assert sorted(e["client_order_id"] for e in ended) == sorted(queued)
    assert all(e["account_id"] == ALPACA_ACCOUNT and e["status"] == "rejected" for e in ended)
