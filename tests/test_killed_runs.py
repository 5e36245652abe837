"""A run killed without warning (SIGKILL, the OOM killer, a reboot) records no end; the next run that starts records
it as killed (RunKilled), once, when no process holds the killed run's lease (app/killed_runs.py). A real process
holds a weekly run open mid-way; while it lives nothing is recorded of it, and after a real SIGKILL the next run says
"killed" where `status`, `report` and `events` could only say "no end recorded (killed, or still running)"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from typer.testing import CliRunner

from llmtrade.app.report_runs import run_lines
from llmtrade.cli import app
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import RunStarted
from llmtrade.domain.streams import run_stream
from llmtrade.storage.bootstrap import Storage
from tests.support import stored_events

runner = CliRunner()

# The console script, with the weekly run held open just after its RunStarted is stored (its week lock and lease held,
# as a run mid-way holds them) until the process is killed: it says "started" on stdout, then sleeps.
_HELD_OPEN = """
import sys, time

from llmtrade.app import jobs

started = jobs.start_run


def held_open(*args, **kwargs):
    run = started(*args, **kwargs)
    print("started", flush=True)
    time.sleep(600)
    return run


jobs.start_run = held_open
sys.argv = ["llmtrade", *sys.argv[1:]]
from llmtrade.entry import main

