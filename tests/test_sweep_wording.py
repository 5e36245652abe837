"""A sweep run's error says what to change in the sweep file or the sweep command, never an option of `llmtrade
backtest` the sweep does not take (sweep/wording.py).

Found by a tester: a sweep whose CSV prices end inside its range failed its run with "end the range with --to
2026-01-07", and a replay sweep's cache miss with "(without --replay) ... (--live-misses USD)": `backtest sweep`
refuses each of those options."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.sweep.wording import BACKTEST_ONLY, for_sweep
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()


def _options(command: Any) -> set[str]:
    return {name for p in command.params for name in p.opts if name.startswith("--")}


def test_a_sweep_run_whose_prices_end_early_names_the_sweep_files_to_not_the_backtests_option(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    prices = tmp_path / "prices"
    _write(prices, history(WEEK + timedelta(days=10)))  # every file ends on 2026-01-16
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: w{uuid.uuid4().hex[:8]}\nretries: 0\nranges: [{{from: 2026-01-07, to: 2026-02-04}}]\n")
    result = runner.invoke(cli, ["backtest", "sweep", str(path), "--csv", str(prices)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert "end the range with to: 2026-01-07 in the sweep file's range (its last week these prices cover" in said
    assert "--to" not in said, said


def test_every_backtest_option_a_sweep_lacks_is_said_in_the_sweeps_terms() -> None:
    """Every option of `llmtrade backtest` that `backtest sweep` does not take has a rewrite (a new one added to the
    backtest fails here until it has one), and none is left in a message naming it, with its value or alone."""
    backtest = typer.main.get_command(cli).commands["backtest"]  # type: ignore[attr-defined]
    sweep = backtest.commands["sweep"]
    lacked = _options(backtest) - _options(sweep) - {"--help"}
    assert {f"--{name}" for name in BACKTEST_ONLY} == lacked
    for option in lacked:
        for message in (f"give {option} 2026-01-07 or later", f"a backtest needs {option}", f"({option} 4, ...)"):
            said = for_sweep(message)
            left = re.findall(rf"(?<![\w-]){re.escape(option)}(?![\w-])", said)
            assert not left or "`llmtrade backtest " in said, said


def test_a_replay_miss_and_a_new_name_are_advised_as_a_sweep_does_them() -> None:
    miss = for_sweep(
        "--replay: no cached answer for the picker call to m (key 3000f4f659a8); run it live once first (without "
        "--replay), or in a backtest let misses ask the live model (--live-misses USD)"
    )
    assert miss == (
        "mode: replay: no cached answer for the picker call to m (key 3000f4f659a8); run it live once first "
        "(llmtrade run-weekly, not a replay), or let `llmtrade backtest --replay --live-misses USD` over the range "
        "ask the live model (what it buys joins the live cache a replay sweep reads), or set mode: offline in the "
        "sweep file"
    )
    vectors = for_sweep("--replay: no cached vector from e for 1 of 2 text(s); run live once first, or drop --replay")
    assert vectors.endswith("run live once first, or set mode: offline in the sweep file"), vectors
    named = for_sweep("give SPY.csv its later rows, or run this range under a new --name")
    assert named == "give SPY.csv its later rows, or run this range in a sweep of another name (the sweep file's name:)"
    assert for_sweep("start the range with --from 2024-09-04 (its first week") == (
        "start the range with from: 2024-09-04 in the sweep file's range (its first week"
    )


def test_a_run_failing_on_the_configs_csv_dir_names_it_so_not_as_csv(cli_env: dict[str, str], tmp_path: Path) -> None:
    """The prices folder came from the config's market_data.csv_dir, no --csv given: the run's error said "csv folder
    DIR (--csv) has no file for IWM", an option the user never gave; `llmtrade backtest` names the config's key."""
    from llmtrade.config.loader import write_defaults

    prices = tmp_path / "prices"
    _write(prices, {s: rows for s, rows in history(WEEK + timedelta(days=10)).items() if s != "IWM"})
    config = tmp_path / "cfg"
    write_defaults(config)
    assets = config / "assets.yaml"
    assets.write_text(re.sub(r"(?m)^  csv_dir: null", f"  csv_dir: {prices}", assets.read_text()))
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: w{uuid.uuid4().hex[:8]}\nretries: 0\nranges: [{{from: 2026-01-07, to: 2026-01-07}}]\n")
    result = runner.invoke(cli, ["backtest", "sweep", str(path), "--config", str(config)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert f"csv folder {prices} (market_data.csv_dir in {assets}) has no file for IWM" in said, said
    assert "--csv" not in said, said
