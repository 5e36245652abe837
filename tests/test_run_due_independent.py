"""One run-due wake-up's pieces of work run independently, on a real PostgreSQL through `run-due` with the clock set
(the market of tests/test_event_checkpoint.py: one scheduled checkpoint a day, 12:00; acct_2 short TLT after its
12:00 FLIP, acct_4 long QQQ). TLT and QQQ both move 7% at 13:10, so both accounts' event checkpoints fire at 13:17;
acct_2's owner is unavailable, so its checkpoint waits (exit 75). acct_4's event checkpoint and the discovery forward
returns of the same wake-up used to be held back by it until acct_2's cleared; now they run, and the exit code still
says what waits."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app import due_run, event_checkpoints
from llmtrade.cli import app
from llmtrade.errors import OperationalError, TemporaryError
from llmtrade.stops import Terminated
from tests.support import stored_events
from tests.test_event_checkpoint import (
    _intraday,
    _through_noon,
    market,  # noqa: F401 (the fixture)
)

runner = CliRunner()
TLT_KEY = "checkpoint:2026-01-07T13:17:event:acct_2"
QQQ_KEY = "checkpoint:2026-01-07T13:17:event:acct_4"


def _gemini_down(fake: Any) -> None:
    """acct_2's owner (gemini) answers 503; every other model answers as scripted."""

    def behaviour(body: dict[str, Any]) -> httpx.Response:
        if body["model"] == "google/gemini-3-pro-preview":
            return httpx.Response(503, json={"error": {"message": "overloaded"}})
        return httpx.Response(200, json=fake.answer(body))

    fake.behaviour = behaviour