main()
"""


def _council(question: str) -> str:
    """A later run of another command (no week lock of its own): its run id."""
    result = runner.invoke(app, ["-q", "council", "--offline", question])
    assert result.exit_code == 0, result.output
    return stored_events(os.environ["DATABASE_URL"], type="RunStarted")[-1].run_id


def test_a_run_killed_by_sigkill_is_recorded_killed_once_by_the_next_run_and_never_while_it_runs(
    wednesday_week: str, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, "LLMTRADE_NOW": os.environ["LLMTRADE_NOW"]}
    held = subprocess.Popen(
        [sys.executable, "-c", _HELD_OPEN, "-q", "run-weekly"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert held.stdout is not None and held.stdout.readline().strip() == "started"
        [started] = stored_events(wednesday_week, type="RunStarted")
        assert started.payload.get("lease") is not None
        # Still running, its lease held: later runs never judge it.
        _council("is the week calm?")
        _council("is the week still calm?")
        assert not stored_events(wednesday_week, run_id=started.run_id, type=["RunFinished", "RunFailed", "RunKilled"])
        assert _status_of("run-weekly")["outcome"] == "running"  # its lease held: not "running or killed"
    finally:
        held.send_signal(signal.SIGKILL)
        held.wait(timeout=60)
    assert held.returncode == -signal.SIGKILL

    deadline = time.monotonic() + 30  # the server ends the killed connection's session (and its locks) on its own
    # Before any job records it, status already tells it killed (a trial: "running or killed" until the next job).
    shown = _status_of("run-weekly")
    while shown["outcome"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
        shown = _status_of("run-weekly")
    assert shown["outcome"] == "killed" and "the next job records it" in shown["error"], shown
    assert not stored_events(wednesday_week, type="RunKilled")  # status only reads
    rerun = runner.invoke(app, ["-q", "run-weekly"])
    while rerun.exit_code == 75 and time.monotonic() < deadline:  # the week lock not yet released by the server
        time.sleep(0.2)
        rerun = runner.invoke(app, ["-q", "run-weekly"])
    assert rerun.exit_code == 0, rerun.output
    finder = [e for e in stored_events(wednesday_week, type="RunStarted") if e.payload["command"] == "run-weekly"][-1]

    [killed] = stored_events(wednesday_week, type="RunKilled")
    assert killed.run_id == started.run_id and killed.stream == run_stream(started.run_id)
    assert killed.payload["found_by"] == finder.run_id and killed.payload["command"] == "run-weekly"
    # Once: a later run does not record it again.
    _council("and now?")
    assert len(stored_events(wednesday_week, type="RunKilled")) == 1

    # What the books say of it: "killed", who found it and when.
    [line] = [r for r in run_lines(stored_events(wednesday_week)) if r.run_id == started.run_id]
    assert line.outcome == "killed" and line.end_event_id == killed.id
    assert f"when run {finder.run_id} looked" in line.detail[0]
    shown = runner.invoke(app, ["events", "--type", "RunKilled", "--json"])
    assert shown.exit_code == 0 and started.run_id in shown.stdout and "found_by" in shown.stdout


def _status_of(command: str) -> dict:
    result = runner.invoke(app, ["status", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["last_runs"][command]


def test_a_run_started_before_leases_is_left_as_it_was(storage: Storage) -> None:
    """Old books: a RunStarted with no lease reads as before and is never judged (its process cannot be told from a
    running one)."""
    from llmtrade.app.killed_runs import record_killed_runs

    old = {
        "command": "run-weekly",
        "arguments": {},
        "mode": "offline",
        "mode_reason": "no key",
        "config_source": "packaged defaults",
        "version": "0.1.0",
    }
    storage.events.append([NewEvent(type="RunStarted", stream=run_stream("old-run"), payload=old, run_id="old-run")])
    [stored] = storage.events.read(type="RunStarted")
    assert RunStarted.from_event(stored).lease is None
    assert record_killed_runs(storage, found_by="new-run") == []
    assert storage.events.read(type="RunKilled") == []


def test_status_says_killed(storage: Storage, cli_env: dict[str, str]) -> None:
    """`status` says killed, with the finder and when, for a run recorded killed."""
    from llmtrade.domain.runs import RunKilled

    started = RunStarted(
        command="postmortem", arguments={}, mode="offline", mode_reason="x", config_source="y", version="z", lease=1
    )
    storage.events.append([NewEvent.of(started, stream=run_stream("r1"), run_id="r1")])
    at = datetime(2026, 1, 7, 12, tzinfo=UTC)
    killed = RunKilled(command="postmortem", found_by="r2", last_event_type="RunStarted", last_event_at=at)
    storage.events.append([NewEvent.of(killed, stream=run_stream("r1"), run_id="r1")])
    result = runner.invoke(app, ["status", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout)["last_runs"]["postmortem"]
    assert last["outcome"] == "killed" and "run r2" in last["error"]


def test_a_failure_while_recording_killed_runs_is_said_and_does_not_fail_the_run(
    storage: Storage, cli_env: dict[str, str]
) -> None:
    """An earlier run's start that no longer reads (a newer version's, after a downgrade) failed every run that looked
    for killed runs, for good (a review): the starting run now says so and goes on; the next one tries again."""
    unreadable = NewEvent(
        type="RunStarted", stream=run_stream("r-old"), run_id="r-old", payload={"lease": 4242}, schema_version=1
    )
    storage.events.append([unreadable])

    first = runner.invoke(app, ["council", "--offline", "is the trend up?"])
    second = runner.invoke(app, ["-q", "council", "--offline", "is the trend up?"])

    for result in (first, second):
        assert result.exit_code == 0, result.output
        assert "runs killed earlier were not recorded (ValidationError" in result.stderr
        assert "the next run tries again" in result.stderr and "Traceback" not in result.output
        [warned] = [line for line in result.stderr.splitlines() if "runs killed earlier" in line]  # one line
        assert warned.endswith("the next run tries again")
    assert not stored_events(cli_env["DATABASE_URL"], type="RunKilled")
    ends = [e.type for e in stored_events(cli_env["DATABASE_URL"]) if e.type in ("RunFinished", "RunFailed")]
    assert ends == ["RunFinished", "RunFinished"]


def test_one_unreadable_old_run_does_not_stop_later_killed_runs_being_recorded(
    storage: Storage, cli_env: dict[str, str]
) -> None:
    """3cdca55 makes a failure in record_killed_runs a warning; the loop still ends at the first run that does not
    read, so every killed run after it is never recorded (status keeps saying "no end recorded")."""
    unreadable = NewEvent(
        type="RunStarted", stream=run_stream("r-old"), run_id="r-old", payload={"lease": 4242}, schema_version=1
    )
    storage.events.append([unreadable])
    started = RunStarted(
        command="postmortem", arguments={}, mode="offline", mode_reason="x", config_source="y", version="z", lease=4343
    )
    storage.events.append([NewEvent.of(started, stream=run_stream("r-killed"), run_id="r-killed")])

    result = runner.invoke(app, ["council", "--offline", "is the trend up?"])

    assert result.exit_code == 0, result.output
    assert "runs killed earlier were not recorded" in result.stderr
    assert [e.run_id for e in stored_events(cli_env["DATABASE_URL"], type="RunKilled")] == ["r-killed"]


def test_a_run_with_no_end_is_not_called_killed_outright(storage: Storage, cli_env: dict[str, str]) -> None:
    """A run that lost its database mid-run (exit 75, said as such) cannot record its end either: status said
    "killed: recorded no end, and no process holds its lease: killed". It may have been either: the wording says so,
    in status before a job records it and in RunKilled's note (status, report, trace, alerts) after; `outcome` stays
    "killed" in --json, the RunKilled's name."""
    from llmtrade.domain.runs import RunKilled

    started = RunStarted(
        command="run-weekly", arguments={}, mode="offline", mode_reason="x", config_source="y", version="z", lease=1
    )
    storage.events.append([NewEvent.of(started, stream=run_stream("r1"), run_id="r1")])
    result = runner.invoke(app, ["status", "--offline"])
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if "run-weekly" in line]
    assert "recorded no end (killed, or lost its database)" in line and ": killed" not in line, line
    assert "killed:" not in line, line
    at = datetime(2026, 1, 7, 12, tzinfo=UTC)
    note = RunKilled(command="run-weekly", found_by="r2", last_event_type="RunStarted", last_event_at=at).note(at)
    assert note.startswith("recorded no end (killed, or lost its database)"), note
