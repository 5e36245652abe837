"""A stop (SIGTERM, Ctrl-C) at each moment of a backtest's start says which backtest stopped, where its start was and
that the same command goes on. A trial's `timeout -s TERM 1.2 llmtrade backtest ...` (exit 143) printed only the
generic stop line: its config was loading, its database being created, and no word named the backtest."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.app import backtest as backtest_module
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.known_weeks import HISTORY
from llmtrade.cli import app as cli
from llmtrade.config import loader
from llmtrade.stops import Terminated

runner = CliRunner()
WEEK = "2026-01-07"


def _terminated(*_args: Any, **_kwargs: Any) -> Any:
    raise Terminated


def _stopped_line(name: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["backtest", "--from", WEEK, "--to", WEEK, "--offline", "--name", name])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return result.exit_code, errors[0]


@pytest.mark.parametrize(
    ("target", "attribute", "where"),
    [
        (loader, "load_config", "stopped before its first week, while loading its code and config: "),
        (BacktestContainer, "held", f"stopped before its first week ({WEEK}), while opening its database llmtrade_bt_"),
        (backtest_module, "check_resume", f"stopped before its first week ({WEEK}), while comparing its inputs"),
        (
            backtest_module,
            "prefetch",
            # The days its price errors name begin long before --from: said why (a trial read them unexplained).
            f"stopped before the first week it had to run ({WEEK}), while reading its prices into the bar cache, "
            f"{date.fromisoformat(WEEK) - HISTORY} to ",
        ),
        (
            backtest_module,
            "prefetch",
            f"(from {HISTORY.days} days before its first week: the history a weekly run's market snapshot reads)",
        ),
        (backtest_module, "paths_planned", "while starting its helper process (the checkpoints' intraday paths)"),
    ],
)
def test_a_sigterm_at_each_moment_of_the_start_names_the_backtest_where_it_was_and_the_rerun(
    target: object, attribute: str, where: str, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path))
    name = f"s{uuid.uuid4().hex[:8]}"
    with monkeypatch.context() as patched:
        patched.setattr(target, attribute, _terminated)
        code, line = _stopped_line(name)

    # Before: "error: terminated (SIGTERM); what finished before it is stored: run the same command again to go on",
    # and nothing more, until the loop's own note took over (the prefetch said the first week, not its step).
    assert code == 143, line
    assert line.count(f"backtest {name!r} ") == 1 and where in line, line  # said once
    assert "run the same command again to go on" in line
    if attribute in ("load_config", "held", "check_resume"):
        assert "the same command starts it (or resumes it after the weeks an earlier start finished)" in line, line

    again = runner.invoke(cli, ["backtest", "--from", WEEK, "--to", WEEK, "--offline", "--name", name, "--json"])
    assert again.exit_code == 0, again.output  # the same command goes on