def _both_fire_at_1317(world: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """TLT moves 7% at 13:10 too and the week is run through noon, so acct_2's and acct_4's event checkpoints both fire
    at 13:17; the instants the discovery forward returns are looked at from then on are kept in the list returned."""
    _, _, closes, tmp_path = world
    _intraday(tmp_path / "csv", "TLT", closes["TLT"], [("13:10", 1.07)])
    _through_noon(monkeypatch)
    filled: list[str] = []
    fill = due_run.fill_forward_returns
    monkeypatch.setattr(due_run, "fill_forward_returns", lambda a: filled.append(a.clock.now().isoformat()) or fill(a))
    return filled


def test_one_event_checkpoint_waiting_holds_back_neither_the_others_nor_the_forward_returns_and_still_exits_75(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url, _, _ = market
    filled = _both_fire_at_1317(market, monkeypatch)
    _gemini_down(fake)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T13:17:00-05:00")
    woke = runner.invoke(app, ["run-due"])
    assert woke.exit_code == 75, woke.output
    fired = {e.payload["key"] for e in stored_events(url, type="EventCheckpointTriggered")}
    assert fired == {TLT_KEY, QQQ_KEY}
    # acct_4's checkpoint ran to its end in the same wake-up, after acct_2's stopped.
    markers = [e.payload["time"] for e in stored_events(url, type="CheckpointCompleted") if ":event:" in e.stream]
    assert markers == ["13:17:event:acct_4"]
    assert f"ran {QQQ_KEY}" in woke.stdout
    assert filled == ["2026-01-07T18:17:00+00:00"]  # 13:17 New York (UTC, as clocks read): looked at
    # The one error line names what waits: acct_2's owner.
    assert "acct_2" in woke.stderr and "gemini" in woke.stderr, woke.stderr
    # The next wake-up, the owner back, finishes acct_2's and repeats nothing of acct_4's.
    fake.behaviour = None
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T13:22:00-05:00")
    again = runner.invoke(app, ["run-due"])
    assert again.exit_code == 0, again.output
    markers = [e.payload["time"] for e in stored_events(url, type="CheckpointCompleted") if ":event:" in e.stream]
    assert sorted(markers) == ["13:17:event:acct_2", "13:17:event:acct_4"]


def test_a_piece_stopped_by_sigterm_stops_the_wake_up_though_its_way_out_reads_as_a_lost_database(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM raised inside a psycopg pipeline leaves it busy, and the cleanup's error (a lost database, exit 75 on
    its own) is what reaches run-due. Taken for a wait, the next pieces ran after the stop: the scheduled weekly run
    and checkpoint (orders), the forward returns."""

    def closing_stopped(_app: Any) -> None:
        try:
            raise Terminated
        except Terminated:
            raise psycopg.OperationalError("cannot exit pipeline mode while busy") from None

    ran: list[str] = []
    monkeypatch.setattr(due_run, "close_expired_checkpoints", closing_stopped)
    monkeypatch.setattr(due_run, "due", lambda a: ran.append("due") or [])
    monkeypatch.setattr(due_run, "run_event_checkpoints", lambda a, w: ran.append("event checkpoints") or [])
    monkeypatch.setattr(due_run, "fill_forward_returns", lambda a: ran.append("forward returns"))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T13:17:00-05:00")
    woke = runner.invoke(app, ["run-due"])
    assert woke.exit_code == 143, woke.output
    assert ran == []


def test_one_event_checkpoint_failing_operationally_holds_back_neither_the_others_nor_the_forward_returns(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """acct_2's checkpoint fails with an operational error (exit 1: someone must look; here raised in its place, as a
    broker refusing the account's key would): acct_4's event checkpoint in the same wake-up was never run, nor the
    forward returns, till a human mended acct_2's. Now they run, and the exit is still 1."""
    _, url, _, _ = market
    filled = _both_fire_at_1317(market, monkeypatch)
    checkpoint = event_checkpoints.run_checkpoint

    def refused(app: Any, storage: Any, *, slot: Any, **kwargs: Any) -> Any:
        if slot.event_for == "acct_2":
            raise OperationalError("alpaca refused acct_2's key (HTTP 403): set ALPACA_ACCT_2_KEY")
        return checkpoint(app, storage, slot=slot, **kwargs)

    monkeypatch.setattr(event_checkpoints, "run_checkpoint", refused)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T13:17:00-05:00")
    woke = runner.invoke(app, ["run-due"])
    assert woke.exit_code == 1, woke.output
    markers = [e.payload["time"] for e in stored_events(url, type="CheckpointCompleted") if ":event:" in e.stream]
    assert markers == ["13:17:event:acct_4"]
    assert f"ran {QQQ_KEY}" in woke.stdout
    assert filled == ["2026-01-07T18:17:00+00:00"]  # 13:17 New York, in UTC as every clock reads
    assert "refused acct_2's key" in woke.stderr and "Traceback" not in woke.output, woke.stderr
    # Under --quiet too the failure is said (a failure is never a wait said before), and acct_4's is not run again.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T13:22:00-05:00")
    again = runner.invoke(app, ["-q", "run-due"])
    assert again.exit_code == 1 and "refused acct_2's key" in again.stderr, again.output
    markers = [e.payload["time"] for e in stored_events(url, type="CheckpointCompleted") if ":event:" in e.stream]
    assert markers == ["13:17:event:acct_4"]


def test_a_failure_and_a_wait_in_one_wake_up_are_both_said_and_the_exit_is_the_failures(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """acct_2's checkpoint fails (exit 1) while acct_4's waits (its owner down): the wait's line is said beside the
    failure's, else the next --quiet wake-up would take the wait for one said already and never mail it."""
    _both_fire_at_1317(market, monkeypatch)

    def refused(app: Any, storage: Any, *, slot: Any, **kwargs: Any) -> Any:
        if slot.event_for == "acct_2":
            raise OperationalError("alpaca refused acct_2's key (HTTP 403): set ALPACA_ACCT_2_KEY")
        raise TemporaryError("acct_4: QQQ halted, no price since 13:10")

    monkeypatch.setattr(event_checkpoints, "run_checkpoint", refused)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T13:17:00-05:00")
    woke = runner.invoke(app, ["-q", "run-due"])
    assert woke.exit_code == 1, woke.output
    assert "refused acct_2's key" in woke.stderr and "QQQ halted" in woke.stderr, woke.stderr
