"""An unknown key that is a setting with two neighbouring letters swapped names the setting (config/problems.py).

A new user's trial: `weekly_run: {day: wednesday, tiem: "08:00"}` was told "unknown key (not a setting of this
file)" and nothing more, as was a sweep file's `nmae:`: difflib's ratio for a swap in a short word is 0.75, under the
0.8 cutoff that names `max_open_positoins`'s setting."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import write_defaults

runner = CliRunner()


def test_a_short_key_with_two_letters_swapped_names_the_setting(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "schedule.yaml"
    path.write_text(path.read_text().replace('time: "08:00"', 'tiem: "08:00"', 1))
    refused = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert refused.exit_code == 2, refused.output
    assert "weekly_run.tiem: unknown key (not a setting of this file); did you mean time?" in refused.output


def test_a_sweep_files_swapped_key_names_the_setting(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("nmae: demo\nmode: offline\nranges:\n  - {from: 2026-01-07, to: 2026-01-21}\n")
    refused = runner.invoke(app, ["backtest", "sweep", str(sweep)])
    assert refused.exit_code == 2, refused.output
    assert "key nmae: unknown key (not a setting of this file); did you mean name?" in refused.stderr
