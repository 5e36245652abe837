"""`llmtrade --quiet` (`-q`): a command run from cron says nothing on success, so cron mails nothing, but what needs
a look (a degraded run), its errors and a `--json` document it was asked for. Before, every `run-due` said
'nothing is due' and the mode banner every five minutes, and `report` said 'wrote ...' every week."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.fakes.committee_answers import grok_cannot_pitch
from tests.support import going_live

runner = CliRunner()


def _quiet(*args: str) -> Any:
    result = runner.invoke(app, ["-q", *args])
    assert result.exit_code == 0, result.output
    return result


def test_cron_jobs_and_housekeeping_say_nothing_on_success(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    said = {}
    for args in (
        ["run-due"],  # the weekly run
        ["run-due"],  # nothing is due
        ["report", "-o", str(tmp_path / "week.html")],
        ["leaderboard"],
        ["init", str(tmp_path / "config")],
        ["config", "validate"],
        ["db", "migrate"],
        ["trading", "disable", "--reason", "drill"],
        ["trading", "enable", "--reason", "drill"],
    ):
        result = _quiet(*args)
        said[" ".join(args[:1])] = (result.stdout, result.stderr)
    for at in ("09:01", "12:01"):  # checkpoints, each in its time
        monkeypatch.setenv("LLMTRADE_NOW", f"2026-01-07T{at}:00-05:00")
        result = _quiet("run-due")
        said[f"checkpoint {at}"] = (result.stdout, result.stderr)

    assert {command: out for command, out in said.items() if out != ("", "")} == {}
    assert (tmp_path / "week.html").stat().st_size > 0  # done, only not said

    spoken = runner.invoke(app, ["report", "-o", str(tmp_path / "again.html")])  # the next command speaks again
    assert spoken.stdout.startswith(f"wrote {tmp_path / 'again.html'}")


def test_json_and_errors_are_kept(wednesday_week: str) -> None:
    ran = _quiet("run-due", "--offline", "--json")  # offline as asked: nothing to say of it
    assert [job["job"] for job in json.loads(ran.stdout)] == ["weekly:2026-01-07"] and ran.stderr == ""

    wrong = runner.invoke(app, ["-q", "checkpoint", "11:11"])
    assert wrong.exit_code == 2 and wrong.stdout == ""
    assert wrong.stderr.startswith("error: ") and "11:11" in wrong.stderr


def test_a_degraded_run_is_said_with_quiet_too(wednesday_week: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with going_live(monkeypatch, grok_cannot_pitch):
        result = _quiet("run-due")

    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("weekly:2026-01-07 DEGRADED: ") for line in lines)
    assert any("PM grok" in line and "acct_4 stays flat" in line for line in lines)
    assert result.stderr == ""  # no mode banner, no progress


def test_a_config_error_is_one_line_under_quiet_and_names_each_problem(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Cron mails every line: a config error said its file on one line and each problem under it (found by the months
    trial). Under -q it is one line with every problem; without -q the list stays as it was."""
    assert runner.invoke(app, ["init", str(tmp_path / "config")]).exit_code == 0
    schedule = tmp_path / "config" / "schedule.yaml"
    text = schedule.read_text().replace('time: "08:00"', 'time: "25:99"').replace("day: tuesday", "day: funday")
    schedule.write_text(text)
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(tmp_path / "config"))

    quiet = runner.invoke(app, ["-q", "run-due"])
    assert (quiet.exit_code, quiet.stdout) == (2, "")
    [line] = quiet.stderr.splitlines()
    assert line.startswith(f"error: invalid configuration in {schedule}: weekly_run.time: ")
    assert "(got '25:99'); postmortem.day: " in line and line.endswith("(got 'funday')")

    said = runner.invoke(app, ["run-due"])
    assert said.exit_code == 2
    assert said.stderr.splitlines()[-3:] == [
        f"error: invalid configuration in {schedule}",
        *(f"  - {problem}" for problem in line.split(": ", 2)[2].split("; ")),
    ]

    schedule.write_text("weekly_run: [broken\n")
    broken = runner.invoke(app, ["-q", "run-due"])
    assert broken.exit_code == 2
    [line] = broken.stderr.splitlines()
    assert line.startswith(f"error: invalid configuration in {schedule}: line ") and "malformed YAML" in line
