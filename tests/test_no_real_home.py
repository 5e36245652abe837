"""The suite never writes the user's real llmtrade home: a test that deletes LLMTRADE_HOME to check the default (as
`schedule crontab`'s does) ran its command in ~/.local/share/llmtrade, appending to the user's log and rewriting the
metrics textfile a node exporter may scrape; an embedded server was once left running there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.paths import default_home

SESSION_XDG = os.environ.get("XDG_DATA_HOME", "")  # as collection saw it: before any test's own environment


def test_a_default_home_asked_for_in_a_test_is_the_tests_own(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = Path.home() / ".local" / "share" / "llmtrade"
    assert default_home() == tmp_path / "xdg" / "llmtrade" != real
    monkeypatch.delenv("LLMTRADE_HOME")
    result = CliRunner().invoke(app, ["council", "Is cash a position?", "--offline"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "xdg" / "llmtrade" / "logs" / "llmtrade.jsonl").exists()  # the command's log: here, not there


def test_a_process_started_with_the_sessions_environment_has_a_home_of_the_sessions(no_real_home: Path) -> None:
    """Outside a test's own environment: a subprocess given a copy of the environment as collection saw it."""
    script = "from llmtrade.paths import default_home; print(default_home())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMTRADE_")}
    env["XDG_DATA_HOME"] = SESSION_XDG
    found = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()) == no_real_home / "llmtrade" != Path.home() / ".local" / "share" / "llmtrade"
