"""The sweep's trials (the deflated Sharpe's N) count every distinct configuration its record finished, not names.

A quant edits an override's values under the same name and reruns: the run with the old values was a trial too.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.config.loader import load_config
from llmtrade.domain.sweeps import SweepRunFinished
from llmtrade.settings import Settings
from llmtrade.sweep import spec, work
from llmtrade.sweep.driver import SweepOptions, SweepResult, earlier_results, run_sweep

runner = CliRunner()
NAME = f"t{uuid.uuid4().hex[:8]}"
SWEEP = f"""
name: {NAME}
retries: 0
ranges:
  - {{from: 2026-01-07, to: 2026-01-14}}
overrides:
  base: {{}}
  tight: {{risk.limits.max_position_pct: 0.05}}
"""


@pytest.fixture
def settings(empty_database_url: str, tmp_path: Path) -> Settings:
    return Settings(DATABASE_URL=empty_database_url, LLMTRADE_HOME=str(tmp_path / "home"))


def _sweep(settings: Settings, path: Path, text: str) -> SweepResult:
    path.write_text(text)
    return run_sweep(settings, load_config(None), None, path, SweepOptions())


def test_an_override_edited_under_the_same_name_counts_its_earlier_values_as_a_trial(
    settings: Settings, tmp_path: Path
) -> None:
    """`tight` run at 0.05, then edited to 0.08 and run again under the same name: three configurations were run and
    seen (15 trial accounts), where the label alone counted two (10). Back at 0.05, still 15: nothing new was tried."""
    path = tmp_path / "sweep.yaml"
    first = _sweep(settings, path, SWEEP)
    assert first.leaderboard.trials == 10
    edited = _sweep(settings, path, SWEEP.replace("0.05", "0.08"))
    assert [r.status for r in edited.runs] == ["done_earlier", "finished"]
    assert edited.leaderboard.trials == 15
    assert "of 1 run an earlier version of its file finished (no longer in it)" in edited.leaderboard.notes[0]
    page = tmp_path / "sweep.html"
    written = runner.invoke(
        cli, ["report", "--sweep", NAME, "-o", str(page)], env={"DATABASE_URL": settings.database_url or ""}
    )
    assert written.exit_code == 0, written.output
    assert "trials (the deflated Sharpe's N): 15" in page.read_text()
    back = _sweep(settings, path, SWEEP)
    assert [r.status for r in back.runs] == ["done_earlier", "done_earlier"]
    assert back.leaderboard.trials == 15


def test_the_same_configuration_on_other_prices_is_one_trial(tmp_path: Path) -> None:
    """A run finished on earlier prices (a price file that grew) under another run id tried the same configuration as
    the file's run: not counted again. One whose values differ under the same label is counted."""
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    loaded = load_config(None)
    now = spec.plan(path, spec.read(path), loaded, prices="csv:new", csv=True)
    before = spec.plan(path, spec.read(path), loaded, prices="csv:old", csv=True)
    path.write_text(SWEEP.replace("0.05", "0.08"))
    edited = spec.plan(path, spec.read(path), loaded, prices="csv:old", csv=True)
    assert {p.run_id for p in before}.isdisjoint({p.run_id for p in now})

    def finished(plan: spec.RunPlan) -> SweepRunFinished:
        return SweepRunFinished(
            run_id=plan.run_id,
            backtest=plan.backtest,
            label=plan.label,
            axes=plan.axes,
            start=plan.start,
            end=plan.end,
            attempt=1,
            trial_accounts=["acct_1"],
            leaderboard={},
            configuration=plan.configurations[0],
        )

    record = {run.run_id: run for run in map(finished, [*before, edited[1]])}
    assert [run.run_id for run in earlier_results(now, record)] == [edited[1].run_id]


class _Stop(BaseException):
    """Stands for the sweep being killed (Ctrl-C, a timeout): not an Exception, so no run catches it."""


