"""A warning (what needs a look: an alert not sent, a degraded run, a prompt override that leaves something out) is
kept in LLMTRADE_HOME/logs/llmtrade.jsonl as well as said on stderr.

Said on stderr only, it was lost wherever cron's output goes nowhere (no MAILTO, `>/dev/null 2>&1`, a mail system not
set up): the log file, which keeps every event's line, held nothing of it, so a later look could not find that an
alert had not gone out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_prompt_override_drift import CHECKPOINT_STALE, _folder, _without

runner = CliRunner()


def _warned(home: Path) -> list[dict]:
    lines = [json.loads(line) for line in (home / "logs" / "llmtrade.jsonl").read_text().splitlines()]
    return [line for line in lines if line["level"] == "warning" and line["msg"] == "Warned"]


@pytest.mark.parametrize("flags", [["-q"], ["-v"]], ids=["quiet", "verbose"])
def test_a_warning_said_on_stderr_is_in_the_log_file_too_and_said_once(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_environment: Path, flags: list[str]
) -> None:
    folder = _folder(tmp_path, {"checkpoint.user.j2": _without("checkpoint.user.j2", CHECKPOINT_STALE)})
    monkeypatch.setenv("LLMTRADE_PROMPTS_DIR", str(folder))
    result = runner.invoke(app, [*flags, "run-weekly", "--offline"])
    assert result.exit_code == 0, result.output
    said = f"prompt override {folder / 'checkpoint.user.j2'} leaves out"
    assert result.stderr.count(said) == 1, result.stderr  # --verbose's log lines do not say it a second time
    [logged] = _warned(clean_environment)
    assert logged["text"].startswith(said), logged
    assert logged["text"] in result.stderr
