"""When the weekly run is due again for an account it held back (workflows/week_holds.py `held_week_due`): still held,
or planned by a run killed before it sent the plan; never for a plan whose orders the breaker blocked (a rerun would
block them again and record another OrderBlocked at every wake-up until the week's end)."""

from __future__ import annotations

from datetime import date

from llmtrade.domain.account_events import AccountWeekHeld
from llmtrade.domain.checkpoints import KILL_SWITCH_BLOCK, OrderBlocked
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.streams import ORDERS, RISK, week_stream
from llmtrade.domain.trading import Order, OrdersPlanned, Side
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.week_holds import held_week_due

WEEK = date(2026, 1, 7)
ORDER = Order(
    client_order_id="lt-20260107-acct_1-TLT-open",
    account_id="acct_1",
    week_id=WEEK,
    symbol="TLT",
    side=Side.BUY,
    qty=10,
    intent="open",
)


def _append(storage: Storage, kind: str, *payloads: EventPayload) -> None:
    stream = week_stream(WEEK, kind)
    storage.events.append([NewEvent.of(p, stream=stream, week_id=WEEK, account_id="acct_1") for p in payloads])


def _held_then_planned(storage: Storage) -> None:
    held = AccountWeekHeld(account_id="acct_1", broker="alpaca", orders=["x"], canceling=["x"], reason="held")
    plan = OrdersPlanned(account_id="acct_1", broker="alpaca", orders=[ORDER], positions_before={})
    _append(storage, RISK, held, plan)


def test_a_plan_blocked_by_the_breaker_does_not_keep_the_week_due(storage: Storage) -> None:
    _held_then_planned(storage)
    assert held_week_due(storage.events, WEEK)  # planned, nothing of it recorded: a killed run's
    breaker = "circuit breaker: drawdown; a halted account may only reduce or close"
    _append(storage, ORDERS, OrderBlocked(client_order_id=ORDER.client_order_id, account_id="acct_1", reason=breaker))
    assert not held_week_due(storage.events, WEEK)


def test_a_plan_blocked_by_the_kill_switch_keeps_the_week_due_to_send_it_once_trading_is_enabled(
    storage: Storage,
) -> None:
    _held_then_planned(storage)
    blocked = OrderBlocked(client_order_id=ORDER.client_order_id, account_id="acct_1", reason=f"{KILL_SWITCH_BLOCK}x")
    _append(storage, ORDERS, blocked)
    assert held_week_due(storage.events, WEEK)
