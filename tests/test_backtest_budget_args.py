"""`backtest --live-misses USD` is a dollar ceiling: finite and not negative. `inf` was taken as one ("at most $inf in
all": live calls paid without limit) and `nan` was refused as if negative ("should be greater than or equal to 0");
each is now said as `positions settle --price` says a price that is none (exit 2)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()
ARGS = ["backtest", "--from", "2024-01-03", "--to", "2024-01-10", "--replay", "--name", "budget"]


@pytest.mark.parametrize("typed", ["inf", "1e400", "nan", "-inf", "-1"])
def test_a_live_misses_ceiling_that_is_no_finite_dollar_amount_is_a_bad_argument(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, typed: str
) -> None:
    # A key, so that no key is no reason to refuse it; a server no one listens at, so that a run let go asks no host.
    monkeypatch.setenv("LLMTRADE_LLM_API_KEY", "sk-test")
    monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    refused = runner.invoke(app, [*ARGS, "--live-misses", typed])
    assert refused.exit_code == 2, refused.output
    shown = f"{float(typed):g}"
    assert f"error: --live-misses must be a finite number of US dollars, 0 or more, not {shown}" in refused.stderr
    assert "Traceback" not in refused.output
