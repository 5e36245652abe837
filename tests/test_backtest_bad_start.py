"""A backtest that stops before its first job (bad prices, a missing file) binds its name to nothing: the user
fixes what the message named and runs the same command again. Once a job has run, other inputs are refused."""

from __future__ import annotations

import math
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from llmtrade.app import backtest as backtest_module
from llmtrade.app import backtest_discovery
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.container import Container
from llmtrade.app.evaluation_results import BacktestResult
from llmtrade.app.leaderboard import leaderboard
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config, packaged_defaults
from llmtrade.config.models import BENCHMARK
from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataError, UsageError
from llmtrade.market.synthetic import SyntheticMarket, candidate_classes
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database
from tests.test_backtest import _unique, _url

WEEK = date(2026, 1, 7)


def _write(folder: Path, bars: dict[str, list[Bar]], *, bad: str | None = None) -> None:
    """One SYMBOL.csv per symbol; `bad`: that symbol's close on the week's Tuesday written as nan."""
    folder.mkdir(parents=True, exist_ok=True)
    for symbol, rows in bars.items():
        lines = ["Date,Open,High,Low,Close,Volume"]
        for b in rows:
            close = math.nan if symbol == bad and b.day == WEEK - timedelta(days=1) else b.close
            lines.append(f"{b.day},{b.open},{b.high},{b.low},{close},{int(b.volume)}")
        (folder / f"{symbol}.csv").write_text("\n".join(lines) + "\n")


def _run(live_url: str, home: Path, name: str, folder: Path, said: list[str] | None = None) -> BacktestResult:
    settings = Settings(DATABASE_URL=live_url, LLMTRADE_HOME=str(home))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK, offline=True, replay=False, csv=folder)
    return backtest(settings, load_config(None), None, spec, say=(said if said is not None else []).append)


def history(until: date) -> dict[str, list[Bar]]:
    """The synthetic market's bars of the universe and SPY from the first week's history to `until`."""
    assets = load_config(None).config.assets
    classes = {i.symbol: i.asset_class.value for i in assets.universe}
    start = WEEK - backtest_module._HISTORY - timedelta(days=5)
    return SyntheticMarket(classes, seed=11).daily_bars(sorted({*assets.symbols, BENCHMARK}), start, until)


@pytest.fixture
def bars() -> dict[str, list[Bar]]:
    return history(WEEK + timedelta(days=10))


def refused_at_start(
    settings: Settings, spec: BacktestSpec, admin_url: str, match: str, error: type[Exception] = MarketDataError
) -> None:
    """The backtest `spec` stops at its start with `error` matching `match`, no bar in its cache."""
    with pytest.raises(error, match=match):
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    with psycopg.connect(_url(admin_url, backtest_database(spec.name))) as conn:
        assert conn.execute("SELECT count(*) FROM market_bars").fetchone() == (0,)


def test_a_backtest_stopped_by_a_bad_price_file_runs_once_the_file_is_fixed(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, bars, bad=BENCHMARK)
    with pytest.raises(MarketDataError, match=r"SPY\.csv, line \d+: SPY: 2026-01-06: Close 'nan'"):
        _run(database_url, tmp_path, name, folder)
    # Nothing to rank in its books yet: the leaderboard says what stopped it, to be fixed first (it said run-weekly,
    # then 'run the same command again first', which met the same bad file again).
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 1, 20, tzinfo=UTC)), None, lambda _t: None)
    with pytest.raises(UsageError) as caught:
        leaderboard(live, backtest=name)
    said = str(caught.value)
    assert "to rank (its last run stopped on an error the same command meets again (exit 2: csv: " in said, said
    assert re.search(r"SPY\.csv, line \d+: SPY: 2026-01-06: Close 'nan'", said), said
    assert said.endswith("): fix what it names, then run the same `llmtrade backtest` command first)"), said
    # As the message asks: fix the file and run again (found on real ETF files: the rerun was refused with exit 2,
    # "started with other inputs: price data hash", though nothing had run on the bad file).
    _write(folder, bars)
    fixed = _run(database_url, tmp_path, name, folder)
    assert (fixed.weeks_done_before, fixed.weeks_run) == (0, 1)
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        starts = [r[0] for r in conn.execute("SELECT payload FROM events WHERE type = 'BacktestStarted' ORDER BY id")]
    assert len(starts) == 2 and starts[0]["data_hash"] != starts[1]["data_hash"]
    assert [s["resumed_after"] for s in starts] == [None, None]

    # A resume still checks against the inputs the books were written with: the fixed file's, not the bad one's.
    again = _run(database_url, tmp_path, name, folder)
    assert (again.weeks_done_before, again.weeks_run) == (1, 0)
    _write(folder, bars, bad=BENCHMARK)  # prices changed under books already written: refused, as ever
    with pytest.raises(UsageError, match="price data hash"):
        _run(database_url, tmp_path, name, folder)


