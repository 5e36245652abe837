"""The market data service on a real PostgreSQL: fallback order, cache, point-in-time, CSV, yfinance."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas
import pytest

from llmtrade.app.backtest_market import CutoffProvider
from llmtrade.config.loader import load_config
from llmtrade.domain.market import Bar
from llmtrade.errors import (
    MarketDataError,
    MarketDataMissing,
    MarketDataUnavailable,
    MarketProviderUnset,
    UsageError,
)
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.csv_folder import CsvFolderProvider, read_csv
from llmtrade.market.providers import build_providers, provider_names
from llmtrade.market.quote_providers import QUOTE_FACTORIES
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.market.unavailable import UnavailableProvider
from llmtrade.market.yfinance_data import YFinanceProvider
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage

CLASSES = {"SPY": "equity", "TLT": "rates", "QQQ": "equity"}


def write_csv(folder: Path, symbol: str, start: date, end: date) -> None:
    """A CSV of the synthetic market's bars, in the documented format plus an extra column."""
    bars = SyntheticMarket(CLASSES).daily_bars([symbol], start, end)[symbol]
    lines = ["Date,Ticker,Open,High,Low,Close,Volume"]
    lines += [f"{b.day},{symbol},{b.open},{b.high},{b.low},{b.close},{int(b.volume)}" for b in bars]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{symbol}.csv").write_text("\n".join(lines) + "\n")


class Counting:
    """Wraps a provider to count how often it is asked."""

    def __init__(self, inner: CsvFolderProvider):
        self.inner = inner
        self.name = inner.name
        self.synthetic = inner.synthetic
        self.calls = 0

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        self.calls += 1
        return self.inner.daily_bars(symbols, start, end)

    def origin(self, symbol: str) -> str | None:
        return self.inner.origin(symbol)

    def incomplete(self, close: datetime) -> str | None:
        return self.inner.incomplete(close)


class Feed(Counting):
    """A provider that reads no file (an API's, over the network): a range cached is never asked of it again. A file
    provider's files are read again before its cached bars are served (tests/test_csv_rewritten.py)."""

    def origin(self, symbol: str) -> None:
        return None


def _market(storage: Storage, *providers: object) -> MarketData:
    return MarketData(list(providers), BarCache(storage.conn), TradingCalendar(), Recording(storage.events, "r1"))  # type: ignore[arg-type]


def test_the_next_provider_answers_when_the_first_fails_and_the_fallback_is_recorded(
    storage: Storage, tmp_path: Path
) -> None:
    write_csv(tmp_path / "csv", "SPY", date(2025, 12, 1), date(2026, 1, 9))
    market = _market(storage, UnavailableProvider("alpaca", "no keys"), CsvFolderProvider(tmp_path / "csv"))
    series = market.bars(["SPY"], date(2026, 1, 2), date(2026, 1, 9))
    assert series.provider == "csv" and not series.from_cache
    assert [b.day for b in series.bars["SPY"]] == TradingCalendar().sessions_between(date(2026, 1, 2), date(2026, 1, 9))
    types = [e.type for e in storage.events.read(run_id="r1")]
    assert types == ["MarketProviderFailed", "MarketDataFetched"]
    failed = storage.events.read(type="MarketProviderFailed")[0].payload
    assert failed["provider"] == "alpaca" and "no keys" in failed["error"]


def test_when_every_provider_fails_the_error_names_each_failure(storage: Storage, tmp_path: Path) -> None:
    market = _market(storage, UnavailableProvider("alpaca", "no keys"), CsvFolderProvider(tmp_path / "missing"))
    with pytest.raises(MarketDataError) as caught:
        market.bars(["SPY"], date(2026, 1, 2), date(2026, 1, 9))
    assert "alpaca: alpaca is not available: no keys" in str(caught.value)
    assert "csv: csv folder" in str(caught.value) and "does not exist" in str(caught.value)


