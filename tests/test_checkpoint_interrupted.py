"""A checkpoint killed mid-run (SIGKILL, the OOM killer: no StageDeferred, no RunFailed, nothing after the kill) on a
real PostgreSQL, driven by `run-due` with the clock set (the scripted week of tests/test_week_lifecycle.py: SPY opens
10% down, under acct_1's and acct_5's frozen stop, so the 12:00 checkpoint exits both by rule).

The 12:00 run is killed just after the broker took acct_1's exit, before its answer was recorded, and the machine
stays off until 14:01, past the checkpoint's deadline (the 14:00 checkpoint). The deadline code looked only for the
last StageDeferred's waiting accounts, so a killed checkpoint was never closed: no marker, acct_1's filled order
recorded nowhere. Now it is closed, the broker asked first, with a reason saying the run was interrupted."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.app import runs
from llmtrade.cli import app
from llmtrade.domain.trading import Order, OrderRejected, OrderSubmitted
from llmtrade.workflows import checkpoint_ask, execution
from tests.support import stored_events
from tests.test_checkpoint_deadline_orders import submitted, unrecorded_exit
from tests.test_event_checkpoint import EVENT_KEY, _through_noon, market  # noqa: F401 (the fixture)
from tests.test_week_lifecycle import week  # noqa: F401 (the fixture)

runner = CliRunner()
NOON = "week:2026-01-07:checkpoint:2026-01-07T12:00"


class Killed(RuntimeError):
    """Where the process dies; with RunLog.failed silenced the store holds what a SIGKILL leaves."""


def _killed_after_the_broker_took(monkeypatch: pytest.MonkeyPatch, account_id: str) -> None:
    sent = execution._send

    def taken_then_killed(broker: Any, order: Order) -> OrderSubmitted | OrderRejected:
        result = sent(broker, order)
        if order.account_id == account_id:
            raise Killed("SIGKILL")
        return result

    monkeypatch.setattr(execution, "_send", taken_then_killed)
    monkeypatch.setattr(runs.RunLog, "failed", lambda self, error: None)


def killed_at_noon(url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The week run, then its 12:00 checkpoint killed (at 12:01) just after the broker took acct_1's exit: the order,
    not recorded."""
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    with monkeypatch.context() as kill:
        _killed_after_the_broker_took(kill, "acct_1")
        kill.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
        assert runner.invoke(app, ["run-due"]).exit_code != 0
    return unrecorded_exit(url, f"{NOON}:acct_1")


def test_a_checkpoint_killed_mid_run_is_closed_past_its_deadline_as_interrupted_asking_the_broker_first(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, _ = week
    exit_order = killed_at_noon(url, monkeypatch)
    assert not stored_events(url, type="StageDeferred") and not stored_events(url, type="RunFailed")

    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:01:00-05:00")
    closing = runner.invoke(app, ["run-due"])
    assert closing.exit_code == 0, closing.output
    [line] = [s for s in closing.output.splitlines() if "checkpoint:2026-01-07T12:00 closed" in s]
    assert f"acct_1 judged, orders at the broker (sell {exit_order['qty']} SPY filled)" in line, line
    assert "interrupted" in line, line
    markers = [e.stream for e in stored_events(url, type="CheckpointCompleted")]
    assert markers == [NOON, "week:2026-01-07:checkpoint:2026-01-07T14:00"]
    assert submitted(url, exit_order)["result"]["status"] == "filled"
    [missing] = stored_events(url, type="InputsMissing", stream=f"{NOON}:acct_1")
    assert "interrupted" in missing.payload["errors"][0] and "not traded" not in missing.payload["errors"][0]
    # Only what the killed run had not finished is closed: no account whose part was done gets a line.
    closed = {e.account_id for e in stored_events(url, type="InputsMissing") if e.stream.startswith(NOON)}
    done = {
        e.account_id
        for e in stored_events(url, type="OrderSubmitted")
        if "0107T1200" in e.payload["order"]["client_order_id"]
    }
    assert "acct_1" in closed and not closed & (done - {"acct_1"})


def test_an_event_checkpoint_killed_mid_run_is_closed_past_its_deadline_as_interrupted(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """acct_4's event checkpoint (QQQ's 7% move at 13:17) is killed while its owner is asked; the machine is off until
    after the close. Its closing said "no run finished it", as if no run had begun; now it says it was interrupted."""
    _, url, _, _ = market
    _through_noon(monkeypatch)

    async def killed(self: Any, context: Any) -> Any:
        raise Killed("SIGKILL")

    with monkeypatch.context() as kill:
        kill.setattr(checkpoint_ask.AskStage, "run", killed)
        kill.setattr(runs.RunLog, "failed", lambda self, error: None)
        kill.setenv("LLMTRADE_NOW", "2026-01-07T13:17:00-05:00")
        assert runner.invoke(app, ["run-due"]).exit_code != 0
    assert not stored_events(url, type="StageDeferred") and not stored_events(url, type="RunFailed")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T16:05:00-05:00")
    closing = runner.invoke(app, ["-q", "run-due"])
    assert closing.exit_code == 0, closing.output
    [line] = closing.output.splitlines()
    assert line.startswith(f"{EVENT_KEY} closed: acct_4 not judged by the deadline 2026-01-07T16:00:00-05:00"), line
    assert "interrupted: its run" in line and "ended without a word (killed?)" in line, line


def test_a_killed_checkpoint_closed_past_its_deadline_is_recorded_killed_when_it_was_last_alive_not_at_its_closing(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The closing records its events under the killed run's id (its trace shows them); the RunKilled recorded by the
    same wake-up took the closing's CheckpointCompleted as the run's last event, so the alert, `status` and the
    metrics said the run was last alive at 14:01, when it had died at 12:01."""
    _, url, _ = week
    killed_at_noon(url, monkeypatch)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:01:00-05:00")
    assert runner.invoke(app, ["run-due"]).exit_code == 0
    [killed] = stored_events(url, type="RunKilled")
    assert killed.payload["last_event_at"].startswith("2026-01-07T17:01"), killed.payload
    assert killed.payload["last_event_type"] != "CheckpointCompleted", killed.payload
    assert killed.payload["found_by"] == "run-due", killed.payload
