"""`backtest --name H1` beside an existing `h1`: one database (names are compared without case, - and _ alike), so
it is refused, and the refusal says why. A trial met "backtest 'H1' was started with other inputs: name h1 (now H1)",
which read as if H1 were a backtest of its own whose inputs had changed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()


def test_a_name_alike_but_for_case_is_refused_naming_the_backtest_as_stored(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(WEEK + timedelta(days=10)))
    args = ["backtest", "--csv", str(folder), "--from", str(WEEK), "--to", str(WEEK), "--offline", "--name"]
    assert runner.invoke(cli, [*args, name]).exit_code == 0

    other = name.upper().replace("T", "t", 1)  # tXXXX -> tXXXX upper-cased but its first letter: another spelling
    refused = runner.invoke(cli, [*args, other])
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.stderr.split())
    assert f"--name {other} is the name of backtest {name} (as it was recorded)" in said, said
    assert "backtest names are compared without case" in said, said
    assert f"To resume it, run the same command with --name {name}" in said, said
    assert "give another --name" in said, said
    assert "started with other inputs" not in said, said

    # The name as recorded resumes (finished: nothing to run), as the message says.
    again = runner.invoke(cli, [*args, name])
    assert again.exit_code == 0, again.output


def test_the_help_says_the_name_a_backtest_without_name_gets() -> None:
    """Found in a trial: a second `backtest` without --name over another range was refused as "backtest 'default'
    was started with other inputs", a name given nowhere: neither --help nor the README said --name defaults to it."""
    from typer.testing import CliRunner

    from llmtrade.cli import app as cli

    helped = CliRunner().invoke(cli, ["backtest", "--help"], terminal_width=200)
    assert helped.exit_code == 0, helped.output
    assert "(default: default)" in " ".join(helped.output.split()), helped.output