def test_report_sweep_names_a_run_not_run_yet_by_its_axes(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep stopped after its first run: `report --sweep` named the run it never began "ce4354f6dcac" (its hash's
    first digits), so the page did not say which configuration is missing from the ranking. Now it gives its axes."""
    path = tmp_path / "sweep.yaml"
    name = f"v{uuid.uuid4().hex[:8]}"
    path.write_text(SWEEP.replace(NAME, name))
    real = work._backtest
    ran: list[str] = []

    def backtest(plan: Any, shared: Any) -> Any:
        if ran:
            raise _Stop
        ran.append(plan.label)
        return real(plan, shared)

    monkeypatch.setattr(work, "_backtest", backtest)
    with pytest.raises(_Stop):
        run_sweep(settings, load_config(None), None, path, SweepOptions())
    page = tmp_path / "sweep.html"
    written = runner.invoke(
        cli, ["report", "--sweep", name, "-o", str(page)], env={"DATABASE_URL": settings.database_url or ""}
    )
    assert written.exit_code == 0, written.output
    text = " ".join(re.sub(r"<[^>]+>", " ", page.read_text()).split())
    assert ran == ["overrides=base models=config memory=config seed=config range=2026-01-07..2026-01-14"]
    assert "overrides=tight models=config memory=config seed=config range=2026-01-07..2026-01-14 not run" in text


def test_a_sweep_runs_own_leaderboard_and_report_say_the_sweeps_trials(settings: Settings, tmp_path: Path) -> None:
    """`leaderboard --backtest RUN` of a sweep's run said "trials = 5" and deflated its DSR for them alone, with
    nothing saying the run was one of a sweep that compares 10, whose own table deflates the same account for all 10.
    Now its notes (and `report --backtest RUN`'s page) name the sweep, the run's axes and the sweep's trials."""
    path = tmp_path / "sweep.yaml"
    name = f"w{uuid.uuid4().hex[:8]}"
    path.write_text(SWEEP.replace(NAME, name))
    result = run_sweep(settings, load_config(None), None, path, SweepOptions())
    run = result.runs[1]
    env = {"DATABASE_URL": settings.database_url or ""}
    shown = runner.invoke(cli, ["leaderboard", "--backtest", run.backtest, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    board = json.loads(shown.stdout)
    assert board["trials"] == 5
    said = (
        f"this backtest is a run of sweep {name} ({run.label}): its DSR here is deflated for its own 5 trial accounts, "
        f"but the sweep compares 10"
    )
    assert any(note.startswith(said) for note in board["notes"]), board["notes"]
    page = tmp_path / "run.html"
    written = runner.invoke(cli, ["report", "--backtest", run.backtest, "-o", str(page)], env=env)
    assert written.exit_code == 0, written.output
    assert f"`llmtrade report --sweep {name}` deflates for 10" in page.read_text().replace("&#96;", "`")

    # A trial's plain backtest under the name of a run with the config it has (overrides `base: {}`) ran weeks into
    # the sweep's books (exit 0), past the sweep's range.
    base = result.runs[0]
    before = runner.invoke(cli, ["leaderboard", "--backtest", base.backtest, "--json"], env=env).stdout
    plain = ["backtest", "--from", "2026-01-07", "--to", "2026-01-28", "--offline", "--name", base.backtest]
    refused = runner.invoke(cli, plain, env=env)
    assert refused.exit_code == 2, refused.output
    assert f"backtest {base.backtest!r} is a run of sweep {name} ({base.label})" in refused.stderr
    assert runner.invoke(cli, ["leaderboard", "--backtest", base.backtest, "--json"], env=env).stdout == before


def test_an_override_renamed_with_its_values_kept_is_named_anew(settings: Settings, tmp_path: Path) -> None:
    """`tight` renamed `careful`, its values kept: the same configuration, so the same run (done earlier), but the
    sweep's leaderboard rows and `report --sweep`'s page still said "overrides=tight", a name no longer in the file.
    Now both name it as the file does, and count it once (10 trials, no earlier run)."""
    path = tmp_path / "sweep.yaml"
    name = f"r{uuid.uuid4().hex[:8]}"
    _sweep(settings, path, SWEEP.replace(NAME, name))
    renamed = _sweep(settings, path, SWEEP.replace(NAME, name).replace("tight:", "careful:"))
    assert [r.status for r in renamed.runs] == ["done_earlier", "done_earlier"]
    assert renamed.leaderboard.trials == 10
    shown = {row.label.split()[0] for row in renamed.leaderboard.rows}
    assert shown == {"overrides=base", "overrides=careful"}
    page = tmp_path / "sweep.html"
    written = runner.invoke(
        cli, ["report", "--sweep", name, "-o", str(page)], env={"DATABASE_URL": settings.database_url or ""}
    )
    assert written.exit_code == 0, written.output
    text = page.read_text()
    assert "overrides=tight" not in text
    assert text.count("overrides=careful") == 6  # its five trial accounts' rows and its line in the runs table


def test_an_offline_memory_axis_that_changes_nothing_is_said_on_the_board(settings: Settings, tmp_path: Path) -> None:
    """A trial: `memory: [true, false]` offline gave identical rows twice (the rules PMs read no memory), counted as
    two runs' trials, with nothing said. Runs whose books are the same close for close are named together."""
    path = tmp_path / "sweep.yaml"
    name = f"m{uuid.uuid4().hex[:8]}"
    text = f"name: {name}\nretries: 0\nranges:\n  - {{from: 2026-01-07, to: 2026-01-14}}\nmemory: [true, false]\n"
    board = _sweep(settings, path, text).leaderboard
    [same] = [note for note in board.notes if "hold the same books" in note]
    assert "memory=on" in same and "memory=off" in same and "each still counts in the trials" in same
    differing = _sweep(settings, tmp_path / "other.yaml", SWEEP.replace(NAME, f"d{uuid.uuid4().hex[:8]}")).leaderboard
    assert not [note for note in differing.notes if "hold the same books" in note]  # base and tight trade apart
