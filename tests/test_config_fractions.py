"""A percentage written where a setting takes a fraction is refused saying the fraction to write.

Found by a new user's trial: `max_position_pct: 20` (20%) was refused with "must be more than 0 and at most 1 (got
20)", which says the range but not that the setting is a fraction of 1; and `max_position_pct: 20%`, which YAML reads
as text, with "must be a number, written without quotes", though nothing was quoted."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import write_defaults

runner = CliRunner()

CASES = {
    "a whole percentage": (
        "risk.yaml",
        "max_position_pct: 0.20",
        "max_position_pct: 20",
        "limits.max_position_pct: must be more than 0 and at most 1, as a fraction: write 0.2 for 20% (got 20)",
    ),
    "a percentage under a strict bound": (
        "schedule.yaml",
        "threshold: 0.05",
        "threshold: 5",
        "event_checkpoint.threshold: must be at least 0 and less than 1, as a fraction: write 0.05 for 5% (got 5)",
    ),
    "a percent sign": (
        "risk.yaml",
        "halt_drawdown_pct: 0.20",
        "halt_drawdown_pct: 20%",
        "circuit_breaker.halt_drawdown_pct: must be a number: YAML reads 20% as text; write the fraction 0.2 for "
        "20% (got '20%')",
    ),
    "a percent sign on a number that is no fraction": (
        "accounts.yaml",
        "slippage_bps: 5",
        "slippage_bps: 5%",
        "paper.slippage_bps: must be a number: YAML reads 5% as text; write it without '%' (got '5%')",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_percentage_for_a_fraction_is_told_the_fraction(tmp_path: Path, case: str) -> None:
    filename, old, new, expected = CASES[case]
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / filename
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    result = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"invalid configuration in {folder}/{filename}" in result.output
    assert expected in result.output, result.output
    assert "written without quotes" not in result.output


def test_a_value_past_a_hundred_is_no_percentage(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "risk.yaml"
    path.write_text(path.read_text().replace("max_position_pct: 0.20", "max_position_pct: 250", 1))
    result = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert result.exit_code == 2, result.output
    assert "limits.max_position_pct: must be more than 0 and at most 1 (got 250)" in result.output, result.output