@pytest.mark.parametrize("named_by", ["assets.yaml market_data.csv_dir", "LLMTRADE_MARKET_CSV_DIR", "--csv"])
def test_a_csv_folder_gone_after_loading_is_named_with_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, named_by: str
) -> None:
    """Config loading refuses assets.yaml's missing folder (exit 2); one that goes later is still an exit 1 at run
    time, now saying where it was named: it said only "csv folder /x does not exist", as if --csv had named it."""
    gone = tmp_path / "gone"
    assets = load_config(None).config.assets
    settings = Settings()
    if named_by == "assets.yaml market_data.csv_dir":
        assets = assets.model_copy(update={"market_data": assets.market_data.model_copy(update={"csv_dir": str(gone)})})
    elif named_by == "LLMTRADE_MARKET_CSV_DIR":
        monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(gone))
        settings = Settings()
    else:
        settings = settings.with_csv_dir(gone, "--csv")
    [provider] = build_providers(assets, settings, ["csv"])
    with pytest.raises(MarketDataMissing) as caught:
        provider.daily_bars(["SPY"], date(2026, 1, 2), date(2026, 1, 9))
    assert str(caught.value) == f"csv folder {gone} ({named_by}) does not exist"
    quotes = QUOTE_FACTORIES["csv"](assets, settings, TradingCalendar())
    with pytest.raises(MarketDataMissing, match=rf"^csv folder {gone} \({named_by}\) does not exist$"):
        quotes.latest(["SPY"], datetime(2026, 1, 9, 15, tzinfo=UTC))


def test_a_second_request_for_the_same_range_makes_no_provider_call(storage: Storage, tmp_path: Path) -> None:
    write_csv(tmp_path / "csv", "SPY", date(2025, 12, 1), date(2026, 1, 9))
    provider = Feed(CsvFolderProvider(tmp_path / "csv"))
    market = _market(storage, provider)
    first = market.bars(["SPY"], date(2025, 12, 20), date(2026, 1, 9))
    second = market.bars(["SPY"], date(2025, 12, 20), date(2026, 1, 9))
    inside = market.bars(["SPY"], date(2026, 1, 2), date(2026, 1, 6))
    assert provider.calls == 1
    assert second.from_cache and second.bars == first.bars
    assert inside.from_cache and [b.day for b in inside.bars["SPY"]] == [
        date(2026, 1, 2),
        date(2026, 1, 5),
        date(2026, 1, 6),
    ]


def test_a_point_in_time_read_never_sees_a_bar_not_complete_at_that_time(storage: Storage, tmp_path: Path) -> None:
    write_csv(tmp_path / "csv", "SPY", date(2025, 1, 1), date(2026, 1, 9))
    market = _market(storage, CsvFolderProvider(tmp_path / "csv"))
    market.bars(["SPY"], date(2025, 1, 1), date(2026, 1, 9))  # the cache now holds later bars too
    before_close = datetime(2026, 1, 7, 20, 59, tzinfo=UTC)  # Wednesday 15:59 New York
    after_close = datetime(2026, 1, 7, 21, 0, tzinfo=UTC)  # Wednesday 16:00 New York
    assert market.bars_asof(["SPY"], before_close, sessions=20).bars["SPY"][-1].day == date(2026, 1, 6)
    assert market.bars_asof(["SPY"], after_close, sessions=20).bars["SPY"][-1].day == date(2026, 1, 7)


def test_real_and_synthetic_bars_never_share_the_cache(storage: Storage, tmp_path: Path) -> None:
    synthetic = SyntheticMarket(CLASSES)
    market = _market(storage, synthetic)
    market.bars(["SPY"], date(2026, 1, 2), date(2026, 1, 9))
    cache = BarCache(storage.conn)
    assert cache.covers(["SPY"], date(2026, 1, 2), date(2026, 1, 9), synthetic=True)
    assert not cache.covers(["SPY"], date(2026, 1, 2), date(2026, 1, 9), synthetic=False)
    assert cache.read(["SPY"], date(2026, 1, 2), date(2026, 1, 9), synthetic=False) == {"SPY": []}
    assert all(
        b.synthetic and b.source == "synthetic"
        for b in market.bars(["SPY"], date(2026, 1, 2), date(2026, 1, 9)).bars["SPY"]
    )


