"""A checkpoint closed past its deadline asks the broker before calling an account "not traded", on a real PostgreSQL,
driven by `run-due` with the clock set (the scripted week of tests/test_week_lifecycle.py: acct_1 and acct_5 hold SPY,
whose frozen stop is 3% under Tuesday's close; SPY opens 10% down, so the 12:00 checkpoint exits both by rule).

acct_1's exit reaches the paper broker, but the answer is lost (a timeout: the run stops with exit 75 before
OrderSubmitted is written). SPY then crashes to a quarter of Tuesday's close (a 4-for-1 split's factor, no split
recorded: no price), so every rerun leaves acct_1 waiting, until the checkpoint's deadline (14:00). Closing it then
as "judged, not traded" would be false: the broker holds (and filled) the order. It is recorded from the broker's
answer and the closing names it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.trading import Order, OrderRejected, OrderSubmitted
from llmtrade.errors import TemporaryError
from llmtrade.workflows import execution
from tests.support import stored_events
from tests.test_event_checkpoint import _intraday
from tests.test_week_lifecycle import week  # noqa: F401 (the fixture)

runner = CliRunner()
ACCT_1 = "week:2026-01-07:checkpoint:2026-01-07T12:00:acct_1"


def _answer_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """acct_1's SPY order is taken by the broker, then its answer is lost."""
    sent = execution._send

    def taken_then_lost(broker: Any, order: Order) -> OrderSubmitted | OrderRejected:
        result = sent(broker, order)
        if order.account_id == "acct_1" and order.symbol == "SPY":
            raise TemporaryError("the broker did not answer in time")
        return result

    monkeypatch.setattr(execution, "_send", taken_then_lost)


def unrecorded_exit(url: str, stream: str) -> dict[str, Any]:
    """The one order of the account checkpoint `stream`'s plan, asserted not recorded as submitted."""
    [plan] = stored_events(url, type="OrdersPlanned", stream=stream)
    [order] = plan.payload["orders"]
    cid = order["client_order_id"]
    assert not [e for e in stored_events(url, type="OrderSubmitted") if e.payload["order"]["client_order_id"] == cid]
    return dict(order)


def submitted(url: str, order: dict[str, Any]) -> dict[str, Any]:
    """The one OrderSubmitted recorded for `order` (its payload)."""
    cid = order["client_order_id"]
    [found] = [e for e in stored_events(url, type="OrderSubmitted") if e.payload["order"]["client_order_id"] == cid]
    return dict(found.payload)


def test_a_checkpoint_closed_past_its_deadline_records_the_orders_its_broker_took_not_judged_not_traded(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, url, closes = week
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    _intraday(tmp_path / "csv", "SPY", closes["SPY"], [("09:30", 0.90), ("12:10", 0.25)])
    with monkeypatch.context() as lost:
        _answer_lost(lost)
        lost.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
        stopped = runner.invoke(app, ["run-due"])
        assert stopped.exit_code == 75, stopped.output
    exit_order = unrecorded_exit(url, ACCT_1)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:30:00-05:00")
    waiting = runner.invoke(app, ["run-due"])
    assert waiting.exit_code == 75, waiting.output
    assert "acct_1: SPY" in waiting.output, waiting.output
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:01:00-05:00")
    closing = runner.invoke(app, ["run-due"])
    [line] = [s for s in closing.output.splitlines() if "checkpoint:2026-01-07T12:00 closed" in s]
    assert f"acct_1 judged, orders at the broker (sell {exit_order['qty']} SPY filled)" in line, line
    assert submitted(url, exit_order)["result"]["status"] == "filled"
    [missing] = stored_events(url, type="InputsMissing", stream=ACCT_1)
    assert "not traded" not in missing.payload["errors"][0]
