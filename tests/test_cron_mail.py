"""`-q run-due` from cron with MAILTO mails whatever it prints: one message when a checkpoint's wait starts and one
when it ends (finished, or closed past its deadline), not one every five minutes between. Through `run-due` with
the clock set, on a real PostgreSQL (the market of tests/test_event_checkpoint.py: acct_4's event checkpoint fires at
13:17 on QQQ's 7% move)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events
from tests.test_event_checkpoint import EVENT_KEY, _through_noon, market  # noqa: F401 (the fixture)
from tests.test_event_checkpoint_deadline import _waiting_from_1317

runner = CliRunner()


def _wake(monkeypatch: pytest.MonkeyPatch, instant: str) -> tuple[int, str]:
    monkeypatch.setenv("LLMTRADE_NOW", instant)
    woke = runner.invoke(app, ["-q", "run-due"])
    return woke.exit_code, woke.output


def _no_retries(folder: Path) -> None:
    """The market's models with max_retries 0: an outage met at once, not backed off for seconds at each wake-up."""
    models = folder / "config" / "models.yaml"
    models.write_text(models.read_text(encoding="utf-8").replace("max_retries: 4", "max_retries: 0"), encoding="utf-8")


def test_a_wait_is_mailed_when_it_starts_and_when_it_ends_and_the_wake_ups_between_exit_75_saying_nothing(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url, _, tmp_path = market
    _through_noon(monkeypatch)
    _no_retries(tmp_path)
    fake.behaviour = lambda body: httpx.Response(503, json={"error": {"message": "overloaded"}})
    code, said = _wake(monkeypatch, "2026-01-07T13:17:00-05:00")
    assert code == 75 and "acct_4" in said and "overloaded" in said, said  # the start: said
    for instant in ("2026-01-07T13:22:00-05:00", "2026-01-07T13:27:00-05:00"):
        assert _wake(monkeypatch, instant) == (75, "")  # the same wait: quiet, still 75
    assert len(stored_events(url, type="StageDeferred")) == 3  # each attempt recorded
    fake.behaviour = None
    code, said = _wake(monkeypatch, "2026-01-07T13:32:00-05:00")
    assert code == 0, said
    [line] = said.splitlines()  # the end: one line
    assert line.startswith(f"{EVENT_KEY} finished: it waited since 13:17 (acct_4; 3 attempt(s) deferred)"), line
    assert _wake(monkeypatch, "2026-01-07T13:37:00-05:00") == (0, "")


def test_a_wait_that_changes_is_said_again_and_its_close_past_the_deadline_ends_it(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, _, closes, tmp_path = market
    _waiting_from_1317(fake, closes, tmp_path, monkeypatch)  # the owner down: said
    # 13:45: the owner is back but QQQ's price is stale: another problem, said once.
    code, said = _wake(monkeypatch, "2026-01-07T13:45:00-05:00")
    assert code == 75 and "stale" in said, said
    for instant in ("2026-01-07T13:50:00-05:00", "2026-01-07T15:55:00-05:00"):
        assert _wake(monkeypatch, instant) == (75, "")
    code, said = _wake(monkeypatch, "2026-01-07T16:05:00-05:00")
    assert code == 0
    [line] = said.splitlines()
    assert EVENT_KEY in line and "acct_4 not judged by the deadline" in line, line
    assert _wake(monkeypatch, "2026-01-07T16:10:00-05:00") == (0, "")


def test_a_weekly_run_waiting_for_its_provider_is_mailed_when_it_starts_and_when_it_ends(
    market: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The owners' provider down from the weekly run's hour: every wake-up printed the same line till it came back."""
    fake, url, _, tmp_path = market
    _no_retries(tmp_path)
    fake.behaviour = lambda body: httpx.Response(503, json={"error": {"message": "overloaded"}})
    code, said = _wake(monkeypatch, "2026-01-07T08:00:00-05:00")
    assert code == 75 and "overloaded" in said, said  # the start: said
    for instant in ("2026-01-07T08:05:00-05:00", "2026-01-07T08:10:00-05:00"):
        assert _wake(monkeypatch, instant) == (75, "")  # the same wait: quiet, still 75
    failed = [e for e in stored_events(url, type="RunFailed") if e.payload["command"] == "run-weekly"]
    assert len(failed) == 3  # each attempt recorded
    fake.behaviour = lambda body: httpx.Response(401, json={"error": {"message": "User not found."}})
    code, said = _wake(monkeypatch, "2026-01-07T08:15:00-05:00")
    assert code == 1 and "User not found" in said, said  # another problem, and not a wait: said
    fake.behaviour = lambda body: httpx.Response(503, json={"error": {"message": "overloaded"}})
    code, said = _wake(monkeypatch, "2026-01-07T08:20:00-05:00")
    assert code == 75 and "overloaded" in said, said  # a wait again after another failure: said again
    fake.behaviour = None
    code, said = _wake(monkeypatch, "2026-01-07T08:25:00-05:00")
    assert code == 0, said
    [line] = said.splitlines()  # the end: one line
    # Since the first of the failed runs just before it, the operational one among them (said when it failed).
    assert line.startswith("weekly:2026-01-07 finished: it waited since Wed 08:00 (5 attempt(s) failed"), line
    assert "overloaded" in line, line
    assert _wake(monkeypatch, "2026-01-07T08:30:00-05:00") == (0, "")