def test_the_synthetic_market_is_seeded_and_point_in_time_consistent() -> None:
    market = SyntheticMarket(CLASSES, seed=3)
    long = market.daily_bars(["SPY", "TLT"], date(2025, 1, 1), date(2026, 1, 9))
    short = SyntheticMarket(CLASSES, seed=3).daily_bars(["SPY"], date(2025, 6, 2), date(2025, 6, 6))
    assert short["SPY"] == [b for b in long["SPY"] if date(2025, 6, 2) <= b.day <= date(2025, 6, 6)]
    assert SyntheticMarket(CLASSES, seed=4).daily_bars(["SPY"], date(2025, 6, 2), date(2025, 6, 6)) != short
    assert [b.day for b in long["SPY"]] == TradingCalendar().sessions_between(date(2025, 1, 1), date(2026, 1, 9))
    with pytest.raises(MarketDataError, match="does not know BTC"):
        market.daily_bars(["BTC"], date(2025, 1, 1), date(2025, 1, 9))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Date,Open,High,Low,Volume\n2026-01-02,1,2,0.5,10\n", "SPY.csv, line 1: SPY: missing column(s) Close"),
        (
            "Date,Open,High,Low,Close,Volume\n2026-01-02,1,2,0.5,1,10\n02/01/2026,1,2,0.5,1,10\n",
            "SPY.csv, line 3: SPY: unparsable date '02/01/2026'",
        ),
        (
            "Date,Open,High,Low,Close,Volume\n2026-01-02,1,2,0.5,1,10\n2026-01-05,1,2,0.5,-1,10\n",
            "SPY.csv, line 3: SPY: 2026-01-05: Close -1 is not a positive price",
        ),
        (
            "Date,Open,High,Low,Close,Volume\n2026-01-02,1,2,0.5,abc,10\n",
            "SPY.csv, line 2: SPY: 2026-01-02: Close 'abc' is not a number",
        ),
        (
            "Date,Open,High,Low,Close,Volume\n2026-01-05,1,2,0.5,1,10\n2026-01-02,1,2,0.5,1,10\n",
            "SPY.csv, line 3: SPY: date 2026-01-02 does not come after",
        ),
        (
            "Date,Open,High,Low,Close,Volume\n2026-01-02,1,0.9,0.5,1,10\n",
            "SPY.csv, line 2: SPY: 2026-01-02: inconsistent bar",
        ),
    ],
)
def test_a_malformed_csv_is_rejected_naming_the_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "SPY.csv").write_text(content)
    with pytest.raises(MarketDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_csv(tmp_path / "SPY.csv", "SPY")


def test_yfinance_empty_frame_is_a_failure_not_an_empty_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import yfinance

    # Nothing failed on the wire (no request at all): an answer of nothing, for someone to look at, not to wait out.
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pandas.DataFrame())
    with pytest.raises(MarketDataMissing, match="yfinance returned no bars"):
        YFinanceProvider().daily_bars(["SPY"], date(2026, 1, 2), date(2026, 1, 9))


def test_yfinance_frames_become_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    import yfinance

    index = pandas.DatetimeIndex(["2026-01-02", "2026-01-05"], name="Date")
    columns = pandas.MultiIndex.from_product([["SPY"], ["Open", "High", "Low", "Close", "Adj Close", "Volume"]])
    frame = pandas.DataFrame(
        [[1.0, 2.0, 0.5, 1.5, 1.4, 100], [1.5, 2.5, 1.0, 2.0, 1.9, 200]], index=index, columns=columns
    )
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: frame)
    bars = YFinanceProvider().daily_bars(["SPY"], date(2026, 1, 2), date(2026, 1, 5))["SPY"]
    assert [(b.day, b.close, b.volume, b.source) for b in bars] == [
        (date(2026, 1, 2), 1.5, 100, "yfinance"),
        (date(2026, 1, 5), 2.0, 200, "yfinance"),
    ]


@pytest.mark.parametrize(
    "stamps",
    [["2026-01-02", "2026-01-05", "2026-01-05"], ["2026-01-02", "2026-01-05 00:00", "2026-01-05 18:30"]],
    ids=["same-stamp", "live-stamp"],
)
def test_yahoos_duplicated_last_row_is_one_bar_the_later(monkeypatch: pytest.MonkeyPatch, stamps: list[str]) -> None:
    """Yahoo sends the last session twice (ranaroussi/yfinance#573, #765): prices alike, the later row with the day's
    final volume. The validator refused the series as "more than one bar" and, Yahoo the only provider, the run stopped
    with exit 1 at every wake-up; two rows that price the day apart are still refused."""
    import yfinance

    index = pandas.DatetimeIndex(stamps, name="Date")
    columns = pandas.MultiIndex.from_product([["SPY"], ["Open", "High", "Low", "Close", "Adj Close", "Volume"]])
    rows = [[1.0, 2.0, 0.5, 1.5, 1.4, 100], [1.5, 2.5, 1.0, 2.0, 1.9, 150], [1.5, 2.5, 1.0, 2.000001, 1.9, 200]]
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pandas.DataFrame(rows, index=index, columns=columns))
    bars = YFinanceProvider().daily_bars(["SPY"], date(2026, 1, 2), date(2026, 1, 5))["SPY"]
    later = (date(2026, 1, 5), 2.000001, 200)
    assert [(b.day, b.close, b.volume) for b in bars] == [(date(2026, 1, 2), 1.5, 100), later]
    apart = [*rows[:2], [1.5, 2.5, 1.0, 2.2, 1.9, 200]]
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: pandas.DataFrame(apart, index=index, columns=columns))
    both = YFinanceProvider().daily_bars(["SPY"], date(2026, 1, 2), date(2026, 1, 5))["SPY"]
    assert [b.day for b in both] == [date(2026, 1, 2), date(2026, 1, 5), date(2026, 1, 5)]  # the validator's to refuse


