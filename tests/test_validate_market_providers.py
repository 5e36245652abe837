"""`config validate` refuses the market providers every job that prices refuses, as those jobs do (exit 2).

Found by a new user's trial: with LLMTRADE_MARKET_PROVIDERS=yahoo, or assets.yaml's `providers: [alpaca, synthetic]`
in a live home, `config validate` said "configuration OK", and then run-weekly, status and every job that prices
exited 2 on it; the second named neither assets.yaml nor the setting ("market providers ['alpaca', 'synthetic']")."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import write_defaults

runner = CliRunner()
MIXED = "providers: [alpaca, synthetic]"


def _folder(tmp_path: Path, new: str | None = None) -> Path:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    if new is not None:
        path = folder / "assets.yaml"
        assert "providers: [alpaca, yfinance]" in path.read_text()
        path.write_text(path.read_text().replace("providers: [alpaca, yfinance]", new, 1))
    return folder


def test_an_unknown_provider_in_the_environment_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "yahoo")
    result = runner.invoke(app, ["--config", str(_folder(tmp_path)), "config", "validate"])
    assert result.exit_code == 2, result.output
    assert (
        "invalid configuration in the environment (LLMTRADE_MARKET_PROVIDERS): LLMTRADE_MARKET_PROVIDERS='yahoo': "
        "unknown provider(s) ['yahoo']; choose from alpaca, yfinance, csv, synthetic"
    ) in result.output, result.output
    assert "configuration OK" not in result.output


def test_synthetic_among_live_providers_is_refused_naming_assets_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "a-key")  # live: nothing is asked of any model by validate
    folder = _folder(tmp_path, MIXED)
    result = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert result.exit_code == 2, result.output
    assert (
        f"invalid configuration in {folder}/assets.yaml: market_data.providers ['alpaca', 'synthetic']: a live run "
        "never falls back to synthetic prices"
    ) in result.output, result.output


def test_offline_the_configured_providers_are_not_read_and_nothing_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--config", str(_folder(tmp_path, MIXED)), "config", "validate"])
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output
