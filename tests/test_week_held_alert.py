"""An account whose week the weekly run held back (an Alpaca cancel stuck in pending_cancel for hours) was alerted to
a cron user only as "run-weekly finished degraded": no word of which account, which order, why or what to do, and a
hold lasting days said nothing more. One alert tells each hold now (the account, its orders, why, what to do), not
again at every wake-up while the same hold lasts, and once more when it changes. Through the CLI, the real alpaca-py
client against the loopback fake, the alerts to a loopback apprise json:// sink."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

from tests.test_alerts import HttpSink
from tests.test_checkpoint_stuck_cancel import STUCK, _stuck_cancel
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    KEY,
    SECRET,
    WEEKLY,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)

NEXT_WEEK = "2026-01-14"
QUEUED = "lt-20260107-acct_1-GLD-queued"


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    http = HttpSink()
    yield http
    http.stop()


def _held_alerts(sink: HttpSink) -> list[dict[str, Any]]:
    return [m for m in sink.received if "held back" in str(m.get("title", ""))]


def test_a_held_account_is_alerted_once_per_hold_naming_its_orders_why_and_what_to_do(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
    sink: HttpSink,
) -> None:
    runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)
    _stuck_cancel(alpaca)
    runs.monkeypatch.setenv("LLMTRADE_ALERT_URLS", sink.url)

    runs.invoke(["run-weekly"], f"{NEXT_WEEK}T08:00:00-05:00")

    [alert] = _held_alerts(sink)
    assert f"{ALPACA_ACCOUNT}'s week {NEXT_WEEK} held back (1 order(s), 1 canceling" in alert["title"], alert
    body = alert["message"]
    assert STUCK in body and "pending_cancel" in body and "Alpaca's support" in body and "run-weekly" in body, body

    # The same hold at every wake-up: said by the run, not alerted again.
    runs.invoke(["run-weekly"], f"{NEXT_WEEK}T08:30:00-05:00")
    runs.invoke(["run-due"], f"{NEXT_WEEK}T08:35:00-05:00")
    assert len(_held_alerts(sink)) == 1

    # The hold changes (another order of llmtrade's queued beside the stuck cancel): one more alert, naming both.
    person = TradingClient(KEY, SECRET, paper=True, url_override=alpaca.server.base_url)
    alpaca.server.hold_cancels = False
    person.submit_order(
        MarketOrderRequest(
            symbol="GLD", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id=QUEUED
        )
    )
    runs.invoke(["run-due"], f"{NEXT_WEEK}T08:40:00-05:00")
    runs.invoke(["run-due"], f"{NEXT_WEEK}T08:45:00-05:00")
    _, changed = _held_alerts(sink)
    assert "2 order(s), 1 canceling" in changed["title"], changed
    assert QUEUED in changed["message"] and STUCK in changed["message"], changed