def test_live_runs_never_fall_back_to_synthetic_and_offline_runs_default_to_it(tmp_path: Path) -> None:
    assets = load_config(None).config.assets
    assert provider_names(assets, Settings(), live=True) == ["alpaca", "yfinance"]
    assert provider_names(assets, Settings(), live=False) == ["synthetic"]
    assert provider_names(assets, Settings(LLMTRADE_MARKET_CSV_DIR=tmp_path), live=False) == ["csv"]
    override = Settings(LLMTRADE_MARKET_PROVIDERS="csv, alpaca,yfinance")
    assert provider_names(assets, override, live=True) == ["csv", "alpaca", "yfinance"]
    assert provider_names(assets, Settings(LLMTRADE_MARKET_PROVIDERS="synthetic"), live=True) == ["synthetic"]
    with pytest.raises(UsageError, match="never falls back to synthetic"):
        provider_names(assets, Settings(LLMTRADE_MARKET_PROVIDERS="alpaca,synthetic"), live=True)
    with pytest.raises(UsageError, match="unknown provider"):
        provider_names(assets, Settings(LLMTRADE_MARKET_PROVIDERS="bloomberg"), live=True)


def test_alpaca_without_keys_is_built_as_an_unavailable_provider() -> None:
    assets = load_config(None).config.assets
    [alpaca, yahoo] = build_providers(assets, Settings(), ["alpaca", "yfinance"])
    with pytest.raises(MarketProviderUnset, match="ALPACA_DATA_KEY / ALPACA_DATA_SECRET not set"):
        alpaca.daily_bars(["SPY"], date(2026, 1, 2), date(2026, 1, 9))
    assert yahoo.name == "yfinance"


def test_every_provider_name_the_config_accepts_has_exactly_one_factory() -> None:
    import typing

    from llmtrade.config.models import MarketProviderName
    from llmtrade.market.providers import FACTORIES

    assert set(FACTORIES) == set(typing.get_args(MarketProviderName))


def test_problems_not_recorded_are_all_in_the_message(storage: Storage, tmp_path: Path) -> None:
    """A service that records nothing (a backtest's prefetch) must not say its problems are recorded: found on a
    backtest past the ETF files' end, whose message ended "and 4 more problem(s), each recorded as
    MarketDataRejected" while its books held no such event."""
    symbols = ["SPY", "TLT", "QQQ", "GLD", "HYG"]
    write_csv(tmp_path / "csv", "SPY", date(2025, 12, 1), date(2026, 1, 2))
    spy = (tmp_path / "csv" / "SPY.csv").read_text()
    for symbol in symbols[1:]:  # the same bars under other names (and tickers): each file ends on the same day
        (tmp_path / "csv" / f"{symbol}.csv").write_text(spy.replace(",SPY,", f",{symbol},"))
    provider = CsvFolderProvider(tmp_path / "csv")
    unrecorded = MarketData([provider], BarCache(storage.conn), TradingCalendar())
    with pytest.raises(MarketDataError) as refused:
        unrecorded.bars(symbols, date(2026, 1, 2), date(2026, 1, 9))
    assert "recorded as MarketDataRejected" not in str(refused.value)
    for symbol in symbols:  # each stale file named, not three of five
        assert f"{tmp_path / 'csv' / symbol}.csv: {symbol}: stale" in str(refused.value)
    # Recorded, the message lists them too, one a line (up to SHOWN_PROBLEMS), and the events hold every problem.
    with pytest.raises(MarketDataError) as recorded:
        _market(storage, provider).bars(symbols, date(2026, 1, 2), date(2026, 1, 9))
    assert str(recorded.value).count("\n  - ") == len(symbols) and "more problem" not in str(recorded.value)
    assert len(storage.events.read(type="MarketDataRejected")) == len(symbols)


