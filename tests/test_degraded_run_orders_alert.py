"""A run degraded by orders that did not go is alerted with each order and why.

Before, an order the broker refused (Alpaca's "insufficient buying power", a wash trade, a cross through zero), a
plan given up, an order the breaker blocked or one the broker ended unfilled reached a cron user as one line: "Run r of
checkpoint ... finished without some of its inputs or orders; `llmtrade status` names them": no order, no reason. The
events named both; the alert, the one thing a cron user reads, named neither."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from llmtrade.alerts.incidents import find_incidents
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.checkpoints import OrderBlocked
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.runs import RunFinished
from llmtrade.domain.trading import Order, OrderRejected, OrderStatus, PlanAbandoned, QueuedOrderCanceled, Side
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW

CONFIG = load_config(None).config
WEEK = date(2026, 1, 7)


def _append(events: EventStore, payload: EventPayload, stream: str, **ids: Any) -> None:
    events.append([NewEvent.of(payload, stream=stream, **ids)])


def _finished(events: EventStore, run_id: str, *, degraded: bool = True) -> None:
    finished = RunFinished(
        command="checkpoint",
        degraded=degraded,
        llm_calls=0,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0,
        duration_ms=1,
    )
    _append(events, finished, f"run:{run_id}", run_id=run_id, week_id=WEEK)


def _order(symbol: str, side: Side, qty: int, intent: str) -> Order:
    cid = f"lt-20260107-acct_1-{symbol}-{intent}"
    return Order(
        account_id="acct_1", week_id=WEEK, symbol=symbol, side=side, qty=qty, client_order_id=cid, intent=intent
    )


def test_a_degraded_runs_alert_names_each_order_that_did_not_go_and_why(storage: Storage) -> None:
    events = EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(hours=1)))
    ids = {"run_id": "r1", "week_id": WEEK, "account_id": "acct_1"}
    refused = OrderRejected(
        order=_order("QQQ", Side.BUY, 10, "open"),
        broker="alpaca",
        reason="alpaca rejected order lt-20260107-acct_1-QQQ-open (buy 10 QQQ): insufficient buying power (HTTP 403)",
    )
    _append(events, refused, "week:2026-01-07:orders", **ids)
    gone = PlanAbandoned(
        account_id="acct_1",
        broker="alpaca",
        reason="SPY is held at -5, the plan assumed 10",
        client_order_ids=["lt-20260107-acct_1-SPY-close"],
        planned_positions={"SPY": 10},
        actual_positions={"SPY": -5},
    )
    _append(events, gone, "week:2026-01-07:orders", **ids)
    blocked = OrderBlocked(
        client_order_id="lt-20260107-acct_1-GLD-open", account_id="acct_1", reason="circuit breaker: drawdown 21%"
    )
    _append(events, blocked, "week:2026-01-07:orders", **ids)
    ended = QueuedOrderCanceled(
        account_id="acct_1",
        client_order_id="lt-20260107-acct_1-TLT-open",
        reason="alpaca status rejected at 2026-01-07 14:30 UTC",
        status=OrderStatus.REJECTED,
    )
    _append(events, ended, "fill:acct_1:lt-20260107-acct_1-TLT-open", **ids)
    _finished(events, "r1")
    # Another run's refusal is not this run's.
    other = OrderRejected(order=_order("IWM", Side.BUY, 3, "open"), broker="alpaca", reason="elsewhere")
    _append(events, other, "week:2026-01-07:orders", run_id="r0", week_id=WEEK, account_id="acct_1")

    [incident] = [i for i in find_incidents(events, CONFIG, FIXED_NOW, silence=False) if i.kind == "run-degraded"]

    assert "acct_1's open buy 10 QQQ refused by alpaca: " in incident.body
    assert "insufficient buying power (HTTP 403)" in incident.body
    assert "acct_1's plan given up (lt-20260107-acct_1-SPY-close): SPY is held at -5, the plan assumed 10" in (
        incident.body
    )
    assert "acct_1's order lt-20260107-acct_1-GLD-open blocked: circuit breaker: drawdown 21%" in incident.body
    assert "acct_1's order lt-20260107-acct_1-TLT-open ended unfilled: alpaca status rejected at" in incident.body
    assert "elsewhere" not in incident.body
    assert "4 order(s)" in incident.title


def test_a_degraded_run_without_orders_undone_is_alerted_as_before(storage: Storage) -> None:
    events = EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(hours=1)))
    _finished(events, "r2")
    [incident] = [i for i in find_incidents(events, CONFIG, FIXED_NOW, silence=False) if i.kind == "run-degraded"]
    assert incident.title == "llmtrade: checkpoint finished degraded"
    assert "`llmtrade status` names them" in incident.body
