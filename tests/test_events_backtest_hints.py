"""`events --backtest NAME` with a filter that names nothing in the backtest's books: the hint names the command that
lists what those books hold, `--backtest NAME` included (it pointed at the live books)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()


def test_an_unknown_run_or_type_in_a_backtest_points_at_that_backtests_listing(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Found in a trial: `events --backtest h1 --run nosuch` said "`llmtrade events --type RunStarted` lists them",
    which lists the live books' runs, none of the backtest's."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(WEEK + timedelta(days=10)))
    args = ["backtest", "--csv", str(folder), "--from", str(WEEK), "--to", str(WEEK), "--offline", "--name", name]
    ran = runner.invoke(cli, args)
    assert ran.exit_code == 0, ran.output
    run = runner.invoke(cli, ["events", "--backtest", name, "--run", "nosuch"])
    assert run.exit_code == 2, run.output
    said = " ".join(run.stderr.split())
    assert f"`llmtrade events --backtest {name} --type RunStarted` lists them" in said, said
    kind = runner.invoke(cli, ["events", "--backtest", name, "--type", "Xyzzy"])
    assert kind.exit_code == 2, kind.output
    assert f"`llmtrade events --backtest {name}` lists the types recorded" in " ".join(kind.stderr.split())
    stream = runner.invoke(cli, ["events", "--backtest", name, "--stream", "nosuch"])
    assert stream.exit_code == 2, stream.output
    assert f"`llmtrade events --backtest {name}` lists them" in " ".join(stream.stderr.split())