def test_a_csv_with_no_bar_in_the_range_is_named_with_the_range(storage: Storage, tmp_path: Path) -> None:
    """Found with a backtest of 2010 on files that start in 2018: the message was "csv returned no bars for SPY",
    without the range or the file. (A file holding only its header is refused as unusable for any range:
    tests/test_csv_config_exit.py.)"""
    write_csv(tmp_path / "csv", "SPY", date(2025, 12, 1), date(2026, 1, 9))
    write_csv(tmp_path / "csv", "TLT", date(2025, 12, 1), date(2026, 1, 9))
    market = _market(storage, CsvFolderProvider(tmp_path / "csv"))
    with pytest.raises(MarketDataError) as refused:
        market.bars(["SPY", "TLT"], date(2025, 6, 2), date(2025, 6, 13))
    assert (
        f"csv: no bars between 2025-06-02 and 2025-06-13 in {tmp_path / 'csv' / 'SPY.csv'}, "
        f"{tmp_path / 'csv' / 'TLT.csv'}; give files whose rows cover that range"
    ) in str(refused.value)
    # A fund listed after the range has no such rows to give (found with an ETF launched after a backtest's weeks).
    assert (
        "cover that range, or leave a symbol not yet listed then out of assets.yaml's universe for this range"
    ) in str(refused.value)


def test_a_csv_folder_without_a_universe_symbols_file_says_what_to_do(storage: Storage, tmp_path: Path) -> None:
    """Found with a backtest on four of the ETF files and the packaged universe: the message named the missing
    symbols but not the two ways out (their files, or a universe without them)."""
    write_csv(tmp_path / "csv", "SPY", date(2025, 12, 1), date(2026, 1, 9))
    market = _market(storage, CsvFolderProvider(tmp_path / "csv"))
    with pytest.raises(MarketDataError) as refused:
        market.bars(["SPY", "TLT"], date(2025, 12, 1), date(2026, 1, 9))
    assert (
        f"csv folder {tmp_path / 'csv'} has no file for TLT ({tmp_path / 'csv' / 'TLT.csv'} does not exist): add it, "
        "or leave it out of the universe in assets.yaml"
    ) in str(refused.value)
    packaged = CsvFolderProvider(tmp_path / "csv", assets_file="assets.yaml (packaged defaults)")
    with pytest.raises(MarketDataError) as refused:
        _market(storage, packaged).bars(["SPY", "TLT", "IWM"], date(2025, 12, 1), date(2026, 1, 9))
    assert (
        f"has no file for TLT, IWM ({tmp_path / 'csv' / 'TLT.csv'}, {tmp_path / 'csv' / 'IWM.csv'} do not exist): add "
        "a SYMBOL.csv for each, or leave them out of the universe in assets.yaml (packaged defaults) (`llmtrade init "
        "DIR` writes an editable copy; then --config DIR)"
    ) in str(refused.value)


def test_a_backtests_provider_that_reads_no_file_says_it_returned_no_bars(storage: Storage) -> None:
    """A backtest wraps each provider to its cutoff (CutoffProvider), and the wrapper always had an `origin`: over
    the synthetic market, Alpaca or Yahoo it named no file, and the message joined those Nones (a TypeError)."""
    market = _market(storage, CutoffProvider(SyntheticMarket(CLASSES), date(2026, 1, 9)))
    with pytest.raises(MarketDataError) as refused:
        market.bars(["SPY"], date(2010, 1, 4), date(2010, 1, 15))
    assert "synthetic returned no bars for SPY between 2010-01-04 and 2010-01-15" in str(refused.value)


