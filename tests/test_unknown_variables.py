"""An LLMTRADE_ variable llmtrade reads no setting from is warned of, with the one it likely meant (settings.py).

A new user's trial: LLMTRADE_CONFIG_DIRS=... (one letter too many) was ignored without a word, and the command ran
on the packaged configuration as if no folder had been given; LLMTRADE_HOMR in `.env` the same, in another home."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


def test_a_misspelt_variable_is_warned_of_naming_the_one_meant(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMTRADE_CONFIG_DIRS", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LLMTRADE_HOMR=/nowhere\n")
    result = runner.invoke(app, ["-q", "trading", "status"])
    assert result.exit_code == 0, result.output
    assert (
        "warning: LLMTRADE_CONFIG_DIRS is set but is no setting llmtrade reads: it is ignored; did you mean "
        "LLMTRADE_CONFIG_DIR?"
    ) in result.stderr
    assert "LLMTRADE_HOMR is set but is no setting llmtrade reads: it is ignored; did you mean LLMTRADE_HOME?" in (
        result.stderr
    )


def test_the_variables_llmtrade_reads_are_not_warned_of(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "5")
    result = runner.invoke(app, ["trading", "status"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
