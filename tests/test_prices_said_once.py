"""The weekly run's header says where its prices came from once: it said "prices: SYNTHETIC synthetic" (the flag,
then the provider's name, the same word), found by a new user's trial; a mix of files and the synthetic market said
"SYNTHETIC csv,synthetic"."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.commands.render.common import prices_from

runner = CliRunner()


def test_the_weekly_header_says_synthetic_prices_once(wednesday_week: str) -> None:
    result = runner.invoke(app, ["run-weekly", "--offline"])
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if line.startswith("prices: ")]
    assert line == "prices: SYNTHETIC (the seeded synthetic market), last session 2026-01-06", line


@pytest.mark.parametrize(
    ("source", "synthetic", "said"),
    [
        ("synthetic", True, "SYNTHETIC (the seeded synthetic market)"),
        ("synthetic (cache)", True, "SYNTHETIC (the seeded synthetic market), cached"),
        ("csv,synthetic", True, "csv + SYNTHETIC (the seeded synthetic market)"),
        ("csv", False, "csv"),
        ("alpaca,yfinance (cache)", False, "alpaca + yfinance, cached"),
    ],
)
def test_where_prices_came_from_is_said_once(source: str, synthetic: bool, said: str) -> None:
    assert prices_from(source, synthetic=synthetic) == said