def test_a_csv_folder_without_one_symbols_file_keeps_the_others_and_the_next_provider_is_asked_for_it_alone(
    storage: Storage, tmp_path: Path
) -> None:
    """One symbol's file missing (or a folder in its place) cost every symbol: the next provider was asked for all."""
    write_csv(tmp_path / "csv", "SPY", date(2025, 12, 1), date(2026, 1, 9))
    (tmp_path / "csv" / "QQQ.csv").mkdir()
    write_csv(tmp_path / "other", "TLT", date(2025, 12, 1), date(2026, 1, 9))
    write_csv(tmp_path / "other", "QQQ", date(2025, 12, 1), date(2026, 1, 9))
    other = Asked(CsvFolderProvider(tmp_path / "other"))
    series = _market(storage, CsvFolderProvider(tmp_path / "csv"), other).bars(
        ["SPY", "TLT", "QQQ"], date(2026, 1, 2), date(2026, 1, 9)
    )
    assert other.asked == [["TLT", "QQQ"]] and list(series.bars) == ["SPY", "TLT", "QQQ"]
    failed = storage.events.read(type="MarketProviderFailed")[0].payload
    assert failed["symbols"] == ["TLT", "QQQ"]
    assert "has no file for TLT" in failed["error"] and "QQQ.csv is a folder, not a file" in failed["error"]


def test_a_missing_file_does_not_hide_another_files_bad_rows_both_are_named_and_recorded(
    storage: Storage, tmp_path: Path
) -> None:
    """QQQ's file missing and TLT's with a bad row: the error named QQQ alone "(of the 3 asked)", and TLT's row was
    never said nor recorded, the next provider asked for it as if nothing were wrong. Both are said now, the file and
    line of the bad row too, and the exit is 2 as for either alone (a file to fix, a file to add: the configured
    folder's to mend)."""
    folder = tmp_path / "csv"
    write_csv(folder, "SPY", date(2025, 12, 1), date(2026, 1, 9))
    write_csv(folder, "TLT", date(2025, 12, 1), date(2026, 1, 9))
    lines = (folder / "TLT.csv").read_text().splitlines()
    [bad] = [n for n, text in enumerate(lines, start=1) if text.startswith("2026-01-06,")]
    fields = lines[bad - 1].split(",")
    lines[bad - 1] = ",".join([*fields[:5], "n/a", *fields[6:]])  # the close
    (folder / "TLT.csv").write_text("\n".join(lines) + "\n")
    market = _market(storage, CsvFolderProvider(folder))
    with pytest.raises(MarketDataError) as refused:
        market.bars(["SPY", "TLT", "QQQ"], date(2026, 1, 2), date(2026, 1, 9))
    message = str(refused.value)
    # Either is the configured folder's to mend (exit 2), and nothing to wait out.
    assert refused.value.exit_code == 2 and not isinstance(refused.value, MarketDataUnavailable)
    assert f"csv folder {folder} has no file for QQQ" in message
    assert f"{folder / 'TLT.csv'}, line {bad}: TLT: 2026-01-06: Close 'n/a' is not a number" in message
    assert "could supply TLT, QQQ (of the 3 asked)" in message
    [rejected] = [e.payload for e in storage.events.read(type="MarketDataRejected")]
    assert (rejected["symbol"], rejected["where"]) == ("TLT", f"{folder / 'TLT.csv'}, line {bad}")
    [failed] = [e.payload for e in storage.events.read(type="MarketProviderFailed")]
    assert failed["symbols"] == ["QQQ"] and "has no file for QQQ" in failed["error"]
    # With a provider after it that has every file, the read goes on as for the bad rows alone: on record.
    write_csv(tmp_path / "other", "SPY", date(2025, 12, 1), date(2026, 1, 9))
    write_csv(tmp_path / "other", "TLT", date(2025, 12, 1), date(2026, 1, 9))
    write_csv(tmp_path / "other", "QQQ", date(2025, 12, 1), date(2026, 1, 9))
    other = Asked(CsvFolderProvider(tmp_path / "other"))
    series = _market(storage, CsvFolderProvider(folder), other).bars(
        ["SPY", "TLT", "QQQ"], date(2026, 1, 5), date(2026, 1, 9)
    )
    assert other.asked == [["SPY", "TLT", "QQQ"]] and list(series.bars) == ["SPY", "TLT", "QQQ"]
    assert len(storage.events.read(type="MarketDataRejected")) == 2


class Asked(Counting):
    """Counting, and which symbols each call asked for."""

    def __init__(self, inner: CsvFolderProvider):
        super().__init__(inner)
        self.asked: list[list[str]] = []

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        self.asked.append(list(symbols))
        return super().daily_bars(symbols, start, end)
