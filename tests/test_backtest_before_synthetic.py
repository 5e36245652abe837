"""A backtest on the synthetic market over a range before the market begins (2015-01-02) is a bad argument (exit 2).

A new user's trial: `llmtrade backtest --from 2010-01-06 --to 2010-01-13 --offline` exited 1, an operational
failure, "synthetic returned no bars for 12 symbols ... between 2008-09-03 and 2010-01-19", days never given, with
nothing saying where the synthetic market's prices begin; a range that begins before it and ends after was already
refused (exit 2) as prices that begin late."""

from __future__ import annotations

from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.test_backtest import _unique

runner = CliRunner()


def test_a_range_before_the_synthetic_market_names_where_it_begins(cli_env: dict[str, str]) -> None:
    name = _unique()
    args = ["backtest", "--from", "2010-01-06", "--to", "2010-01-13", "--offline", "--name", name]
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.stderr.split())
    assert (
        "the prices do not cover the range 2010-01-06 to 2010-01-13: the synthetic market begins on 2015-01-02" in said
    )
    assert "give --from 2015-01-07 or later" in said and "Traceback" not in refused.output
    # Refused before the backtest's database is made: nothing to resume.
    assert f"no backtest named {name!r}" in runner.invoke(cli, ["leaderboard", "--backtest", name]).stderr
