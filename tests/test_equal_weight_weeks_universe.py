"""EQUAL_WEIGHT over live books in static mode holds each week's universe as its weekly run's market snapshot recorded
it, not assets.yaml's as configured now.

A reader's trial took QQQ out of assets.yaml in its third week: the leaderboard's EQUAL_WEIGHT, and every account's
excess over it, changed for the two weeks before, which had held QQQ (the note said the books record no universe,
though each week's snapshot names the symbols the committee was offered); put back, it changed them again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


def _without_iau(folder: Path) -> Path:
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    assets = folder / "assets.yaml"
    assets.write_text("\n".join(line for line in assets.read_text().splitlines() if "symbol: IAU" not in line) + "\n")
    return folder


def _equal_weight(*config: str) -> tuple[list[float], list[str]]:
    shown = runner.invoke(app, [*config, "leaderboard", "--json"])
    assert shown.exit_code == 0, shown.output
    board = json.loads(shown.stdout)
    [curve] = [c["equity"] for c in board["curves"] if c["name"] == "EQUAL_WEIGHT"]
    return curve, list(board["notes"])


def test_equal_weight_keeps_each_weeks_own_universe_when_assets_yaml_changes(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # week 1, the packaged universe (IAU in it)
    config = _without_iau(tmp_path / "config")
    for at in ("2026-01-14T08:01:00-05:00", "2026-01-15T09:01:00-05:00"):  # week 2 without IAU
        monkeypatch.setenv("LLMTRADE_NOW", at)
        woke = runner.invoke(app, ["--config", str(config), "-q", "run-due"])
        assert woke.exit_code == 0, woke.output
    now, notes = _equal_weight("--config", str(config))
    before, _ = _equal_weight()  # the packaged universe, IAU in it, as week 1 had it
    assert now == before
    [said] = [n for n in notes if n.startswith("EQUAL_WEIGHT holds")]
    assert "as its weekly run's market snapshot recorded it" in said
