"""A warning said on stderr before the log file was open is kept in it too (README: every warning a command says on
stderr is a line of LLMTRADE_HOME/logs/llmtrade.jsonl, msg Warned).

The settings' own warning (an LLMTRADE_ variable llmtrade reads nothing from, a misspelt LLMTRADE_CONFIG_DIRS) is
said while the settings are first read, which is also how the log file finds LLMTRADE_HOME: it went to stderr alone,
so under cron a run on the packaged config in place of the one meant left no trace of why in the log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


def _lines(home: Path) -> list[dict]:
    return [json.loads(line) for line in (home / "logs" / "llmtrade.jsonl").read_text().splitlines()]


def test_the_settings_warning_of_a_misspelt_variable_is_in_the_log_file_once(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, clean_environment: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMTRADE_CONFIG_DIRS", str(tmp_path / "meant"))
    result = runner.invoke(app, ["-q", "run-weekly", "--offline"])
    assert result.exit_code == 0, result.output
    said = "warning: LLMTRADE_CONFIG_DIRS is set but is no setting llmtrade reads"
    assert result.stderr.count(said) == 1, result.stderr
    lines = _lines(clean_environment)
    warned = [line for line in lines if line["msg"] == "Warned"]
    assert [line["text"] for line in warned if line["text"].startswith(said)] != [], warned
    assert sum(1 for line in warned if line["text"].startswith(said)) == 1
    assert all(line["level"] == "warning" for line in warned)
    # The lines of the run itself are in the file too (the file opened once, not twice by the nested warning).
    assert any(line["msg"] == "RunFinished" for line in lines)


def test_the_crontab_warning_of_variables_cron_will_not_have_is_in_the_log_file(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`schedule crontab`'s warning (DATABASE_URL and a key set in this shell, not in the .env cron's line reads) was
    said on stderr alone: the Output it wrote through is not the container's warning."""
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-verysecret")
    result = runner.invoke(app, ["schedule", "crontab"])
    assert result.exit_code == 0, result.output
    said = "warning: OPENROUTER_API_KEY: set in this shell but not in"
    assert said in result.stderr
    [logged] = [line for line in _lines(clean_environment) if line["msg"] == "Warned"]
    assert logged["level"] == "warning" and logged["text"].startswith(said), logged
    assert "verysecret" not in logged["text"]
