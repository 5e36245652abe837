"""The kill switch is a wait someone chose, not a failure: an operator's trial turned trading off and every cron
wake-up after exited 1 with the same line, under -q too, a mail every five minutes until `trading enable`. Now a run
it stops exits 75, the first wake-up it blocks says so, the next say nothing, a checkpoint it kept past its deadline is
closed in one clause for the accounts stopped alike, and the first wake-up after `trading enable` sends the orders,
once."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events, wake_quietly

runner = CliRunner()


def _wake(monkeypatch: pytest.MonkeyPatch, at: str) -> tuple[int, str]:
    woke = wake_quietly(monkeypatch, at)
    return woke.exit_code, woke.output


def test_the_kill_switch_is_said_once_waited_on_and_its_orders_sent_once_after_enable(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _wake(monkeypatch, "08:00") == (0, "")  # the week's run: its orders queued for the open
    assert runner.invoke(app, ["trading", "disable", "--reason", "drill"]).exit_code == 0

    code, said = _wake(monkeypatch, "10:30")  # the 09:00 checkpoint's exits, blocked
    assert code == 75
    [line] = said.splitlines()
    assert "trading is disabled (drill)" in line and "order(s) not sent" in line, said
    assert _wake(monkeypatch, "10:35") == (75, "")  # the same wait: not said again
    blocked = stored_events(wednesday_week, type="OrderBlocked")
    assert blocked and all(e.payload["reason"] == "kill switch: drill" for e in blocked)

    code, said = _wake(monkeypatch, "12:00")  # past the 09:00 checkpoint's deadline: closed; the 12:00 one blocked
    assert code == 75
    [closed] = said.splitlines()
    assert re.search(r"^checkpoint:2026-01-07T09:00 closed: (acct_\d, )+acct_\d judged, not traded by the dead", closed)
    assert "failed: stage 'execute' failed: trading is disabled (drill)" in closed and "interrupted" not in closed
    assert closed.count("trading is disabled") == 1, closed  # one clause for the accounts stopped alike

    at_noon = {e.payload["client_order_id"] for e in stored_events(wednesday_week, type="OrderBlocked")[len(blocked) :]}
    sent_before = _sent(wednesday_week)
    assert at_noon and not at_noon & set(sent_before)

    assert runner.invoke(app, ["trading", "enable"]).exit_code == 0
    assert _wake(monkeypatch, "12:05")[0] == 0
    sent = _sent(wednesday_week)
    assert set(sent[len(sent_before) :]) == at_noon  # what the 12:00 checkpoint planned, sent now
    assert len(sent) == len(set(sent))  # each once
    assert _wake(monkeypatch, "12:10") == (0, "")


def _sent(url: str) -> list[str]:
    return [e.payload["order"]["client_order_id"] for e in stored_events(url, type="OrderSubmitted")]


def test_a_kill_switch_turned_off_again_is_said_again(wednesday_week: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _wake(monkeypatch, "08:00") == (0, "")
    runner.invoke(app, ["trading", "disable", "--reason", "first"])
    assert _wake(monkeypatch, "10:30")[0] == 75
    runner.invoke(app, ["trading", "enable"])
    runner.invoke(app, ["trading", "disable", "--reason", "second"])  # before any run sent the blocked orders
    code, said = _wake(monkeypatch, "10:35")
    assert code == 75 and "trading is disabled (second)" in said, said


def test_an_error_met_while_handling_the_kill_switch_is_a_wait_of_its_own() -> None:
    """The review of the change: a database lost while recording a run the kill switch stopped (its __context__ the
    KillSwitchOn) was taken for the kill switch's wait, said already, and left unsaid under -q."""
    from llmtrade.app.due_waits import Waits
    from llmtrade.errors import DatabaseUnavailable, KillSwitchOn, StageError

    waits = Waits(kill_switch_said=True)
    blocked = StageError("execute", KillSwitchOn("trading is disabled (drill): 5 order(s) not sent"))
    waits.add(blocked)
    try:
        try:
            raise blocked
        except StageError:
            raise DatabaseUnavailable("the database did not answer") from None
    except DatabaseUnavailable as lost:
        lost.__context__ = blocked  # as raised while handling it, whatever `from None` hid
        waits.add(lost)
    assert waits.repeated == [blocked] and not waits.said_before()
