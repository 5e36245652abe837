"""A system clock away from the database server's: every command that writes the books refuses before anything.

A clock set ahead (a wrong NTP step, a VM resumed with a bad clock) was not seen: the books cannot tell a machine
off for days from a clock days fast, and `run-due` closed the current week early (the postmortem of a week not
finished, the next week's weekly run), which the synthetic market runs through. The database server's clock is the
witness: beyond LLMTRADE_CLOCK_SKEW_MINUTES (5) either way, exit 75, ClockSkewRefused, alerted once per skew.
LLMTRADE_NOW set is the operator's chosen time: not checked (the tests' own clock is 2026-01 beside a server reading
the real time). The system clock is moved here by patching clock.SystemClock: the server keeps the real time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock, SteppingClock, SystemClock
from llmtrade.storage.bootstrap import Storage
from tests.support import FIXED_NOW, stored_events
from tests.test_alerts import HttpSink

runner = CliRunner()
AHEAD = timedelta(days=2, hours=6)  # off a round figure: the skew measured is a round trip short of it


def _system_clock_off_by(monkeypatch: pytest.MonkeyPatch, offset: timedelta) -> None:
    monkeypatch.delenv("LLMTRADE_NOW", raising=False)
    monkeypatch.setattr(SystemClock, "now", lambda self: datetime.now(UTC) + offset)


def _books_written(url: str) -> int:
    return len([e for e in stored_events(url) if e.type not in ("ClockSkewRefused", "AlertSent", "AlertFailed")])


def test_run_due_on_a_system_clock_days_ahead_of_the_database_runs_nothing(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    _system_clock_off_by(monkeypatch, AHEAD)
    before = _books_written(url)
    for quiet in (True, False):  # said, recorded once
        back = runner.invoke(app, ["-q", "run-due"] if quiet else ["run-due"])
        assert back.exit_code == 75, back.output
        assert back.stdout == ""
        assert back.stderr.startswith("error: the system clock is 2.2 days ahead of the database server's: it reads ")
        assert "(allowed: 5 minutes, LLMTRADE_CLOCK_SKEW_MINUTES)" in back.stderr, back.stderr
        assert "run-due refused: nothing ran (on a clock ahead a job would close a week not yet finished" in back.stderr
        assert back.stderr.count("\n") == 1, back.stderr
    assert _books_written(url) == before  # no run, no week said missed, nothing
    [refused] = stored_events(url, type="ClockSkewRefused")
    assert refused.payload["command"] == "run-due"
    assert abs(refused.payload["skew_seconds"] - AHEAD.total_seconds()) < 60, refused.payload
    assert refused.payload["allowed_seconds"] == 300
    # cron's next wake-ups under -q: said once per skew, still exit 75
    again = runner.invoke(app, ["-q", "run-due"])
    assert again.exit_code == 75 and again.output == "", again.output


@pytest.mark.parametrize(
    "command",
    [
        ["run-weekly"],
        ["checkpoint", "12:00"],
        ["postmortem", "--week", "2025-12-31"],
        ["breaker", "reset", "acct_1"],
        ["positions", "adopt", "acct_1", "GLD"],
        ["discover", "--offline"],
        ["watchlist", "add", "XLE"],
        ["memory", "rebuild", "--offline"],
    ],
)
def test_each_command_that_writes_the_books_refuses_a_skewed_system_clock(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    url = cli_env["DATABASE_URL"]
    _system_clock_off_by(monkeypatch, AHEAD)
    before = _books_written(url)
    back = runner.invoke(app, ["-q", *command])
    assert back.exit_code == 75, back.output
    assert "the system clock is 2.2 days ahead of the database server's" in back.stderr, back.stderr
    assert _books_written(url) == before


def test_a_system_clock_behind_the_database_is_refused_saying_so(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _system_clock_off_by(monkeypatch, -timedelta(hours=3))
    back = runner.invoke(app, ["-q", "watchlist", "add", "XLE"])
    assert back.exit_code == 75, back.output
    assert "the system clock is 3.0 hours behind the database server's" in back.stderr, back.stderr
    assert "on a clock behind a job would trade or judge at past prices" in back.stderr
    assert not stored_events(cli_env["DATABASE_URL"], type="WatchlistEdited")


def test_llmtrade_now_is_the_operators_time_and_is_not_checked(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tests' own case: LLMTRADE_NOW reads 2026-01-07, the server the real time. The system clock is off too, and
    # nothing reads it while LLMTRADE_NOW is set.
    monkeypatch.setattr(SystemClock, "now", lambda self: datetime.now(UTC) + AHEAD)
    woke = runner.invoke(app, ["-q", "run-due"])
    assert woke.exit_code == 0, woke.output
    assert stored_events(wednesday_week, type="RunStarted")
    assert not stored_events(wednesday_week, type="ClockSkewRefused")


def test_the_allowance_is_a_setting_and_zero_turns_the_check_off(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    _system_clock_off_by(monkeypatch, timedelta(minutes=3))
    within = runner.invoke(app, ["-q", "watchlist", "add", "XLE"])  # 3 minutes: within the default 5
    assert within.exit_code == 0, within.output
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "1")
    tight = runner.invoke(app, ["-q", "watchlist", "add", "XLE"])
    assert tight.exit_code == 75, tight.output
    assert "3 minutes ahead" in tight.stderr and "(allowed: 60 seconds," in tight.stderr, tight.stderr
    _system_clock_off_by(monkeypatch, AHEAD)
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "0")
    off = runner.invoke(app, ["-q", "watchlist", "add", "XLE"])
    assert off.exit_code == 0, off.output
    assert len(stored_events(url, type="WatchlistEdited")) == 2
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "-1")
    bad = runner.invoke(app, ["-q", "watchlist", "add", "XLE"])
    assert bad.exit_code == 2 and "LLMTRADE_CLOCK_SKEW_MINUTES" in bad.stderr, bad.output


def test_a_skew_is_alerted_once_and_a_new_one_again(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    url = cli_env["DATABASE_URL"]
    sink = HttpSink()
    try:
        monkeypatch.setenv("LLMTRADE_ALERT_URLS", sink.url)
        _system_clock_off_by(monkeypatch, AHEAD)
        for command in (["run-due"], ["run-due"], ["checkpoint", "12:00"]):
            back = runner.invoke(app, ["-q", *command])
            assert back.exit_code == 75, back.output
        title = "llmtrade: the system clock disagrees with the database server's; nothing runs"
        assert [m["title"] for m in sink.received] == [title]
        assert "run-due refused: nothing ran" in sink.received[0]["message"]
        # One record per command for the skew, both naming its first refusal.
        refused = stored_events(url, type="ClockSkewRefused")
        assert [e.payload["command"] for e in refused] == ["run-due", "checkpoint"]
        assert len({e.payload["since"] for e in refused}) == 1
        # The clock stepped again, a day further: a new skew, recorded and alerted.
        _system_clock_off_by(monkeypatch, AHEAD + timedelta(days=1))
        back = runner.invoke(app, ["-q", "run-due"])
        assert back.exit_code == 75 and "3.2 days ahead" in back.stderr, back.output
        assert len(sink.received) == 2
        assert len(stored_events(url, type="ClockSkewRefused")) == 3
        # A run started since (a command that is no job: `council`): the same skew found again is said again.
        asked = runner.invoke(app, ["-q", "council", "--offline", "is the clock right?"])
        assert asked.exit_code == 0, asked.output
        back = runner.invoke(app, ["-q", "run-due"])
        assert back.exit_code == 75 and back.stderr, back.output
        assert len(sink.received) == 3
        assert len(stored_events(url, type="ClockSkewRefused")) == 4
        dry = runner.invoke(app, ["-q", "checkpoint", "12:00", "--dry-run"])  # a dry run writes nothing: not refused
        assert "the system clock" not in dry.output and len(sink.received) == 3, dry.output
    finally:
        sink.stop()


def test_only_the_system_clock_is_measured(storage: Storage) -> None:
    # A backtest's stepped clock and LLMTRADE_NOW's fixed one read other times than the server's, on purpose.
    from llmtrade.app.clock_skew import measure

    allowed = timedelta(minutes=5)
    assert measure(SteppingClock(FIXED_NOW), storage.conn, allowed) is None
    assert measure(FixedClock(FIXED_NOW), storage.conn, allowed) is None
    assert measure(SystemClock(), storage.conn, allowed) is None  # this machine's server: the same clock


@pytest.mark.parametrize("value", ["inf", "nan", "1e13"])
def test_an_allowance_no_timedelta_holds_is_a_bad_setting_not_a_crash(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # ge=0 let 'inf' (and a number past timedelta's 999999999 days) through, and every command that writes the books
    # then died on OverflowError turning it into a timedelta.
    monkeypatch.delenv("LLMTRADE_NOW", raising=False)
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", value)
    bad = runner.invoke(app, ["-q", "watchlist", "add", "XLE"])
    assert bad.exit_code == 2 and "LLMTRADE_CLOCK_SKEW_MINUTES" in bad.stderr, bad.output


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["positions", "adopt", "acct_9", "GLD"], "no account 'acct_9' in accounts.yaml"),
        (["positions", "release", "acct_9", "GLD"], "no account 'acct_9' in accounts.yaml"),
        (["positions", "settle", "acct_9", "GLD"], "no account 'acct_9' in accounts.yaml"),
        (["positions", "settle", "acct_1", "GLD", "--price", "0"], "--price must be a finite number above 0"),
        (["positions", "settle", "acct_1", "GLD", "--confirm-price"], "--confirm-price confirms a --price"),
        (["breaker", "reset", "acct_9"], "no account 'acct_9' in accounts.yaml"),
    ],
)
def test_a_hand_made_changes_bad_argument_is_said_before_a_skewed_clock(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, command: list[str], said: str
) -> None:
    # An argument error needs no clock and is the cheaper to fix: said first (exit 2), not the clock (exit 75), which,
    # put right, would only lead to it. `--confirm-price` without `--price` was ignored without a word.
    url = cli_env["DATABASE_URL"]
    _system_clock_off_by(monkeypatch, AHEAD)
    back = runner.invoke(app, command)
    assert back.exit_code == 2, back.output
    assert said in back.stderr and "clock" not in back.stderr, back.stderr
    assert stored_events(url, type="ClockSkewRefused") == []
