"""A trading day missing inside a symbol's history (a session the NYSE calendar says has a bar) is never cached as if
the range were complete and never filled from the day before: the live run, a provider's answer and a backtest's
start each refuse it, naming the symbol, the day and where, and record it (MarketDataRejected); once the data is
fixed the same command reads it afresh.

Shapes as the feeds send them: yfinance.download of several tickers aligns them on one index and leaves NaN in the
columns of a ticker that has no bar that day (ranaroussi/yfinance#2925 for the single-ticker form); Alpaca's iex
feed simply has no bar for a day without a trade on IEX, which is no hole but a day without a trade there: read
without it when no provider has it, said and never cached (market/untraded.py).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas
import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.cli import app
from llmtrade.config.loader import load_config
from llmtrade.domain.market import Bar
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.failures import PriceFilesMisconfigured
from llmtrade.market.yfinance_data import YFinanceProvider
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.market_series import END, START, good_bars, market, rejections
from tests.support import stored_events
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, refused_at_start
from tests.test_backtest_bad_start import bars as bars
from tests.test_week_lifecycle import write_market

HOLE = date(2025, 12, 17)  # a Wednesday inside the month of tests/market_series.py
FIELDS = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
runner = CliRunner()


def _two_tickers(hole_in: str) -> pandas.DataFrame:
    """yfinance.download(["SPY", "TLT"], group_by="ticker") as Yahoo sends it when `hole_in` has no bar on HOLE: one
    index for both, NaN in that ticker's columns on that day."""
    frames = {}
    for symbol in ("SPY", "TLT"):
        rows = [[b.open, b.high, b.low, b.close, b.close, b.volume] for b in good_bars(symbol)]
        index = pandas.DatetimeIndex([pandas.Timestamp(b.day) for b in good_bars(symbol)], name="Date")
        frame = pandas.DataFrame(rows, index=index, columns=FIELDS)
        if symbol == hole_in:
            frame.loc[pandas.Timestamp(HOLE)] = float("nan")
        frames[symbol] = frame
    return pandas.concat(frames, axis=1)


def _nothing_cached(storage: Storage, symbols: list[str]) -> None:
    cache = BarCache(storage.conn)
    for synthetic in (False, True):
        assert not cache.covers(symbols, START, END, synthetic=synthetic)
        assert cache.count(symbols, START, END, synthetic=synthetic) == 0


