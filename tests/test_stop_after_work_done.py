"""A stop (SIGTERM, Ctrl-C) that lands right after a job recorded its work done never records its run failed.

A new user's trial sent SIGTERM to `run-due` as its weekly run wrote its last records: WeekCompleted was stored, then
the stop landed before the run's RunFinished, so the run was recorded failed (exit 143, "run the same command again
to go on"). Nothing could mend it: the week was done, so no rerun ever ran, and for a week `status`, the metrics
(`llmtrade_last_run_status{status="failed"}`), the leaderboard's and report's "1 of 69 trading runs failed and no rerun
finished them" and the silence alert ("no successful weekly run in 15 days") all said the week's run had failed. The
same with a postmortem killed after its PostmortemCompleted. Each job's completion marker (WeekCompleted,
CheckpointCompleted, PostmortemCompleted) and its run's end now go in one append (workflows/completion.py,
app/runs.py `RunLog.finished`): both or neither."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.stops import Terminated
from llmtrade.storage.event_store import EventStore

runner = CliRunner()

WEEKLY = ("2026-01-07T08:00:00-05:00", ["run-weekly"], "WeekCompleted", "run-weekly")
CHECKPOINT = ("2026-01-07T12:00:00-05:00", ["checkpoint", "12:00"], "CheckpointCompleted", "checkpoint")
POSTMORTEM = ("2026-01-13T16:31:00-05:00", ["postmortem", "--week", "2026-01-07"], "PostmortemCompleted", "postmortem")


def _events() -> list[dict[str, Any]]:
    listed = runner.invoke(app, ["events", "--json"])
    assert listed.exit_code == 0, listed.output
    return [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("job", [WEEKLY, CHECKPOINT, POSTMORTEM], ids=["weekly", "checkpoint", "postmortem"])
def test_a_stop_right_after_a_job_is_recorded_done_leaves_its_run_finished(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, job: tuple[str, list[str], str, str]
) -> None:
    now, command, marker, name = job
    for before in (WEEKLY, CHECKPOINT):  # the jobs before this one, run whole
        if before[0] < now:
            monkeypatch.setenv("LLMTRADE_NOW", before[0])
            assert runner.invoke(app, before[1]).exit_code == 0
    append = EventStore.append
    state = {"armed": False, "fired": False}

    def appending(self: EventStore, events: Any, **kw: Any) -> Any:
        if state["armed"] and not state["fired"]:
            state["fired"] = True
            raise Terminated()  # the stop lands on the next write after the job was recorded done
        stored = append(self, events, **kw)
        if any(e.type == marker for e in events):
            state["armed"] = True
        return stored

    monkeypatch.setenv("LLMTRADE_NOW", now)
    monkeypatch.setattr(EventStore, "append", appending)
    runner.invoke(app, command)
    monkeypatch.setattr(EventStore, "append", append)

    rows = _events()
    [done] = [r for r in rows if r["type"] == marker]
    ends = [r["type"] for r in rows if r["run_id"] == done["run_id"] and r["type"] in ("RunFinished", "RunFailed")]
    assert ends == ["RunFinished"]
    status = runner.invoke(app, ["status", "--json"])
    assert json.loads(status.stdout)["last_runs"][name]["outcome"] == "finished", status.output