def test_a_start_killed_before_its_first_job_is_replaced_by_one_on_other_prices(
    bars: dict[str, list[Bar]],
    database_url: str,
    pg_admin_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A start killed after its prefetch, before its first job, bound the name (its bars were cached, a spike in them
    recorded), so the same command on the mended files was refused as "started with other inputs" though no job had
    run; so was a database an older llmtrade's failed start had left its bars in. Now a start after starts that ran no
    job replaces them, said once: their bars are forgotten (read from the cache, they would price the books from the
    old files under the new files' hash) and what they recorded of them (the spike) no longer stands."""
    folder, name = tmp_path / "prices", _unique()
    spiked = WEEK - timedelta(days=20)
    assert spiked in {b.day for b in bars["GLD"]}
    gld = [
        b.model_copy(update={"close": b.close * 3, "high": b.close * 3}) if b.day == spiked else b for b in bars["GLD"]
    ]
    _write(folder, {**bars, "GLD": gld})
    url = _url(pg_admin_url, backtest_database(name))

    def killed(*args: object, **kwargs: object) -> None:
        with psycopg.connect(url) as conn:  # what another process would find now
            stored = [r[0] for r in conn.execute("SELECT type FROM events ORDER BY id")]
            cached = conn.execute("SELECT count(*) FROM market_bars").fetchone()
        assert stored == ["BacktestStarted", "BacktestConfigRecorded"] and cached is not None and cached[0] > 0
        raise KeyboardInterrupt

    monkeypatch.setattr(backtest_module, "discovery_started", killed)  # the step after the prefetch
    with pytest.raises(KeyboardInterrupt):
        _run(database_url, tmp_path, name, folder)
    monkeypatch.undo()
    with psycopg.connect(url) as conn:
        stored = [r[0] for r in conn.execute("SELECT type FROM events ORDER BY id")]
    # A kill is no failure: no BacktestStopped.
    assert stored == ["BacktestStarted", "BacktestConfigRecorded", "PriceJumpFlagged"], stored
    _write(folder, bars)  # the spike mended
    said: list[str] = []
    fixed = _run(database_url, tmp_path, name, folder, said)
    assert (fixed.weeks_done_before, fixed.weeks_run) == (0, 1)
    [replaced] = [text for text in said if "ran no job" in text]
    assert replaced.startswith(
        f"backtest {name!r}: its earlier start ran no job, so this one replaces it with other inputs: price data hash "
    ), replaced
    # The books of a backtest run afresh on the mended files: their bars, no note of the spike.
    fresh = _run(database_url, tmp_path, _unique(), folder)
    assert fixed.leaderboard.model_dump(exclude={"source"}) == fresh.leaderboard.model_dump(exclude={"source"})
    assert not [note for note in fixed.leaderboard.notes if "spike" in note], fixed.leaderboard.notes
    said.clear()  # said once: the books now hold the replacing start's inputs
    again = _run(database_url, tmp_path, name, folder, said)
    assert (again.weeks_done_before, again.weeks_run) == (1, 0)
    assert not [text for text in said if "ran no job" in text], said


def test_prices_that_begin_too_late_for_the_indicators_are_said_at_the_start(
    bars: dict[str, list[Bar]], database_url: str, tmp_path: Path
) -> None:
    """Found with files that begin a day before `--from`: the first weeks saw the 200-day average (and others)
    as n/a, and nothing said why. Now the start says which symbols are short, by how much, and what to do."""
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    said: list[str] = []
    late = {s: [b for b in rows if b.day >= WEEK - timedelta(days=14)] for s, rows in bars.items()}
    _write(tmp_path / "late", late)
    spec = BacktestSpec(name=_unique(), first=WEEK, last=WEEK, offline=True, replay=False, csv=tmp_path / "late")
    backtest(settings, load_config(None), None, spec, say=said.append)
    [short] = [text for text in said if text.startswith("short price history")]
    before = sum(1 for b in late[BENCHMARK] if b.day < WEEK)
    assert f"sessions before the first week ({WEEK}): " in short and f"{BENCHMARK} {before}" in short
    assert "needs 200, so the first weeks see some indicators as n/a" in short

    said.clear()  # the whole history: nothing to say
    _write(tmp_path / "full", bars)
    spec = BacktestSpec(name=_unique(), first=WEEK, last=WEEK, offline=True, replay=False, csv=tmp_path / "full")
    backtest(settings, load_config(None), None, spec, say=said.append)
    assert not [text for text in said if text.startswith("short price history")]


def test_a_benchmark_whose_prices_begin_after_the_first_week_is_a_bad_range_and_binds_nothing(
    bars: dict[str, list[Bar]], database_url: str, tmp_path: Path
) -> None:
    # Every week reads SPY: with its file beginning after the first week's as-of session, no week can run. Found
    # refused only at the first week's snapshot, after the prices were cached, so the same command with SPY's
    # history given was refused as "started with other inputs: price data hash".
    folder, name = tmp_path / "prices", _unique()
    listed = WEEK + timedelta(days=1)
    _write(folder, {**bars, BENCHMARK: [b for b in bars[BENCHMARK] if b.day >= listed]})
    # A range the user is to change (or SPY.csv's history), exit 2; it was an operational failure (exit 1).
    with pytest.raises(UsageError, match=rf"prices begin late: SPY's \(.*SPY\.csv\) first bar is {listed}"):
        _run(database_url, tmp_path, name, folder)
    _write(folder, bars)
    fixed = _run(database_url, tmp_path, name, folder)
    assert (fixed.weeks_done_before, fixed.weeks_run) == (0, 1)


def test_a_start_stopped_by_a_missing_file_binds_nothing_once_the_symbol_is_left_out(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """Found by a new user: a CSV folder without IWM's file stopped the start ("has no file for IWM: ... leave them out
    of assets.yaml's universe"), and the same command with IWM left out, as told, was refused as "started with other
    inputs: config hash". The other symbols' bars had reached the cache before the refusal (one symbol missing from a
    batch costs only that symbol), and cached bars bound the name."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {symbol: rows for symbol, rows in bars.items() if symbol != "IWM"})
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK, offline=True, replay=False, csv=folder)
    missing = r"has no file for IWM \(.*/IWM\.csv does not exist\): add it, or leave it out of the universe in"
    refused_at_start(settings, spec, pg_admin_url, match=missing)
    config = tmp_path / "config"
    shutil.copytree(Path(str(packaged_defaults())), config)
    assets = yaml.safe_load((config / "assets.yaml").read_text())
    assets["universe"] = [i for i in assets["universe"] if i["symbol"] != "IWM"]
    (config / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
    fixed = backtest(settings, load_config(config), config, spec, say=lambda _t: None)
    assert (fixed.weeks_done_before, fixed.weeks_run) == (0, 1)


def test_a_start_that_fails_in_discoverys_fetch_binds_nothing(
    bars: dict[str, list[Bar]],
    database_url: str,
    pg_admin_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The prefetch's failures forgot what it cached (33e2226), but discovery fetches its candidates' bars after it,
    still before the first job: a failure there (a file's problem only leaves that candidate out, so a database
    error, a bug) left the universe's and the candidates' bars cached, and the start bound the name to its inputs,
    so the same command on mended files was refused as "started with other inputs"."""
    folder, name = tmp_path / "prices", _unique()
    first, last = min(b.day for b in bars[BENCHMARK]), max(b.day for b in bars[BENCHMARK])
    xle = SyntheticMarket({BENCHMARK: "equity"}, seed=11, extra=candidate_classes()).daily_bars(["XLE"], first, last)
    _write(folder, {**bars, **xle})
    fetch = backtest_discovery._usable

    def failing(*args: Any) -> Any:
        fetch(*args)  # the candidates' bars reach the cache
        raise psycopg.OperationalError("the database is out of disk space")

    monkeypatch.setattr(backtest_discovery, "_usable", failing)
    with pytest.raises(psycopg.OperationalError, match="out of disk space"):
        _run(database_url, tmp_path, name, folder)
    monkeypatch.undo()
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        assert conn.execute("SELECT count(*) FROM market_bars").fetchone() == (0,)
    doubled = [b.model_copy(update={"close": b.close * 2, "high": b.high * 2}) for b in xle["XLE"]]
    _write(folder, {**bars, "XLE": doubled})  # the input mended (other prices): a fresh start, not "other inputs"
    fixed = _run(database_url, tmp_path, name, folder)
    assert (fixed.weeks_done_before, fixed.weeks_run) == (0, 1)