def test_a_yahoo_answer_missing_one_tickers_day_long_ago_is_read_without_it_said_and_that_ticker_not_cached(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A year old by the real clock: Yahoo will not send it now (market/yfinance_data.py FILLS_WITHIN): a session
    without a trade (a halt all session) or one Yahoo lost, no hole to refuse at every run for a year (exit 1 before):
    TLT read without it, never filled from the day before, said and recorded, and not cached (market/untraded.py)."""
    import yfinance

    monkeypatch.setattr(yfinance, "download", lambda *a, **k: _two_tickers("TLT"))
    series = market(storage, YFinanceProvider()).bars(["SPY", "TLT"], START, END)
    assert HOLE not in [b.day for b in series.bars["TLT"]] and HOLE in [b.day for b in series.bars["SPY"]]
    [event] = [e.payload for e in storage.events.read(type="SessionsUntraded")]
    assert (event["provider"], event["symbol"], event["days"]) == ("yfinance", "TLT", [str(HOLE)])
    assert not rejections(storage)
    _nothing_cached(storage, ["TLT"])
    # The feed fixed: asked afresh, TLT read whole.
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: _two_tickers(""))
    series = market(storage, YFinanceProvider()).bars(["SPY", "TLT"], START, END)
    assert HOLE in [b.day for b in series.bars["TLT"]]


def test_an_alpaca_answer_missing_a_day_as_the_only_provider_is_read_without_it_said_and_caches_nothing(
    storage: Storage,
) -> None:
    """Alpaca has no bar of a day its feed saw no trade in (market/untraded.py): no hole to refuse, no bar made up
    from the day before either, and nothing of the symbol cached (tests/test_untraded_sessions.py)."""
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        server.add_bars("SPY", [_alpaca_row(b) for b in good_bars() if b.day != HOLE])
        alpaca = AlpacaBarProvider("k", "s", url_override=server.base_url, timeout_seconds=2, retry_attempts=0)
        series = market(storage, alpaca).bars(["SPY"], START, END)
    assert HOLE not in [b.day for b in series.bars["SPY"]]
    [untraded] = [e.payload for e in storage.events.read(type="SessionsUntraded")]
    assert (untraded["symbol"], untraded["days"]) == ("SPY", [str(HOLE)])
    _nothing_cached(storage, ["SPY"])


def _alpaca_row(b: Bar) -> dict[str, object]:
    """A daily bar as Alpaca sends it (stamped 05:00Z, New York midnight in winter)."""
    return {"t": f"{b.day}T05:00:00Z", "o": b.open, "h": b.high, "l": b.low, "c": b.close, "v": b.volume}


@pytest.mark.parametrize("spoilt", ["a session missing", "a date twice", "a row on a Saturday"])
def test_run_weekly_on_a_file_missing_a_day_exits_2_as_for_a_date_twice_naming_file_lines_and_day(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spoilt: str
) -> None:
    """The live path: run-weekly reads the folder as a live run reads its providers: no fill, no partial cache. A
    session missing between two rows is the file's to mend as a date written twice is (exit 2, the file, its lines and
    the day named): it exited 1 without a line, the duplicate beside it 2 with one; a row on a closed day likewise."""
    folder = tmp_path / "csv"
    write_market(folder)
    gld = folder / "GLD.csv"
    whole = gld.read_text()
    hole = date(2025, 11, 12)
    lines = whole.splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if line.startswith(str(hole)))  # the file's line at + 1
    if spoilt == "a session missing":
        del lines[at]
        said, kind, day = f"{gld}, lines {at}-{at + 1}: GLD: missing 1 NYSE session between", "missing_session", hole
    elif spoilt == "a date twice":
        lines.insert(at, lines[at])
        said, kind, day = f"{gld}, line {at + 2}: GLD: date {hole} appears again", "duplicate", hole
    else:
        day = date(2025, 11, 15)
        lines.insert(at + 3, str(day) + lines[at + 2][10:])  # after Friday the 14th's row
        said, kind = f"{gld}, line {at + 4}: GLD: {day} (Saturday) is not an NYSE session", "not_a_session"
    gld.write_text("".join(lines))
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "csv")
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(folder))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    failed = runner.invoke(app, ["run-weekly", "--offline"])
    assert failed.exit_code == 2, failed.output
    assert "Traceback" not in failed.output
    assert said in failed.stderr and str(day) in failed.stderr, failed.stderr
    url = cli_env["DATABASE_URL"]
    assert not stored_events(url, type="MarketSnapshotTaken")
    [rejected] = [e.payload for e in stored_events(url, type="MarketDataRejected") if e.payload["symbol"] == "GLD"]
    assert (rejected["kind"], rejected["days"]) == (kind, [str(day)])
    assert rejected["where"].startswith(f"{gld}, line")
    # Nothing across the hole is cached: a range stored over it would vouch for it to every later read. (The sessions
    # since it, read whole to judge whether GLD's prices ended, hold no hole; the next read of the 300 sessions asks the
    # file again, as the fixed run below does.)
    with psycopg.connect(url) as conn:
        cached = conn.execute("SELECT count(*) FROM market_bars WHERE symbol = 'GLD' AND day <= %s", (hole,)).fetchone()
    assert cached == (0,)
    gld.write_text(whole)
    fixed = runner.invoke(app, ["run-weekly", "--offline"])
    assert fixed.exit_code == 0, fixed.output
    assert stored_events(url, type="MarketSnapshotTaken")


def test_a_backtest_on_a_file_missing_a_day_stops_at_its_start_and_caches_nothing(
    bars: dict[str, list[Bar]], database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    folder, name = tmp_path / "prices", _unique()
    hole = bars["GLD"][-20].day
    _write(folder, {**bars, "GLD": [b for b in bars["GLD"] if b.day != hole]})
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK, offline=True, replay=False, csv=folder)
    said = rf"GLD\.csv, lines \d+-\d+: GLD: missing 1 NYSE session between .*: {hole}"
    refused_at_start(settings, spec, pg_admin_url, said, PriceFilesMisconfigured)
    _write(folder, bars)  # fixed: the same command is a fresh start, not "other inputs"
    result = backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    assert result.weeks_run == 1
