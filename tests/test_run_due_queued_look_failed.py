"""run-due before the open looks at the brokers for orders queued for it (app/due_run.py `_queued_for_the_open`),
so as not to start a weekly run that would only stop at them. That look ran outside any run: a broker that did not
answer it (Alpaca's 503 on its order list, found by benchmarks/fault_soak.py) ended the wake-up with exit 75 and no
event at all, no RunStarted, no RunFailed: nothing in the books said the week's run had been held, or why. The look
is a courtesy; when it fails, the weekly run goes on and meets the broker itself, inside a recorded run (its own gate
still holds it for queued orders)."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.app import due_run
from llmtrade.cli import app
from llmtrade.errors import BrokerUnavailable
from tests.support import WEDNESDAY_8AM, stored_events

runner = CliRunner()


def test_a_broker_that_fails_run_dues_look_for_queued_orders_leaves_the_weekly_run_to_meet_it(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unanswered(_desk: Any) -> list[str]:
        raise BrokerUnavailable("alpaca (http://127.0.0.1:1) failed the orders (HTTP 503: service unavailable)")

    monkeypatch.setattr(due_run, "queued_order_ids", unanswered)
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)  # before the open: run-due looks for queued orders first

    woke = runner.invoke(app, ["-q", "run-due", "--offline"])

    assert woke.exit_code == 0, woke.output  # the run itself reads the (paper) brokers fine
    url = cli_env["DATABASE_URL"]
    assert [e.payload["command"] for e in stored_events(url, type="RunStarted")] == ["run-weekly"]
    assert len(stored_events(url, type="WeekCompleted")) == 1
