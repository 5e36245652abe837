"""A backtest on a CSV folder whose intraday files have rows on a few sessions only. A checkpoint on a session without
rows found the file's last row from an earlier day, refused it as from before the open (a temporary failure: exit 75,
"run the same command again later"), and every rerun failed the same way: the files are the whole record (so with a
last row older than the staleness limit). Such a checkpoint is now priced at the session's open from the daily file
(kind daily-open: the one price of the session known before its close), and the start names the files and sessions
without rows. A live run still refuses them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_quotes import CsvQuotes
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history
from tests.test_backtest_grown_prices import SECOND, _run

FOUR = ((9, 45), (11, 45), (13, 45), (15, 45))


def _few_rows(folder: Path, symbol: str, closes: dict[date, float], at: tuple[tuple[int, int], ...] = FOUR) -> None:
    """`symbol`'s intraday file: a row at each of `at` on each day of `closes`, nothing on any other session."""
    lines = ["Timestamp,Price"]
    for day, close in sorted(closes.items()):
        for hour, minute in at:
            lines.append(f"{datetime.combine(day, time(hour, minute), NEW_YORK).isoformat()},{close:.4f}")
    (folder / "intraday").mkdir(parents=True, exist_ok=True)
    (folder / "intraday" / f"{symbol}.csv").write_text("\n".join(lines) + "\n")


def test_a_backtest_prices_the_sessions_an_intraday_file_has_no_rows_of_at_the_open(
    database_url: str, tmp_path: Path
) -> None:
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, bars)
    days = {WEEK, WEEK + timedelta(days=6)}  # the Wednesday and the next Tuesday: Thursday and Friday have no rows
    for symbol, rows in bars.items():
        _few_rows(folder, symbol, {b.day: b.close for b in rows if b.day in days})
    said: list[str] = []
    assert _run(database_url, tmp_path, name, folder, said).weeks_run == 2
    notes = [t for t in said if t.startswith("intraday prices: ")]
    assert len(notes) == 1, said  # once, at the start
    assert "intraday/BNO.csv, intraday/GLD.csv" in notes[0] and f"({WEEK + timedelta(days=1)}, " in notes[0], notes[0]
    assert "at the session's open from its daily file (kind daily-open)" in notes[0], notes[0]
    assert "an order sent then fills at the session's close" in notes[0], notes[0]


def test_a_backtest_prices_a_checkpoint_whose_last_row_is_stale_at_the_open(database_url: str, tmp_path: Path) -> None:
    """Rows on every session, but two a day: the 12:00 checkpoint's last row is hours old, over the staleness limit,
    which no rerun of a backtest can change."""
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, bars)
    for symbol, rows in bars.items():
        _few_rows(folder, symbol, {b.day: b.close for b in rows}, at=((9, 45), (15, 45)))
    assert _run(database_url, tmp_path, name, folder, []).weeks_run == 2


def test_a_gap_is_priced_at_the_open_in_a_backtest_and_refused_live(tmp_path: Path) -> None:
    bars = history(WEEK + timedelta(days=7))
    folder = tmp_path / "prices"
    _write(folder, bars)
    _few_rows(folder, "SPY", {WEEK: 100.0})
    noon = datetime.combine(WEEK + timedelta(days=1), time(12), NEW_YORK)
    live = CsvQuotes(folder, TradingCalendar()).latest(["SPY"], noon)["SPY"]
    assert (live.kind, live.price) == ("intraday-file", 100.0)  # the quote service refuses it: from before the open
    opened = CsvQuotes(folder, TradingCalendar(), open_after=timedelta(minutes=15)).latest(["SPY"], noon)["SPY"]
    day_bar = next(b for b in bars["SPY"] if b.day == noon.date())
    assert (opened.kind, opened.price, opened.tradable) == ("daily-open", day_bar.open, False)
    assert opened.as_of == datetime.combine(noon.date(), time(9, 30), NEW_YORK)  # stamped at the open, not at noon
    # A session with rows is priced from them; before its first row, at the open.
    on_the_day = CsvQuotes(folder, TradingCalendar(), open_after=timedelta(minutes=15))
    assert on_the_day.latest(["SPY"], noon - timedelta(days=1))["SPY"].price == 100.0  # 11:45's
    later = noon - timedelta(days=1) + timedelta(minutes=1)  # 11:45's is 16 minutes old: over the limit
    assert on_the_day.latest(["SPY"], later)["SPY"].kind == "daily-open"
    early = datetime.combine(WEEK, time(9, 35), NEW_YORK)
    assert on_the_day.latest(["SPY"], early)["SPY"].kind == "daily-open"
