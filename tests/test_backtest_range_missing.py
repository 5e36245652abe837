"""A backtest given --from or --to alone says which is missing (commands/backtest.py).

A new user's trial: `llmtrade backtest --from 2024-01-03 --offline` was told "backtest needs --from and --to", as if
neither had been given."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["--from", "2024-01-03"], "--to is missing (given --from 2024-01-03)"),
        (["--to", "2024-01-03"], "--from is missing (given --to 2024-01-03)"),
        ([], "--from and --to are missing;"),
    ],
)
def test_the_missing_end_of_the_range_is_named(given: list[str], said: str) -> None:
    refused = runner.invoke(app, ["backtest", *given, "--offline"])
    assert refused.exit_code == 2, refused.output
    assert f"backtest needs --from and --to: {said}" in refused.stderr, refused.stderr
