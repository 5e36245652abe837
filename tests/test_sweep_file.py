"""The sweep file: every combination of its axes is one run with a content hash; a bad file is refused with
exit 2 naming the file and the key. No database: these are the checks made before any run starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.config.loader import load_config
from llmtrade.errors import UsageError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.settings import Settings
from llmtrade.sweep import spec
from llmtrade.sweep.driver import prepare
from llmtrade.sweep.executors import open_executor
from llmtrade.sweep.work import Shared, prices_folder

runner = CliRunner()
BASE = """
name: demo
ranges:
  - {from: 2026-01-07, to: 2026-01-21}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def _plans(tmp_path: Path, text: str, *, prices: str = "synthetic", csv: bool = False) -> list[spec.RunPlan]:
    path = _write(tmp_path, text)
    return spec.plan(path, spec.read(path), load_config(None), prices=prices, csv=csv)


def test_every_combination_of_the_axes_is_one_run_in_a_fixed_order(tmp_path: Path) -> None:
    plans = _plans(
        tmp_path,
        BASE
        + "overrides: {base: {}, tight: {risk.limits.max_position_pct: 0.05}}\n"
        + "memory: [true, false]\nseeds: [7, 8]\n",
    )
    assert len(plans) == 8
    assert len({p.run_id for p in plans}) == 8
    first = plans[0]
    assert first.axes == {
        "overrides": "base",
        "models": "config",
        "memory": "on",
        "seed": "7",
        "range": "2026-01-07..2026-01-21",
    }
    assert first.backtest == f"demo-{first.run_id[:12]}"
    tight_off_8 = plans[-1]
    assert tight_off_8.config.risk.limits.max_position_pct == 0.05
    assert tight_off_8.config.models.memory.enabled is False
    assert tight_off_8.config.assets.market_data.synthetic_seed == 8


def test_the_run_id_is_the_hash_of_config_prices_weeks_and_mode(tmp_path: Path) -> None:
    synthetic = _plans(tmp_path, BASE)[0]
    again = _plans(tmp_path, BASE)[0]
    other_prices = _plans(tmp_path, BASE, prices="csv:abc", csv=True)[0]
    any_day_of_the_same_weeks = _plans(tmp_path, BASE.replace("2026-01-07", "2026-01-09"))[0]
    replay = _plans(tmp_path, BASE + "mode: replay\n")[0]
    assert synthetic.run_id == again.run_id
    assert synthetic.run_id == any_day_of_the_same_weeks.run_id  # the same weeks: the same backtest
    assert other_prices.run_id != synthetic.run_id
    assert replay.run_id != synthetic.run_id


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (BASE + "overrides: {x: {risk.limits.no_such: 1}}\n", "overrides.x.risk.limits.no_such"),
        (BASE + "overrides: {x: {risk.limits.max_position_pct: 7}}\n", "max_position_pct"),
        (BASE + "model_sets: {m: {nobody: openai/gpt-5.1}}\n", "model_sets.m.nobody"),
        (BASE + "seeds: [1, -2]\n", "seeds.1"),
        (BASE + "retries: 9\n", "retries"),
        (BASE + "colour: blue\n", "colour"),
        ("name: demo\n", "ranges"),
        (BASE.replace("2026-01-21", "2025-12-01"), "ranges.0"),
        (BASE.replace("name: demo", "name: 'bad name!'"), "name"),
        (BASE.replace("2026-01-07", "2026-01-37"), "2026-01-37"),  # a traceback in a new user's trial
    ],
)
def test_a_bad_sweep_file_exits_2_naming_the_file_and_the_key(tmp_path: Path, text: str, names: str) -> None:
    path = _write(tmp_path, text)
    result = runner.invoke(cli, ["backtest", "sweep", str(path)])
    assert result.exit_code == 2, result.output
    assert str(path) in result.output
    assert names in result.output


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            BASE + "  - {from: 1990-01-03, to: 1990-02-07}\n",
            "key ranges.1 (the runs range=1990-01-03..1990-02-07): from: 1990-01-03: the NYSE calendar covers "
            "2000-01-01 to {last}, and a backtest's first week reads",
        ),
        (
            BASE.replace("2026-01-21", "2031-01-01"),
            "key ranges.0 (the runs range=2026-01-07..2031-01-01): to: 2031-01-01: the NYSE calendar covers "
            "2000-01-01 to {last}",
        ),
    ],
)
def test_a_range_outside_the_nyse_calendar_exits_2_before_any_run(tmp_path: Path, text: str, said: str) -> None:
    """Each run failed on its own after the sweep had started (its database made, the runs before it done), with
    the backtest's '--from'/'--to' message naming options the sweep was not given. Now checked with the file."""
    path = _write(tmp_path, text)
    result = runner.invoke(cli, ["backtest", "sweep", str(path)], env={"DATABASE_URL": "postgresql://x@127.0.0.1:1/n"})
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    # The calendar's last day is today's (New York's) plus its horizon: read, not written down (it moves daily).
    said = said.format(last=TradingCalendar().last_day)
    assert f"sweep file {path}: {said}" in flat, flat
    assert " or later" in flat or " or earlier" in flat


