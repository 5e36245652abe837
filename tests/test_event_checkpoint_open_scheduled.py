"""An account whose part of the day's scheduled checkpoint is unfinished fires no event checkpoint until that
checkpoint finishes or is closed, on a real PostgreSQL through `run-due` with the clock set (the market of
tests/test_event_checkpoint.py: acct_2 FLIPs out of its long TLT at 12:00, TLT moves 7% at 13:10).

The 12:00 run is killed just after the broker took acct_2's first order, unrecorded. At 13:17 its resume cannot ask
the broker about that order (a timeout: the wake-up's exit 75). A wake-up's pieces run independently now, so the event
checkpoints ran next, and TLT's move fired acct_2's and judged it again on the positions of a plan half sent, before
anyone knew what the broker held of it; the resume then sends the rest of the 12:00 plan."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.errors import TemporaryError
from llmtrade.workflows import execution
from tests.support import stored_events
from tests.test_checkpoint_interrupted import _killed_after_the_broker_took
from tests.test_event_checkpoint import _intraday, market  # noqa: F401 (the fixture)

runner = CliRunner()


def test_no_event_checkpoint_for_an_account_whose_scheduled_checkpoint_has_its_orders_unknown(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, closes, tmp_path = market
    _intraday(tmp_path / "csv", "TLT", closes["TLT"], [("13:10", 1.07)])
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    assert runner.invoke(app, ["run-due"]).exit_code == 0
    with monkeypatch.context() as kill:
        _killed_after_the_broker_took(kill, "acct_2")
        kill.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
        assert runner.invoke(app, ["run-due"]).exit_code != 0
    recover = execution.recover_orders

    def noon_unanswered(events: Any, broker: Any, plan: Any, **kwargs: Any) -> Any:
        if any("0107T1200" in o.client_order_id for o in plan.orders):
            raise TemporaryError("the broker did not answer")
        return recover(events, broker, plan, **kwargs)

    with monkeypatch.context() as down:
        down.setattr(execution, "recover_orders", noon_unanswered)
        down.setenv("LLMTRADE_NOW", "2026-01-07T13:17:00-05:00")
        woke = runner.invoke(app, ["run-due"])
    assert woke.exit_code == 75, woke.output
    assert "the broker did not answer" in woke.stderr, woke.stderr
    assert not [e for e in stored_events(url, type="EventCheckpointTriggered") if e.account_id == "acct_2"]

    # The broker back, the 12:00 checkpoint finishes; acct_2's move is measured from its judgement then.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T13:22:00-05:00")
    again = runner.invoke(app, ["run-due"])
    assert again.exit_code == 0, again.output
    assert "ran checkpoint:2026-01-07T12:00" in again.stdout
