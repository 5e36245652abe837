"""A job command that failed with no run to record it (CommandFailed: its database lost outside any run) or did not run
its job (DueJobNotRun: found due after its session closed; ConfigRejected, ClockBehindRefused, ClockSkewRefused:
refused before anything ran) is recorded, and was shown by no `status`: a user reading it weekly saw, at most, a
checkpoint missed, and not why. `status` lists this week's and last week's, with when and why, and its --json too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.alerts.incidents import find_incidents
from llmtrade.app.unrecorded_commands import leave
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.checkpoints import CheckpointsMissed, DueJobNotRun, EventChecksDeferred
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.runs import ClockSkewRefused, CommandFailed, ConfigRejected, WeekNotRun
from llmtrade.domain.streams import (
    CLOCK_SKEW,
    COMMANDS_FAILED,
    CONFIG_REJECTED,
    DUE_NOT_RUN,
    EVENT_CHECKS,
    MISSED_CHECKPOINTS,
    WEEK_NOT_RUN,
    week_stream,
)
from llmtrade.market.calendar import NEW_YORK
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from tests.support import FIXED_NOW, stored_events
from tests.test_alerts import CONFIG, HttpSink

runner = CliRunner()


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink()
    yield sink
    sink.stop()


WEEK = date(2026, 1, 7)


def _record(url: str, at: datetime, payload: EventPayload, stream: str, **ids: Any) -> None:
    with open_storage(Settings(DATABASE_URL=url), FixedClock(at)) as storage:
        storage.events.append([NewEvent.of(payload, stream=stream, **ids)])


def _on_record(url: str) -> None:
    # Three weeks ago: before last week, not listed.
    old = datetime(2025, 12, 16, 9, 0, tzinfo=NEW_YORK)
    _record(
        url,
        old,
        CommandFailed(command="run-due", error_type="X", error="old", exit_code=75, failed_at=old),
        COMMANDS_FAILED,
    )
    # Recorded by the next job command at 09:10 on Tuesday, of a wake-up that failed at 09:00.
    failed_at = datetime(2026, 1, 6, 9, 0, tzinfo=NEW_YORK)
    lost = CommandFailed(
        command="run-due",
        error_type="OperationalError",
        error="the database was lost\nserver closed the connection",
        exit_code=75,
        failed_at=failed_at,
    )
    _record(url, failed_at + timedelta(minutes=10), lost, COMMANDS_FAILED)
    closed = DueJobNotRun(
        job="checkpoint:2026-01-06T15:50",
        kind="checkpoint",
        reason="the 2026-01-06 session has closed: its 15:50 checkpoint can no longer trade",
    )
    _record(
        url,
        datetime(2026, 1, 6, 16, 0, 2, tzinfo=NEW_YORK),
        closed,
        week_stream(date(2025, 12, 31), DUE_NOT_RUN),
        week_id=date(2025, 12, 31),
    )
    rejected = ConfigRejected(command="run-due", files=["risk.yaml"], error="risk.yaml: max_position_pct: not a number")
    _record(url, datetime(2026, 1, 5, 12, 0, tzinfo=NEW_YORK), rejected, CONFIG_REJECTED)
    server_at = datetime(2026, 1, 7, 7, 30, tzinfo=NEW_YORK)
    skew = ClockSkewRefused(
        command="checkpoint",
        system_at=server_at - timedelta(minutes=30),
        database_at=server_at,
        skew_seconds=-1800,
        allowed_seconds=300,
        since=server_at,
    )
    _record(url, datetime(2026, 1, 7, 7, 0, tzinfo=NEW_YORK), skew, CLOCK_SKEW)


def test_status_lists_the_weeks_job_commands_that_failed_or_did_not_run_their_job(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _on_record(wednesday_week)
    result = runner.invoke(app, ["status", "--json", "--offline"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["jobs_not_done"]
    # Before: no such field, and nothing of these in `status` at all.
    assert [(j["kind"], j["command"]) for j in listed] == [
        ("ConfigRejected", "run-due"),
        ("CommandFailed", "run-due"),
        ("DueJobNotRun", "checkpoint:2026-01-06T15:50"),
        ("ClockSkewRefused", "checkpoint"),
    ]
    failed = listed[1]
    assert datetime.fromisoformat(failed["at"]) == datetime(2026, 1, 6, 9, 0, tzinfo=NEW_YORK)  # when it failed
    assert "OperationalError: the database was lost server closed the connection" in failed["why"]
    assert "exit 75" in failed["why"]
    assert "can no longer trade" in listed[2]["why"]
    assert listed[0]["why"].startswith("refused for the configuration: risk.yaml: max_position_pct: not a number")
    assert "30 minutes behind" in listed[3]["why"]

    text = runner.invoke(app, ["status", "--offline"])
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "did not run their job" in line)
    rows = lines[start + 2 : start + 6]
    assert rows[1].startswith("2026-01-06T09:00:00-05:00\tfailed on a lost database\trun-due\texit 75"), rows
    assert rows[2].split("\t")[1:3] == ["due, not begun: its session closed", "checkpoint:2026-01-06T15:50"], rows


def test_each_job_command_not_done_is_alerted_once_by_the_job_command_after_it(
    cli_env: dict[str, str], http_sink: HttpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_sink.received.clear()
    url, home = cli_env["DATABASE_URL"], Path(cli_env["LLMTRADE_HOME"])
    wake = datetime(2026, 1, 7, 6, 0, tzinfo=NEW_YORK)  # before the week's first job is due
    # Last night's run-due found the 15:50 checkpoint due after the close; this morning's 05:55 wake-up lost its
    # database outside any run and left its failure for the next job command (app/unrecorded_commands.py).
    closed = DueJobNotRun(
        job="checkpoint:2026-01-06T15:50",
        kind="checkpoint",
        reason="the 2026-01-06 session has closed: its 15:50 checkpoint can no longer trade",
    )
    week = date(2025, 12, 31)
    _record(url, datetime(2026, 1, 6, 16, 0, 2, tzinfo=NEW_YORK), closed, week_stream(week, DUE_NOT_RUN), week_id=week)
    lost = wake - timedelta(minutes=5)
    leave(
        home,
        CommandFailed(command="run-due", error_type="OperationalError", error="gone", exit_code=75, failed_at=lost),
    )
    monkeypatch.setenv("LLMTRADE_NOW", wake.isoformat())
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "synthetic")
    monkeypatch.setenv("LLMTRADE_ALERT_URLS", http_sink.url)
    result = runner.invoke(app, ["run-due", "--offline"])
    assert result.exit_code == 0, result.output
    # Before: recorded, and no alert of either.
    titles = sorted(m["title"] for m in http_sink.received)
    assert titles == [
        "llmtrade: checkpoint:2026-01-06T15:50 was due and not run",
        "llmtrade: run-due failed on its database (OperationalError)",
    ]
    failed = next(m["message"] for m in http_sink.received if "failed on its database" in m["title"])
    assert "exited 75 at 2026-01-07T05:55:00-05:00" in failed and "gone" in failed
    # The next wake-ups tell neither again.
    for minutes in (5, 10):
        monkeypatch.setenv("LLMTRADE_NOW", (wake + timedelta(minutes=minutes)).isoformat())
        assert runner.invoke(app, ["-q", "run-due", "--offline"]).exit_code == 0
    assert len(http_sink.received) == 2


def test_a_lost_database_failing_every_wake_up_is_one_incident_a_day(storage: Storage) -> None:
    # An hour's outage under a five-minute cron leaves a dozen CommandFailed, recorded together by the next job command.
    def lost(at: datetime) -> CommandFailed:
        return CommandFailed(command="run-due", error_type="OperationalError", error="gone", exit_code=75, failed_at=at)

    start = datetime(2026, 1, 7, 6, 0, tzinfo=NEW_YORK)
    for minutes in range(0, 60, 5):
        storage.events.append([NewEvent.of(lost(start + timedelta(minutes=minutes)), stream=COMMANDS_FAILED)])
    now = start + timedelta(hours=1)
    [incident] = [i for i in find_incidents(storage.events, CONFIG, now, silence=False) if i.kind == "command-failed"]
    assert incident.key == "command-failed:run-due:OperationalError:2026-01-07"
    assert len(incident.event_ids) == 12 and "12 times" in incident.body
    storage.events.append([NewEvent.of(lost(start + timedelta(days=1)), stream=COMMANDS_FAILED)])
    keys = [i.key for i in find_incidents(storage.events, CONFIG, now + timedelta(days=1), silence=False)]
    assert [k for k in keys if k.startswith("command-failed")] == [incident.key, incident.key.replace("07", "08")]


def test_checkpoints_missed_and_a_week_never_run_are_alerted_once_each(storage: Storage) -> None:
    # Recorded once each by the first wake-up after (app/missed_checkpoints.py, app/missed_weeks.py), alerted by none.
    missed = CheckpointsMissed(checkpoints=["checkpoint:2026-01-06T09:00"], reason="no run began in its time")
    storage.events.append([NewEvent.of(missed, stream=week_stream(WEEK, MISSED_CHECKPOINTS), week_id=WEEK)])
    skipped = WeekNotRun(jobs=["weekly:2025-12-31", "postmortem:2025-12-31"], reason="no wake-up ran it")
    old = date(2025, 12, 31)
    storage.events.append([NewEvent.of(skipped, stream=week_stream(old, WEEK_NOT_RUN), week_id=old)])
    found = {i.kind: i for i in find_incidents(storage.events, CONFIG, FIXED_NOW, silence=False)}
    assert found["checkpoints-missed"].title == "llmtrade: 1 checkpoint(s) never run"
    assert "checkpoint:2026-01-06T09:00" in found["checkpoints-missed"].body
    assert found["week-not-run"].key == "week-not-run:2025-12-31"
    assert "no wake-up ran it" in found["week-not-run"].body


def test_status_lists_a_failure_left_in_the_home_that_no_job_command_has_recorded_yet(
    wednesday_week: str, cli_env: dict[str, str]
) -> None:
    # The database lost, then no job command has reached it since (cron stopped with it): only the home holds it.
    home = Path(cli_env["LLMTRADE_HOME"])
    failed_at = datetime(2026, 1, 7, 7, 55, tzinfo=NEW_YORK)
    lost = CommandFailed(
        command="run-due", error_type="OperationalError", error="gone", exit_code=75, failed_at=failed_at
    )
    leave(home, lost)
    result = runner.invoke(app, ["status", "--json", "--offline"])
    assert result.exit_code == 0, result.output
    [line] = json.loads(result.stdout)["jobs_not_done"]
    assert (line["kind"], line["command"], line["event_id"]) == ("CommandFailed", "run-due", None)
    assert datetime.fromisoformat(line["at"]) == failed_at
    assert line["why"].startswith("exit 75, OperationalError: gone; not recorded yet")
    assert len(list(home.joinpath("runs", "unrecorded-commands").glob("*.json"))) == 1  # status records nothing
    assert stored_events(wednesday_week, type="CommandFailed") == []


def test_status_lists_run_dues_looks_for_price_moves_left_to_the_next_wake_up(wednesday_week: str) -> None:
    # A checkpoint held the week's lock for 15 minutes: three wake-ups in a row left their look for price moves (no
    # event checkpoint could fire), recorded and said only without -q; `status` said nothing of them.
    held = (
        "another checkpoint for week 2026-01-07 is running (advisory lock 0x4c54000b8b3f is held); let it finish, "
        "then run run-due again: completed stages are not repeated"
    )
    stream = week_stream(WEEK, EVENT_CHECKS)
    for minutes in (5, 10, 15):
        at = datetime(2026, 1, 7, 12, minutes, tzinfo=NEW_YORK)
        _record(wednesday_week, at, EventChecksDeferred(reason=held), stream, week_id=WEEK)
    # The same holder's kind two hours later: another hold, its own line.
    _record(wednesday_week, datetime(2026, 1, 7, 14, 5, tzinfo=NEW_YORK), EventChecksDeferred(reason=held), stream)
    # Three weeks ago: before last week, not listed.
    old = week_stream(date(2025, 12, 17), EVENT_CHECKS)
    _record(wednesday_week, datetime(2025, 12, 17, 12, 5, tzinfo=NEW_YORK), EventChecksDeferred(reason="x"), old)
    result = runner.invoke(app, ["status", "--json", "--offline"])
    assert result.exit_code == 0, result.output
    line, later = json.loads(result.stdout)["jobs_not_done"]  # one line for the three in a row
    [first] = [e for e in stored_events(wednesday_week, type="EventChecksDeferred") if e.stream == stream][:1]
    assert (line["kind"], line["command"], line["event_id"]) == ("EventChecksDeferred", "run-due", first.id)
    assert datetime.fromisoformat(line["at"]) == datetime(2026, 1, 7, 12, 5, tzinfo=NEW_YORK)
    assert "another checkpoint for week 2026-01-07 is running" in line["why"], line
    assert "3 times, the last at 2026-01-07T12:15:00-05:00" in line["why"], line
    assert "run run-due again" not in line["why"]  # the next wake-up does, by itself
    assert datetime.fromisoformat(later["at"]) == datetime(2026, 1, 7, 14, 5, tzinfo=NEW_YORK)
    assert "times" not in later["why"]

    text = runner.invoke(app, ["status", "--offline"])
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    start = next(i for i, row in enumerate(lines) if "did not run their job" in row)
    row = lines[start + 2].split("\t")
    assert row[1:3] == ["put off: another run held the week", "run-due"], row
    assert row[4] == str(first.id)


def test_status_lists_a_lost_database_failing_every_wake_up_as_one_line_per_outage(wednesday_week: str) -> None:
    # An hour's outage under a five-minute cron: a dozen CommandFailed, recorded together by the next job command;
    # `status` gave each a line, a dozen of the same. Another outage three hours later is its own line.
    def lost(at: datetime, error: str = "gone") -> CommandFailed:
        return CommandFailed(command="run-due", error_type="OperationalError", error=error, exit_code=75, failed_at=at)

    start = datetime(2026, 1, 7, 6, 0, tzinfo=NEW_YORK)
    for minutes in range(0, 60, 5):
        _record(wednesday_week, start + timedelta(hours=1), lost(start + timedelta(minutes=minutes)), COMMANDS_FAILED)
    later = start + timedelta(hours=4)
    _record(wednesday_week, later, lost(later), COMMANDS_FAILED)
    _record(wednesday_week, later, lost(later + timedelta(minutes=5), error="another reason"), COMMANDS_FAILED)
    result = runner.invoke(app, ["status", "--json", "--offline"])
    assert result.exit_code == 0, result.output
    outage, again, other = json.loads(result.stdout)["jobs_not_done"]
    first = stored_events(wednesday_week, type="CommandFailed")[0]
    assert (outage["command"], outage["event_id"], datetime.fromisoformat(outage["at"])) == ("run-due", first.id, start)
    assert outage["why"].startswith("exit 75, OperationalError: gone"), outage
    assert "12 times, the last at 2026-01-07T06:55:00-05:00" in outage["why"], outage
    assert datetime.fromisoformat(again["at"]) == later and "times" not in again["why"]
    assert "another reason" in other["why"] and "times" not in other["why"]
