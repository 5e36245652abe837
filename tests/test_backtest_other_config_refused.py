"""A backtest's leaderboard and report given a config that is not the one it ran with are refused (exit 2), as the
README says, whatever in the config differs; with its own config, or none (the one it recorded), they read it.

Found by a new user's trial: `leaderboard --backtest w1 --config OTHER`, OTHER the backtest's config with the paper
broker's costs raised (50 bps, 10 USD an order), exited 0 and showed other figures: SPY's week +0.2% became -0.2%,
EQUAL_WEIGHT's +0.1% became -0.5%, and an account that had filled at 5 bps showed ten times the slippage. Only a
config whose universe held symbols the backtest never priced was refused."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import yaml
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.config.loader import packaged_defaults
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()


def _config(folder: Path, **paper: float) -> Path:
    """The packaged config in `folder`, its paper broker's costs updated with `paper`."""
    shutil.copytree(Path(str(packaged_defaults())), folder)
    accounts = yaml.safe_load((folder / "accounts.yaml").read_text())
    accounts["paper"] = {**accounts["paper"], **paper}
    (folder / "accounts.yaml").write_text(yaml.safe_dump(accounts, sort_keys=False))
    return folder


def test_a_leaderboard_and_report_given_another_config_than_the_backtests_are_refused(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    prices = tmp_path / "prices"
    _write(prices, history(WEEK + timedelta(days=10)))
    ran, other = _config(tmp_path / "ran"), _config(tmp_path / "other", slippage_bps=50, commission_per_order=10)
    name = _unique()
    args = ["backtest", "--csv", str(prices), "--config", str(ran), "--from", str(WEEK), "--to", str(WEEK)]
    started = runner.invoke(cli, [*args, "--offline", "--name", name])
    assert started.exit_code == 0, started.output

    board = runner.invoke(cli, ["leaderboard", "--backtest", name, "--config", str(other), "--json"])
    assert board.exit_code == 2, board.output
    said = " ".join(board.stderr.split())
    assert f"backtest {name} ran with another config than the one given now" in said, said
    assert "leave out --config (and LLMTRADE_CONFIG_DIR) to read it with the config it recorded" in said, said
    assert "the paper broker's costs the baselines pay" in said, said
    # Which settings differ, as a resume's refusal names them (found checking the README: only the two hashes).
    assert (
        "it differs in accounts.paper.commission_per_order 0 (now 10); accounts.paper.slippage_bps 5 (now 50);" in said
    ), said
    assert board.stdout == "", board.stdout

    html = tmp_path / "report.html"
    report = runner.invoke(cli, ["report", "--backtest", name, "--config", str(other), "-o", str(html)])
    assert report.exit_code == 2, report.output
    assert f"backtest {name} ran with another config" in report.stderr and not html.exists()

    # Its events are no figures: listed and traced with any config (a trial's LLMTRADE_CONFIG_DIR was refused).
    listed = runner.invoke(
        cli, ["events", "--backtest", name, "--config", str(other), "--type", "RunStarted", "--json"]
    )
    assert listed.exit_code == 0, listed.output
    run_id = json.loads(listed.stdout.splitlines()[0])["run_id"]
    traced = runner.invoke(cli, ["trace", run_id, "--backtest", name, "--config", str(other), "--json"])
    assert traced.exit_code == 0, traced.output
    # A run not in its books: the hint lists its runs, not the live books' (a trial).
    unknown = runner.invoke(cli, ["trace", "20990101T000000Z-000000", "--backtest", name])
    assert unknown.exit_code == 2, unknown.output
    hint = " ".join(unknown.stderr.split())
    assert f"`llmtrade events --backtest {name} --type RunStarted` lists its runs" in hint, hint

    # Its own config, given or recorded, reads the same books alike.
    given = runner.invoke(cli, ["leaderboard", "--backtest", name, "--config", str(ran), "--json"])
    recorded = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert given.exit_code == 0 and recorded.exit_code == 0, given.output + recorded.output
    assert json.loads(given.stdout)["standings"] == json.loads(recorded.stdout)["standings"]


def test_discover_performance_reads_a_backtest_with_its_recorded_config_and_refuses_another(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Found by the same trial: a backtest run with --config whose discovery counts the best 5 picks (weights 0.5,
    0.3, 0.2), read by `discover performance --backtest NAME` without --config, was judged at the packaged
    defaults' best 20 with their weights (0.3, 0.4, 0.3): the command took its settings from the config loaded, not
    the one the backtest recorded; and another config given was not refused."""
    prices = tmp_path / "prices"
    _write(prices, history(WEEK + timedelta(days=10)))
    ran = _config(tmp_path / "ran")
    assets = yaml.safe_load((ran / "assets.yaml").read_text())
    assets["discovery"] |= {"watchlist_size": 5, "ensemble_weights": {"metric": 0.5, "fuzzy": 0.3, "llm": 0.2}}
    (ran / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
    name = _unique()
    args = ["backtest", "--csv", str(prices), "--config", str(ran), "--from", str(WEEK), "--to", str(WEEK)]
    started = runner.invoke(cli, [*args, "--offline", "--name", name])
    assert started.exit_code == 0, started.output

    recorded = runner.invoke(cli, ["discover", "performance", "--backtest", name, "--json"])
    assert recorded.exit_code == 0, recorded.output
    result = json.loads(recorded.stdout)
    assert result["top"] == 5 and result["weights"] == {"metric": 0.5, "fuzzy": 0.3, "llm": 0.2}, result

    given = str(_config(tmp_path / "other"))
    other = runner.invoke(cli, ["discover", "performance", "--backtest", name, "--config", given])
    assert other.exit_code == 2, other.output
    said = " ".join(other.stderr.split())
    assert f"backtest {name} ran with another config than the one given now" in said, said
    assert "discovery's picks counted and weights" in said, said


def test_another_universe_is_said_by_the_symbols_that_differ(cli_env: dict[str, str], tmp_path: Path) -> None:
    """Found checking the README: a config whose universe left out USO was refused with "it differs in
    assets.universe [{"symbol": "SPY", "asset_class": "equity", "name": "SPDR... (now [{"symbol": "SPY", ...)": two
    universes cut at 60 characters read alike. Said by symbol, as a resume's refusal says it too."""
    prices = tmp_path / "prices"
    _write(prices, history(WEEK + timedelta(days=10)))
    ran, other = _config(tmp_path / "ran"), _config(tmp_path / "other")
    assets = yaml.safe_load((other / "assets.yaml").read_text())
    assets["universe"] = [
        {**entry, "name": "Gold"} if entry["symbol"] == "GLD" else entry
        for entry in assets["universe"]
        if entry["symbol"] not in {"BNO", "IAU"}
    ]
    (other / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
    name = _unique()
    args = ["backtest", "--csv", str(prices), "--from", str(WEEK), "--to", str(WEEK), "--offline", "--name", name]
    assert runner.invoke(cli, [*args, "--config", str(ran)]).exit_code == 0

    board = runner.invoke(cli, ["leaderboard", "--backtest", name, "--config", str(other)])
    assert board.exit_code == 2, board.output
    said = " ".join(board.stderr.split())
    assert "it differs in assets.universe: BNO, IAU left out, GLD changed;" in said, said
    resumed = runner.invoke(cli, [*args, "--config", str(other)])
    assert resumed.exit_code == 2, resumed.output
    assert "assets.universe: BNO, IAU left out, GLD changed" in " ".join(resumed.stderr.split()), resumed.stderr
