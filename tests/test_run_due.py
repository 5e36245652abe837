"""`llmtrade run-due` at a series of simulated clock times runs exactly the jobs that are due."""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.agents import postmortem_writer
from llmtrade.cli import app
from llmtrade.errors import LLMUnavailable
from llmtrade.workflows.weekly import week_lock
from tests.support import assert_obeys, stored_events

runner = CliRunner()


@cache
def _published_schema() -> str:
    return runner.invoke(app, ["schema", "run-due"]).stdout


def _due_at(monkeypatch: pytest.MonkeyPatch, instant: str) -> list[str]:
    monkeypatch.setenv("LLMTRADE_NOW", instant)
    result = runner.invoke(app, ["run-due", "--json"])
    assert result.exit_code == 0, result.output
    ran = json.loads(result.stdout)
    assert_obeys(ran, _published_schema())
    return [r["job"] for r in ran]


def test_a_normal_week(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    timeline = [
        ("2026-01-07T07:55:00-05:00", []),
        ("2026-01-07T08:00:00-05:00", ["weekly:2026-01-07"]),
        ("2026-01-07T08:03:00-05:00", []),
        ("2026-01-07T09:02:00-05:00", ["checkpoint:2026-01-07T09:00"]),
        ("2026-01-07T12:01:00-05:00", ["checkpoint:2026-01-07T12:00"]),
        ("2026-01-07T12:06:00-05:00", []),
        ("2026-01-10T12:00:00-05:00", []),  # Saturday
        ("2026-01-13T15:51:00-05:00", ["checkpoint:2026-01-13T15:50"]),
        ("2026-01-13T15:55:00-05:00", []),
        ("2026-01-13T16:31:00-05:00", ["postmortem:2026-01-07"]),
        ("2026-01-14T08:00:00-05:00", ["weekly:2026-01-14"]),
    ]
    for instant, expected in timeline:
        assert _due_at(monkeypatch, instant) == expected, instant


def test_a_week_whose_wednesday_is_a_holiday(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert _due_at(monkeypatch, "2025-01-01T08:05:00-05:00") == []  # New Year's Day: no session
    assert _due_at(monkeypatch, "2025-01-02T08:01:00-05:00") == ["weekly:2025-01-01"]
    assert _due_at(monkeypatch, "2025-01-02T09:01:00-05:00") == ["checkpoint:2025-01-02T09:00"]


def test_a_machine_that_was_off_for_a_day_catches_up_safely(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Off from Tuesday evening to Thursday 10:00: Wednesday's run and checkpoints were missed.
    assert _due_at(monkeypatch, "2026-01-08T10:00:00-05:00") == ["weekly:2026-01-07"]
    assert _due_at(monkeypatch, "2026-01-08T10:05:00-05:00") == ["checkpoint:2026-01-08T09:00"]
    assert _due_at(monkeypatch, "2026-01-08T10:10:00-05:00") == []
    report = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert report["last_runs"]["run-weekly"]["outcome"] == "finished"
    assert report["last_runs"]["checkpoint"]["outcome"] == "finished"


def test_run_weekly_closes_last_week_with_its_postmortem_first(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    result = runner.invoke(app, ["run-weekly"])
    assert result.exit_code == 0, result.output
    assert "postmortem of week 2026-01-07 first" in result.stderr
    reviewed = json.loads(runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--json"]).stdout)
    assert reviewed["written_now"] is False and len(reviewed["accounts"]) == 6


def test_a_checkpoint_missed_until_after_the_close_is_not_run(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _due_at(monkeypatch, "2026-01-07T08:00:00-05:00") == ["weekly:2026-01-07"]
    assert _due_at(monkeypatch, "2026-01-07T17:00:00-05:00") == []  # 15:50 missed: stale after the close


def _weekly_runs(url: str) -> list[Any]:
    return [e for e in stored_events(url, type="RunStarted") if e.payload["command"] == "run-weekly"]


def test_orders_queued_for_the_open_make_the_next_weekly_run_wait_for_it_quietly_and_a_real_failure_stays_75(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick start run on a Tuesday evening queues its orders for Wednesday's open. Cron's run-due from 08:00 then
    found them at the weekly run's first look at the accounts and exited 75 at every wake-up until the open, each
    mailed (found by the new-user trial). Before the open that is nothing to do yet: exit 0, one line without -q,
    nothing under it, no run started. `run-weekly` by hand still says what is in the way (75), a run-due after the
    open that meets a real temporary failure (the week's lock held) still exits 75, and the next one runs the week."""
    url = cli_env["DATABASE_URL"]
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T20:33:00-05:00")  # Tuesday evening, after the close
    late = runner.invoke(app, ["run-weekly", "--json"])
    assert late.exit_code == 0, late.output
    queued = [o for o in json.loads(late.stdout)["orders"] if o["detail"] == "queued for 2026-01-14T09:30:00-05:00"]
    assert queued
    weekly_runs = len(_weekly_runs(url))

    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")  # Wednesday, before the open
    quiet = runner.invoke(app, ["-q", "run-due"])
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T09:25:00-05:00")
    said = runner.invoke(app, ["run-due"])
    assert said.exit_code == 0, said.output
    [line] = [s for s in said.output.splitlines() if "weekly:2026-01-14" in s]
    assert line.startswith(f"weekly:2026-01-14 waits for the open: {len(queued)} order(s) queued for it fill first (")
    assert "due:" not in said.output
    assert len(_weekly_runs(url)) == weekly_runs  # no weekly run started (the week before's postmortem ran)
    by_hand = runner.invoke(app, ["run-weekly"])
    assert by_hand.exit_code == 75 and "still has orders queued" in by_hand.stderr

    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T09:35:00-05:00")  # after the open: the orders have filled
    with psycopg.connect(url, autocommit=True) as other, week_lock(other, date(2026, 1, 14), command="checkpoint"):
        locked = runner.invoke(app, ["-q", "run-due"])
    assert (
        locked.exit_code == 75 and "another checkpoint for week 2026-01-14 is running (advisory lock" in locked.stderr
    )
    # The command cron runs is the one to run again (a trial: a run-due told to run `checkpoint`, or `run-weekly`).
    assert "then run run-due again" in locked.stderr and "run-weekly again" not in locked.stderr
    assert _due_at(monkeypatch, "2026-01-14T09:40:00-05:00") == ["weekly:2026-01-14"]


def test_a_cron_started_after_the_weeks_last_close_leaves_that_week_alone(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cron first woke on a Tuesday evening: run-due ran the week's committee then, its orders queued for Wednesday's
    open, so Wednesday's 08:00 weekly run exited 75 at every wake-up until the open (found by the months trial)."""
    assert _due_at(monkeypatch, "2026-01-13T23:00:00-05:00") == []
    assert _due_at(monkeypatch, "2026-01-14T08:00:00-05:00") == ["weekly:2026-01-14"]


def test_a_machine_off_for_more_than_a_week_closes_the_week_it_missed_at_that_weeks_prices(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off from Wednesday 01-07's weekly run to Thursday 01-22: the week's postmortem (due 01-13 16:30) was more than
    8 days back, so no run-due ever closed it (found by the months trial). Now it is due until done, before the current
    week's run, and reads its own week's prices: every account's end equity is its curve's at the 01-13 close (the
    leaderboard's, folded from the fills), not at 01-21's prices."""
    assert _due_at(monkeypatch, "2026-01-07T08:00:00-05:00") == ["weekly:2026-01-07"]
    assert _due_at(monkeypatch, "2026-01-22T10:00:00-05:00") == ["postmortem:2026-01-07", "weekly:2026-01-21"]
    assert _due_at(monkeypatch, "2026-01-22T10:05:00-05:00") == ["checkpoint:2026-01-22T09:00"]  # closed once

    _ends_at_the_weeks_close()


def _ends_at_the_weeks_close() -> dict[str, Any]:
    """01-07's postmortem (as stored): each end equity is its account's leaderboard curve at the 01-13 close."""
    reviewed: dict[str, Any] = json.loads(runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--json"]).stdout)
    ends = {a["account_id"]: a["end_equity"] for a in reviewed["accounts"]}
    board = json.loads(runner.invoke(app, ["leaderboard", "--live", "--json"]).stdout)
    at_week_end = {
        c["name"]: round(c["equity"][c["sessions"].index("2026-01-13")], 2)
        for c in board["curves"]
        if c["kind"] == "account"
    }
    assert any(equity != 100_000 for equity in ends.values())  # the premise: the week traded
    assert ends == at_week_end
    return reviewed


def test_a_late_postmortem_after_a_later_week_traded_values_what_the_account_held_at_its_weeks_close(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off from 01-07's weekly run to 01-21, where the user ran that week's committee by hand before any run-due: it
    traded (its run closes only the week before it, 01-14, never run). The late postmortem of 01-07 then took its end
    equity from 01-21's week-start valuation: the positions held since 01-13, valued at 01-20's closes. Now it values
    what the account held at 01-13's close (its fills up to then) at that close: the leaderboard's curve there."""
    assert _due_at(monkeypatch, "2026-01-07T08:00:00-05:00") == ["weekly:2026-01-07"]
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-21T08:00:00-05:00")
    weekly = runner.invoke(app, ["run-weekly"])
    assert weekly.exit_code == 0, weekly.output
    assert _due_at(monkeypatch, "2026-01-21T08:05:00-05:00") == ["postmortem:2026-01-07"]

    reviewed = _ends_at_the_weeks_close()
    for account in reviewed["accounts"]:  # realised + unrealised is still the week's P/L
        assert account["realized_pnl"] + account["unrealized_pnl"] == pytest.approx(account["week_pnl"], abs=0.02)


async def _unavailable(*args: Any, **kwargs: Any) -> Any:
    raise LLMUnavailable("the owners' provider is down")


def test_a_postmortem_failing_into_the_next_week_closes_its_own_week_once_before_that_week_runs(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """01-07's postmortem fails for a temporary reason (every owner's reflection) from its time to the next weekly
    run: retried (exit 75) till then, it blocks nothing after it (the 01-14 run waits behind it, as DESIGN's first
    stage has it). At 01-14 08:00, its deadline, it is written without the reflections (InputsMissing names them) and
    01-14's run follows in the same wake-up. Each week's postmortem covers its own week: 01-14's starts where 01-07's
    ended, and each is closed once."""
    assert _due_at(monkeypatch, "2026-01-07T08:00:00-05:00") == ["weekly:2026-01-07"]
    with pytest.MonkeyPatch.context() as down:
        down.setattr(postmortem_writer, "reflect", _unavailable)
        for instant in ("2026-01-13T16:31:00-05:00", "2026-01-14T07:55:00-05:00"):
            monkeypatch.setenv("LLMTRADE_NOW", instant)
            failed = runner.invoke(app, ["run-due"])
            assert failed.exit_code == 75, failed.output
            assert "weekly:2026-01-14" not in failed.output
        assert _due_at(monkeypatch, "2026-01-14T08:00:00-05:00") == ["postmortem:2026-01-07", "weekly:2026-01-14"]
    url = cli_env["DATABASE_URL"]
    [missing] = stored_events(url, type="InputsMissing", week_id=date(2026, 1, 7))
    assert missing.payload["stage"] == "reflect" and "acct_1" in missing.payload["missing"]
    assert _due_at(monkeypatch, "2026-01-20T16:31:00-05:00") == ["postmortem:2026-01-14"]
    assert _due_at(monkeypatch, "2026-01-20T16:36:00-05:00") == []

    written: dict[date, dict[str, Any]] = {}
    for event in stored_events(url, type="PostmortemWritten"):
        pm = event.payload["postmortem"]
        assert pm["account_id"] not in written.setdefault(date.fromisoformat(pm["week_id"]), {})  # once each
        written[date.fromisoformat(pm["week_id"])][pm["account_id"]] = pm
    first, second = written[date(2026, 1, 7)], written[date(2026, 1, 14)]
    assert first.keys() == second.keys()
    assert {a: pm["start_equity"] for a, pm in second.items()} == {a: pm["end_equity"] for a, pm in first.items()}
    completed = [e.payload["week_id"] for e in stored_events(url, type="PostmortemCompleted")]
    assert sorted(completed) == ["2026-01-07", "2026-01-14"]


def test_a_checkpoint_held_by_another_run_tells_cron_to_run_run_due_again_and_a_user_checkpoint(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: three run-due at once at a checkpoint's time; the two that found the week's lock held each said "then
    run run-due again" (the event checkpoints) and then "then run checkpoint again" (the scheduled one): the command to
    run again is the one the user ran."""
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
    url = cli_env["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as other, week_lock(other, date(2026, 1, 7), command="checkpoint"):
        cron = runner.invoke(app, ["-q", "run-due", "--offline"])
        by_hand = runner.invoke(app, ["checkpoint", "12:00", "--offline"])
    assert cron.exit_code == 75 and "another checkpoint for week 2026-01-07 is running" in cron.stderr
    assert "then run run-due again" in cron.stderr and "then run checkpoint again" not in cron.stderr
    assert by_hand.exit_code == 75 and "then run checkpoint again" in by_hand.stderr