def test_several_seeds_over_csv_prices_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="key seeds"):
        _plans(tmp_path, BASE + "seeds: [1, 2]\n", prices="csv:abc", csv=True)


@pytest.mark.parametrize(
    ("override", "csv"),
    [
        ("{other: {assets.market_data.csv_dir: /data/other}}", True),  # ignored: every run read the sweep's folder
        ("{other: {assets: {market_data: {csv_dir: /data/other}}}}", True),  # the same, written nested
        ("{other: {assets.market_data.csv_dir: /data/other}}", False),  # the run read it, fingerprinted synthetic
    ],
)
def test_an_override_of_the_prices_folder_is_refused_naming_the_key(tmp_path: Path, override: str, csv: bool) -> None:
    """A sweep's runs all read the prices the sweep was given (its fingerprint is theirs): an override of csv_dir ran
    each run on the sweep's folder anyway (a tester's sweep of two folders compared one folder with itself), or, over
    the synthetic market, had the run's backtest read the override's folder under the synthetic fingerprint."""
    with pytest.raises(UsageError, match=r"key overrides\.other: .*market_data\.csv_dir.*a sweep of its own") as said:
        _plans(tmp_path, BASE + f"overrides: {override}\n", prices="csv:abc" if csv else "synthetic", csv=csv)
    assert str(tmp_path / "sweep.yaml") in str(said.value)


def test_a_combination_that_repeats_another_is_refused(tmp_path: Path) -> None:
    # memory on is the packaged config's own setting: `base` with memory on is the same backtest twice.
    text = BASE + "overrides: {base: {}, same: {models.memory.enabled: true}}\n"
    with pytest.raises(UsageError, match="runs the same backtest as"):
        _plans(tmp_path, text)


def test_csv_prices_are_read_once_fingerprinted_and_written_once_per_worker(tmp_path: Path) -> None:
    prices = tmp_path / "prices"
    prices.mkdir()
    (prices / "SPY.csv").write_text("date,open,high,low,close,volume\n")
    path = _write(tmp_path, BASE)
    _, shared, plans = prepare(Settings(), load_config(None), path, prices)
    assert shared.prices == {"SPY.csv": b"date,open,high,low,close,volume\n"}
    (prices / "SPY.csv").write_text("date,open,high,low,close,volume\n2026-01-02,1,1,1,1,1\n")
    _, changed, changed_plans = prepare(Settings(), load_config(None), path, prices)
    assert changed.prices_hash != shared.prices_hash
    assert changed_plans[0].run_id != plans[0].run_id  # new prices: a new run, never the old result
    folder = prices_folder(changed)
    assert folder is not None
    assert (folder / "SPY.csv").read_bytes() == changed.prices["SPY.csv"]  # type: ignore[index]
    assert prices_folder(changed) == folder  # the same folder for every run of this worker


def test_an_unknown_executor_and_a_misplaced_address_are_usage_errors() -> None:
    shared = Shared(settings={}, config_dir=None, config_source="packaged", prices=None, prices_hash="x")
    with pytest.raises(UsageError, match="choose one of serial, local, ray"):
        open_executor("threads", shared)
    with pytest.raises(UsageError, match="--address is for --executor ray"):
        open_executor("local", shared, address="auto")


def test_the_example_sweep_file_plans_its_runs_offline() -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "sweep.yaml"
    sweep = spec.read(example)
    plans = spec.plan(example, sweep, load_config(None), prices="synthetic", csv=False)
    assert sweep.mode == "offline"
    assert len(plans) == 2 * 1 * 2 * 2  # overrides x model sets x memory x seeds
    assert {p.axes["memory"] for p in plans} == {"on", "off"}
    assert all(p.end > p.start for p in plans)  # a few weeks, not one


