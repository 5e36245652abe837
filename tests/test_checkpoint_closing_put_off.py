"""run-due's closing of a checkpoint past its deadline, put off, is said and recorded (ClosingPutOff) and shown by
`status` until it happens, on a real PostgreSQL through `run-due` with the clock set. It used to be put off without a
word: another run of the week holding its lock was passed over in silence, and a broker that did not answer was
taken for that too, so nothing said why the checkpoint stayed open."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.errors import TemporaryError
from llmtrade.workflows import checkpoint_close
from llmtrade.workflows.weekly import week_lock
from tests.support import stored_events
from tests.test_checkpoint_deadline_orders import submitted
from tests.test_checkpoint_interrupted import killed_at_noon
from tests.test_event_checkpoint import EVENT_KEY, market  # noqa: F401 (the fixture)
from tests.test_event_checkpoint_deadline import _waiting_from_1317
from tests.test_week_lifecycle import WEDNESDAY, week  # noqa: F401 (the fixture)

runner = CliRunner()


def _put_off(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    return list(json.loads(shown.stdout)["closings_put_off"])


def test_a_closing_put_off_by_another_run_holding_the_week_is_said_recorded_and_shown_until_done(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url, closes, tmp_path = market
    _waiting_from_1317(fake, closes, tmp_path, monkeypatch)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T16:05:00-05:00")
    with psycopg.connect(url, autocommit=True) as other, week_lock(other, WEDNESDAY, command="checkpoint"):
        quiet = runner.invoke(app, ["-q", "run-due"])
        said = runner.invoke(app, ["run-due"])
    assert (quiet.exit_code, quiet.output) == (0, "")  # a wake-up overlapping a long run is no fault
    assert said.exit_code == 0, said.output
    [line] = [s for s in said.output.splitlines() if "left to the next run-due" in s]
    assert line.startswith(f"closing of {EVENT_KEY} (past the deadline) left to the next run-due: another checkpoint")
    put_off = stored_events(url, type="ClosingPutOff")
    assert [e.payload["checkpoints"] for e in put_off] == [[EVENT_KEY]] * 2
    [shown] = _put_off(monkeypatch)
    assert shown["job"] == EVENT_KEY and "another checkpoint for week 2026-01-07 is running" in shown["reason"]
    assert "past their deadline, not closed yet" in runner.invoke(app, ["status"]).stdout

    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T16:10:00-05:00")
    closed = runner.invoke(app, ["-q", "run-due"])
    assert closed.exit_code == 0 and f"{EVENT_KEY} closed" in closed.output, closed.output
    assert _put_off(monkeypatch) == []


def test_a_closing_put_off_by_a_broker_not_answering_exits_75_naming_it_and_the_next_wake_up_closes_it(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, _ = week
    exit_order = killed_at_noon(url, monkeypatch)

    def unanswered(*args: Any, **kwargs: Any) -> Any:
        raise TemporaryError("the broker did not answer")

    with monkeypatch.context() as down:
        down.setattr(checkpoint_close, "recover_order_events", unanswered)
        down.setenv("LLMTRADE_NOW", "2026-01-07T14:01:00-05:00")
        woke = runner.invoke(app, ["-q", "run-due"])
        assert woke.exit_code == 75, woke.output
        assert "the broker did not answer" in woke.stderr
        assert "closing of checkpoint:2026-01-07T12:00 (past the deadline) left to the next run-due" in woke.stderr
        [shown] = _put_off(monkeypatch)
    assert shown["job"] == "checkpoint:2026-01-07T12:00" and shown["reason"] == "the broker did not answer"
    # The wake-up went on: the 14:00 checkpoint ran.
    assert [e.payload["time"] for e in stored_events(url, type="CheckpointCompleted")] == ["14:00"]

    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:06:00-05:00")
    closed = runner.invoke(app, ["-q", "run-due"])
    assert closed.exit_code == 0, closed.output
    assert "checkpoint:2026-01-07T12:00 closed" in closed.output
    assert submitted(url, exit_order)["result"]["status"] == "filled"
    assert _put_off(monkeypatch) == []
