"""A daily file's row written while its session traded is no bar of that session: left out, said, read once rewritten.

Yahoo's daily history and most brokers' exports hold the day's own row during the session (its Close the last trade
at the export, its High, Low and Volume partial). A file exported at 14:02 and read after the 16:00 close had that
row taken as the session's final bar, and cached as such. The file's modification time is set here as an export
script's write leaves it (os.utime), before or after the close of its last row's session.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock, SystemClock
from llmtrade.domain.market import Bar
from llmtrade.errors import BarNotComplete
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.csv_quotes import CsvQuotes
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.market_series import END, START, good_bars, market, rows, write

runner = CliRunner()
CLOSE = datetime.combine(END, time(16), NEW_YORK)  # END (a Friday) closes at 16:00
EXPORTED = datetime.combine(END, time(14, 2), NEW_YORK)


@pytest.fixture(autouse=True)
def _machine_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's clock half an hour after END's close: END is the last session, its file maybe exported again
    (a row of a session long closed is the file's to mend, exit 2: tests/test_unfinished_rows_stale.py)."""
    monkeypatch.setattr(SystemClock, "now", lambda self: CLOSE + timedelta(minutes=30))


def _at(path: Path, when: datetime) -> Path:
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def _folder(tmp_path: Path, written: datetime) -> Path:
    folder = tmp_path / "csv"
    _at(write(folder, "SPY", rows("SPY")), written)
    write(folder, "TLT", rows("TLT"))  # written now, long after its rows' sessions
    return folder


def test_a_row_written_before_its_session_closed_is_left_out_saying_when_the_file_was_written(tmp_path: Path) -> None:
    folder = _folder(tmp_path, EXPORTED)
    provider = CsvFolderProvider(folder)
    with pytest.raises(BarNotComplete) as caught:
        provider.daily_bars(["SPY", "TLT"], START, END)
    said = str(caught.value)
    assert said.count(str(folder / "SPY.csv")) == 1
    assert f"no final row of {END} in {folder / 'SPY.csv'} yet" in said
    assert f"written at {END} 14:02:00 New York (the file's modification time)" in said
    assert "before that session's close at 16:00" in said and "until the file is written again after the close" in said
    assert caught.value.session == END and caught.value.symbols == ("SPY",)
    assert [b.day for b in caught.value.answered["TLT"]][-1] == END  # the other file is read as ever
    [row] = caught.value.unfinished["SPY"]
    assert row.day == END
    # The sessions before it closed before the file was written: final, read as ever.
    before = provider.daily_bars(["SPY"], START, END - timedelta(days=1))["SPY"]
    assert before[-1].day == date(2026, 1, 8)


def test_the_commands_clock_is_not_what_is_compared(tmp_path: Path) -> None:
    # A drill's LLMTRADE_NOW before END's close, over a file written (in real time) long after it: every row final.
    folder = _folder(tmp_path, CLOSE + timedelta(days=300))
    provider = CsvFolderProvider(folder, clock=FixedClock(EXPORTED))
    assert provider.daily_bars(["SPY"], START, END)["SPY"][-1].day == END
    # Written one second after the close: final too.
    _at(folder / "SPY.csv", CLOSE + timedelta(seconds=1))
    assert provider.daily_bars(["SPY"], START, END)["SPY"][-1].day == END


def test_a_run_after_the_close_is_refused_as_temporary_nothing_cached_and_the_failure_on_record(
    storage: Storage, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, EXPORTED)
    said: list[str] = []
    with pytest.raises(BarNotComplete) as caught:
        market(storage, CsvFolderProvider(folder), say=said.append).bars(["SPY", "TLT"], START, END)
    assert caught.value.exit_code == 75  # a later run, after the file is exported again, reads it
    assert str(caught.value).count(f"no final row of {END}") == 1
    assert said == []  # said by the error alone
    cache = BarCache(storage.conn)
    assert cache.read(["SPY"], END, END, synthetic=False)["SPY"] == []
    [failed] = [e.payload for e in storage.events.read(type="MarketProviderFailed")]
    assert failed["symbols"] == ["SPY"] and failed["error_type"] == "BarNotComplete"
    assert f"{folder / 'SPY.csv'} yet: it was written at {END} 14:02:00 New York" in failed["error"]


