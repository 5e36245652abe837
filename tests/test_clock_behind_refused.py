"""A clock set back behind the books: every command that trades or records them refuses before doing anything.

A new user's cron trial set LLMTRADE_NOW a week back after the books had run on: `run-due` ran that week's weekly run,
submitted and filled orders at its prices and replaced an account's positions, exit 0, saying "nothing is due" on
stdout and "weekly:... waits for the open" on stderr. Refused now, exit 75, naming the books' latest record and the
clock, recorded once (ClockBehindRefused)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.app import clock_guard
from llmtrade.cli import app
from tests.crash_points import drop, once_per_module
from tests.support import stored_events
from tests.test_alerts import HttpSink

runner = CliRunner()

_BOOKS = ("RunStarted", "OrderSubmitted", "OrderFilled", "AccountValued", "BreakerUpdated", "PositionAdopted")


def _written(url: str) -> int:
    return sum(len(stored_events(url, type=kind)) for kind in _BOOKS)


@pytest.fixture(scope="module")
def _kept(pg_admin_url: str) -> Iterator[dict[str, tuple[str, Path]]]:
    """The week `_run_the_week` made first in this module: a copy of its database and of its home (dropped at the
    module's end), which each later test starts from."""
    kept: dict[str, tuple[str, Path]] = {}
    yield kept
    for name, _ in kept.values():
        drop(pg_admin_url, name)


@pytest.fixture
def week(
    wednesday_week: str, clean_environment: Path, pg_admin_url: str, _kept: dict[str, tuple[str, Path]]
) -> Callable[[pytest.MonkeyPatch], None]:
    """`_run_the_week` for this test's books and home: the same week for every test, so it is run (and asserted) once
    per module; each later test gets its own copy of that run's database (CREATE DATABASE ... TEMPLATE, under this
    test's database name) and of its home (leases, logs, caches), and refuses, records and alerts on books of its
    own."""

    def run(monkeypatch: pytest.MonkeyPatch) -> None:
        if once_per_module(_kept, pg_admin_url, wednesday_week, clean_environment, lambda: _run_the_week(monkeypatch)):
            monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:05:00-05:00")  # as the run left it

    return run


def _run_the_week(monkeypatch: pytest.MonkeyPatch) -> None:
    for now in ("2026-01-07T08:00:00-05:00", "2026-01-07T14:05:00-05:00"):  # the weekly run, the 14:00 checkpoint
        monkeypatch.setenv("LLMTRADE_NOW", now)
        woke = runner.invoke(app, ["-q", "run-due"])
        assert woke.exit_code == 0, woke.output


def test_run_due_on_a_clock_set_back_into_the_week_before_runs_nothing(
    wednesday_week: str, week: Callable[[pytest.MonkeyPatch], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    week(monkeypatch)
    before = _written(wednesday_week)
    monkeypatch.setenv("LLMTRADE_NOW", "2025-12-31T15:05:00Z")  # the week before, in session
    for quiet in (True, False):  # said, recorded once
        back = runner.invoke(app, ["-q", "run-due"] if quiet else ["run-due"])
        assert back.exit_code == 75, back.output
        assert back.stdout == ""  # not "nothing is due", nor a weekly waiting for the open
        assert back.stderr.startswith(
            "error: the clock is behind the books: their latest record was made at 2026-01-07 14:"
        ), back.stderr
        assert "the clock reads 2025-12-31 10:05 New York" in back.stderr
        assert "run-due refused: nothing ran" in back.stderr and "LLMTRADE_NOW" in back.stderr
        assert "nothing was recorded" not in back.stderr  # its ClockBehindRefused is
        assert back.stderr.count("\n") == 1, back.stderr
    assert _written(wednesday_week) == before  # no run, order, fill or valuation
    [refused] = stored_events(wednesday_week, type="ClockBehindRefused")
    assert refused.payload["command"] == "run-due"
    # cron's next wake-ups under -q: said once per latest record (cron mailed it every 5 minutes), still exit 75
    again = runner.invoke(app, ["-q", "run-due"])
    assert again.exit_code == 75 and again.output == "", again.output


@pytest.mark.parametrize(
    "command",
    [
        ["run-due"],
        ["run-weekly"],
        ["checkpoint", "12:00"],
        ["postmortem", "--week", "2025-12-31"],
        ["breaker", "reset", "acct_1"],
        ["positions", "adopt", "acct_1", "GLD"],
        ["positions", "release", "acct_1", "GLD"],
    ],
)
def test_each_command_that_writes_the_books_refuses_a_clock_set_back_within_the_week(
    wednesday_week: str, week: Callable[[pytest.MonkeyPatch], None], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    week(monkeypatch)
    before = _written(wednesday_week)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")  # before the 14:00 checkpoint it ran
    back = runner.invoke(app, ["-q", *command])
    assert back.exit_code == 75, back.output
    assert "the clock is behind the books" in back.stderr and f"{command[0]}" in back.stderr, back.stderr
    assert _written(wednesday_week) == before


def test_a_dry_run_and_a_clock_within_the_slack_are_not_refused(
    wednesday_week: str, week: Callable[[pytest.MonkeyPatch], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    week(monkeypatch)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
    dry = runner.invoke(app, ["checkpoint", "12:00", "--dry-run"])
    assert "the clock is behind the books" not in dry.output, dry.output
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:02:00-05:00")  # 3 minutes behind the checkpoint's records
    near = runner.invoke(app, ["-q", "run-due"])
    assert near.exit_code == 0, near.output
    assert not stored_events(wednesday_week, type="ClockBehindRefused")


def test_a_refusal_is_alerted_once_per_latest_record(
    wednesday_week: str, week: Callable[[pytest.MonkeyPatch], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # It stops every cron job, and LLMTRADE_ALERT_URLS heard nothing of it (a configuration rejected is alerted).
    week(monkeypatch)
    sink = HttpSink()
    try:
        monkeypatch.setenv("LLMTRADE_ALERT_URLS", sink.url)
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
        for command in (["run-due"], ["run-due"], ["checkpoint", "12:00"]):
            back = runner.invoke(app, ["-q", *command])
            assert back.exit_code == 75, back.output
        assert [m["title"] for m in sink.received] == ["llmtrade: the clock is behind the books; nothing runs"]
        assert "run-due refused: nothing ran" in sink.received[0]["message"]
        dry = runner.invoke(app, ["-q", "checkpoint", "12:00", "--dry-run"])
        assert len(sink.received) == 1, dry.output
    finally:
        sink.stop()


def test_a_record_dated_after_the_system_time_is_said_to_be_in_the_future(
    wednesday_week: str, week: Callable[[pytest.MonkeyPatch], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A drill run ahead (Friday) on the live books blocks the real Wednesday's cron: refused still (the record must
    # hold), but "unset LLMTRADE_NOW" was no remedy: the real clock is behind that record too.
    week(monkeypatch)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T14:05:00-05:00")
    assert runner.invoke(app, ["-q", "checkpoint", "14:00"]).exit_code in (0, 75)
    monkeypatch.setattr(clock_guard, "real_now", lambda: datetime(2026, 1, 7, 20, 55, tzinfo=UTC))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T15:55:00-05:00")
    back = runner.invoke(app, ["-q", "run-due"])
    assert back.exit_code == 75, back.output
    assert "dated in the future (the system time is 2026-01-07 15:55 New York)" in back.stderr, back.stderr
    assert "a drill" in back.stderr and "unset LLMTRADE_NOW" not in back.stderr


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (["discover", "--offline"], "discover"),
        (["watchlist", "add", "XLE"], "watchlist add"),
        (["watchlist", "remove", "XLE"], "watchlist remove"),
        (["memory", "rebuild", "--offline"], "memory rebuild"),
    ],
)
def test_discovery_a_watchlist_edit_and_a_memory_rebuild_refuse_a_clock_set_back(
    wednesday_week: str,
    week: Callable[[pytest.MonkeyPatch], None],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    named: str,
) -> None:
    # Each records the books too (a discovery run and its watchlist, an edit, the memory and its embedding calls),
    # dated by the clock: they ran on a clock set back and wrote records dated before the books' latest.
    week(monkeypatch)
    before = len(stored_events(wednesday_week))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
    back = runner.invoke(app, ["-q", *command])
    assert back.exit_code == 75, back.output
    assert back.stdout == ""
    assert "the clock is behind the books" in back.stderr, back.stderr
    assert f"{named} refused: nothing ran" in back.stderr
    [refused] = stored_events(wednesday_week, type="ClockBehindRefused")
    assert len(stored_events(wednesday_week)) == before + 1, [e.type for e in stored_events(wednesday_week)][before:]
    assert refused.payload["command"] == named


def test_the_kill_switch_stays_usable_on_a_clock_set_back(
    wednesday_week: str, week: Callable[[pytest.MonkeyPatch], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # On purpose: stopping every order must work whatever the clock says.
    week(monkeypatch)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
    for command in (["trading", "disable"], ["trading", "enable"]):
        done = runner.invoke(app, ["-q", *command])
        assert done.exit_code == 0, done.output
    assert not stored_events(wednesday_week, type="ClockBehindRefused")