def test_a_runs_failure_names_the_users_folder_and_a_bad_file_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new user's sweep with a CSV file missing: each failure named the workers' copy of the prices
    (/tmp/llmtrade-sweep-prices/<hash>), not the folder given, and was retried though no retry could mend it."""
    from llmtrade.errors import MarketDataMissing, TemporaryError
    from llmtrade.sweep import work

    mine = tmp_path / "my-prices"
    mine.mkdir()
    (mine / "SPY.csv").write_text("date,open,high,low,close,volume\n")
    path = _write(tmp_path, BASE)
    _, shared, plans = prepare(Settings(), load_config(None), path, mine, None)
    task = work.RunTask(plan=plans[0], attempt=1)

    def missing(plan: object, given: Shared) -> dict[str, object]:
        raise MarketDataMissing(f"no prices for QQQ: {prices_folder(given)}/QQQ.csv does not exist")

    monkeypatch.setattr(work, "_backtest", missing)
    failed = work.run(task, shared)
    assert failed.error == f"MarketDataMissing: no prices for QQQ: {mine}/QQQ.csv does not exist"
    assert failed.final  # exit 1: the same file is missing at every attempt

    def unreachable(plan: object, given: Shared) -> dict[str, object]:
        raise TemporaryError("the database did not answer")

    monkeypatch.setattr(work, "_backtest", unreachable)
    assert not work.run(task, shared).final  # a wait: retried


@pytest.fixture(scope="module")
def covered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV folder of the universe's and SPY's daily bars, 2024-08-30 to 2026-01-16 (written once for the module)."""
    from datetime import timedelta

    from tests.test_backtest_bad_start import WEEK, _write, history

    folder = tmp_path_factory.mktemp("covered") / "prices"
    _write(folder, history(WEEK + timedelta(days=10)))
    return folder


@pytest.mark.parametrize(("first", "last"), [("2026-03-04", "2026-03-11"), ("2024-01-03", "2024-01-10")])
def test_a_range_the_price_files_do_not_cover_exits_2_before_any_run(
    tmp_path: Path, covered: Path, monkeypatch: pytest.MonkeyPatch, first: str, last: str
) -> None:
    """Each run of such a range failed on its own, after the sweep's database, its workers and the run's own database
    were made (exit 1 then, however many runs). Now refused with the file, as `llmtrade backtest` refuses it (exit 2,
    naming the range and the files' first and last day), before any database is reached (the one given answers no
    one) and before any run starts."""
    from llmtrade.sweep import work

    def started(plan: object, shared: object) -> dict[str, object]:
        raise AssertionError("a run started")

    monkeypatch.setattr(work, "_backtest", started)
    path = _write(
        tmp_path, f"name: demo\nranges:\n  - {{from: 2026-01-07, to: 2026-01-14}}\n  - {{from: {first}, to: {last}}}\n"
    )
    args = ["backtest", "sweep", str(path), "--csv", str(covered)]
    result = runner.invoke(cli, args, env={"DATABASE_URL": "postgresql://x@127.0.0.1:1/n"})
    assert result.exit_code == 2, result.output
    assert " ".join(result.stderr.split()) == (
        f"error: sweep file {path}: key ranges.1 (the runs range={first}..{last}): the prices do not cover the range "
        f"{first} to {last}: the files in {covered} run from 2024-08-30 to 2026-01-16; give a range inside those days"
    )


def test_a_range_the_price_files_cover_in_part_is_left_to_its_runs(covered: Path, tmp_path: Path) -> None:
    """Prices that end inside the range are no range outside the prices: planned, and refused as the backtest's start
    refuses its benchmark ending early, by the check of each run's prices (tests/test_sweep_inputs.py)."""
    path = _write(tmp_path, "name: demo\nranges: [{from: 2026-01-07, to: 2026-02-04}]\n")
    _, shared, plans = prepare(Settings(), load_config(None), path, covered)
    assert len(plans) == 1 and shared.prices is not None


@pytest.mark.parametrize(
    ("first", "last", "key"), [("0001-01-01", "2026-01-21", "from"), ("2026-01-07", "0001-01-02", "to")]
)
def test_a_range_day_whose_week_would_begin_before_year_1_exits_2_naming_the_key(
    tmp_path: Path, first: str, last: str, key: str
) -> None:
    """A new user's trial: `from: 0001-01-01` (a Monday) was OverflowError's traceback, exit 1, as `backtest --from`
    was: its week's Wednesday is no date Python holds."""
    path = _write(tmp_path, BASE.replace("2026-01-07", first).replace("2026-01-21", last))
    result = runner.invoke(cli, ["backtest", "sweep", str(path)], env={"DATABASE_URL": "postgresql://x@127.0.0.1:1/n"})
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    typed = first if key == "from" else last
    assert f"sweep file {path}: key ranges.0.{key}: {typed} is not a day of a week llmtrade can hold" in flat, flat


def test_a_range_day_given_with_a_time_is_said_in_the_configs_words(tmp_path: Path) -> None:
    """A new user's trial: `from: 2024-01-03T10:00:00` was told pydantic's "Datetimes provided to dates should have zero
    time - e.g. be exact dates", where a config file's date says "must be a date, YYYY-MM-DD"."""
    path = _write(tmp_path, BASE.replace("from: 2026-01-07", "from: 2026-01-07T10:00:00"))
    with pytest.raises(UsageError) as refused:
        spec.read(path)
    assert "key ranges.0.from: must be a date, YYYY-MM-DD (got datetime.datetime(2026, 1, 7, 10, 0))" in str(
        refused.value
    )
    assert "Datetimes provided" not in str(refused.value)
