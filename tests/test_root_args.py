"""The root options after the command: `llmtrade backtest ... --config DIR`, `llmtrade run-due -q`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.commands.root_args import MissingValue, hoisted

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run-due", "-q"], ["-q", "run-due"]),
        (
            ["backtest", "--from", "2024-01-03", "--config", "cfg"],
            ["--config", "cfg", "backtest", "--from", "2024-01-03"],
        ),
        (
            ["-v", "backtest", "sweep", "s.yaml", "-c", "cfg", "--quiet"],
            ["-v", "-c", "cfg", "--quiet", "backtest", "sweep", "s.yaml"],
        ),
        (["-c", "cfg", "status", "--json"], ["-c", "cfg", "status", "--json"]),
        (["config", "validate", "--config=cfg", "--log-json"], ["--config=cfg", "--log-json", "config", "validate"]),
        # After `--` everything is an argument, a root option's name too.
        (["ask", "--", "-q"], ["ask", "--", "-q"]),
        ([], []),
        (["-q"], ["-q"]),
    ],
)
def test_root_options_after_the_command_are_moved_before_it(args: list[str], expected: list[str]) -> None:
    assert hoisted(args) == expected


def test_config_after_the_command_is_the_config_used(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    found = runner.invoke(app, ["config", "validate", "--config", str(folder)])
    assert found.exit_code == 0, found.output
    assert f"configuration OK ({folder})" in found.output
    missing = runner.invoke(app, ["config", "validate", "-c", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert f"config folder {tmp_path / 'nowhere'} does not exist" in missing.output


def test_a_commands_option_value_is_never_moved_whatever_it_reads() -> None:
    """A review: `backtest --name -q --from ...` moved the name's value (-q) in front, and the name became --from."""
    import typer.main

    valued = typer.main.get_command(app).valued_options()  # type: ignore[attr-defined]
    assert {"--name", "--type", "--from", "-o"} <= valued and not valued & {"--config", "-c", "-q", "-v"}
    args = ["backtest", "--name", "-q", "--from", "2024-01-03", "-c", "cfg"]
    assert hoisted(args, valued) == ["-c", "cfg", "backtest", "--name", "-q", "--from", "2024-01-03"]
    assert hoisted(["events", "--type", "-v", "-v"], valued) == ["-v", "events", "--type", "-v"]


def test_a_root_option_after_the_command_without_its_value_is_said_as_such() -> None:
    """A new user's trial: `llmtrade status --config` said "No such option: --config", where `llmtrade --config` says
    the option requires an argument."""
    with pytest.raises(MissingValue, match=r"Option '-c' requires an argument\."):
        hoisted(["status", "-c"])
    for args in (["status", "--config"], ["--config"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: Option '--config' requires an argument."), result.stderr