def test_the_file_exported_again_after_the_close_is_read_and_cached(storage: Storage, tmp_path: Path) -> None:
    folder = _folder(tmp_path, EXPORTED)
    with pytest.raises(BarNotComplete):
        market(storage, CsvFolderProvider(folder)).bars(["SPY"], START, END)
    # The export after the close: the final row (another close, same size or not), and a later modification time.
    lines = rows("SPY")
    fields = lines[-1].split(",")
    fields[5] = fields[4]  # the close at the day's low
    _at(write(folder, "SPY", [*lines[:-1], ",".join(fields)]), CLOSE + timedelta(minutes=25))
    read = market(storage, CsvFolderProvider(folder)).bars(["SPY"], START, END)
    assert read.bars["SPY"][-1].day == END and read.bars["SPY"][-1].close == float(fields[4])
    again = market(storage, CsvFolderProvider(folder)).bars(["SPY"], START, END)
    assert again.from_cache and again.bars == read.bars


def test_the_same_bytes_written_again_after_the_close_are_read(tmp_path: Path) -> None:
    # A file is parsed once per size and modification time: only the time changes here.
    folder = _folder(tmp_path, EXPORTED)
    provider = CsvFolderProvider(folder)
    with pytest.raises(BarNotComplete):
        provider.daily_bars(["SPY"], START, END)
    _at(folder / "SPY.csv", CLOSE + timedelta(minutes=1))
    assert provider.daily_bars(["SPY"], START, END)["SPY"][-1].day == END


def test_its_open_still_prices_the_session_and_fills_at_the_open_but_never_at_the_close(
    storage: Storage, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, EXPORTED)
    row = next(b for b in good_bars("SPY") if b.day == END)
    quote = CsvQuotes(folder, TradingCalendar()).latest(["SPY"], EXPORTED)["SPY"]
    assert quote.kind == "daily-open" and quote.price == row.open
    service = market(storage, CsvFolderProvider(folder))
    assert service.opening_price("SPY", END) == row.open
    assert service.closing_price("SPY", END) is None


class _Feed:
    """A provider after the CSV folder that has the session's final bar."""

    name = "feed"
    synthetic = False

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        return {s: [b for b in good_bars(s) if start <= b.day <= end] for s in symbols}

    def origin(self, symbol: str) -> str | None:
        return None

    def incomplete(self, close: datetime) -> str | None:
        return None


def test_a_later_provider_supplies_the_session_and_the_row_left_out_is_said_once(
    storage: Storage, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, EXPORTED)
    said: list[str] = []
    service = market(storage, CsvFolderProvider(folder), _Feed(), say=said.append)
    read = service.bars(["SPY", "TLT"], START, END)
    assert read.bars["SPY"][-1].day == END
    service.bars(["SPY"], START - timedelta(days=3), END)
    [warning] = said
    assert f"no final row of {END} in {folder / 'SPY.csv'} yet" in warning and "next provider's bar" in warning


def test_market_bars_after_the_close_shows_the_session_before_naming_the_file_once(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A read (as `status`) shows the closes it has final, to the session before, and says why.
    folder = _folder(tmp_path, EXPORTED)
    monkeypatch.setenv("LLMTRADE_NOW", (CLOSE + timedelta(minutes=30)).isoformat())
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(folder))
    result = runner.invoke(app, ["market", "bars", "SPY", "--offline"])
    assert result.exit_code == 0, result.output
    assert result.output.count(f"no final row of {END} in {folder / 'SPY.csv'}") == 1, result.output
    assert f"{END}'s close is not final yet" in result.output and not result.stdout.count(f"\n{END}\t")
    _at(folder / "SPY.csv", CLOSE + timedelta(minutes=20))  # exported again after the close
    result = runner.invoke(app, ["market", "bars", "SPY", "--offline"])
    assert result.exit_code == 0, result.output
    assert f"\n{END}\t" in result.stdout and "not final" not in result.output


def test_config_validate_says_a_file_written_before_its_last_rows_session_closed(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, EXPORTED)
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(folder))
    checked = runner.invoke(app, ["config", "validate"])
    assert checked.exit_code == 0, checked.output
    assert "configuration OK" in checked.stdout
    assert checked.stderr.count(f"no final row of {END} in {folder / 'SPY.csv'} yet") == 1, checked.stderr
    assert "TLT.csv" not in checked.stderr
    _at(folder / "SPY.csv", CLOSE + timedelta(minutes=20))  # exported again after the close: nothing to say
    checked = runner.invoke(app, ["config", "validate"])
    assert checked.exit_code == 0 and "no final row" not in checked.output, checked.output
