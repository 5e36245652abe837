"""A backtest resumed on a CSV folder whose intraday files (`intraday/SYMBOL.csv`, market/csv_quotes.py) changed. The
price data hash covered the daily files alone and the grown-files check read only the bar cache, so a resume on
intraday prices edited inside the weeks already run went on silently: books written from one set of checkpoint prices
continued on another, unlike a backtest run afresh. Changed inside those weeks is now refused naming the file and the
day; rows only added after them (the next week's download) resume."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from llmtrade.domain.market import Bar
from llmtrade.errors import LlmtradeError, UsageError
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history
from tests.test_backtest_grown_prices import SECOND, _run

# The last day of the first week's jobs (its postmortem, Tuesday after).
FIRST_ENDS = WEEK + timedelta(days=6)


def _intraday(folder: Path, symbol: str, bars: list[Bar], *, nudge: dict[object, float] | None = None) -> None:
    """`symbol`'s intraday file: a row every ten minutes of each session of `bars`, from the open to the close;
    `nudge`: a day's prices multiplied by its factor."""
    calendar = TradingCalendar()
    lines = ["Timestamp,Price"]
    for bar in bars:
        if not calendar.is_session(bar.day):
            continue
        factor = (nudge or {}).get(bar.day, 1.0)
        start = datetime.combine(bar.day, time(9, 40), NEW_YORK)
        for n in range(38):  # 09:40 to 15:50
            at = start + timedelta(minutes=10 * n)
            price = (bar.open + (bar.close - bar.open) * n / 37) * factor
            lines.append(f"{at.isoformat()},{price:.4f}")
    (folder / "intraday").mkdir(parents=True, exist_ok=True)
    (folder / "intraday" / f"{symbol}.csv").write_text("\n".join(lines) + "\n")


def _first_week(database_url: str, tmp_path: Path, *, gld_intraday: bool = True) -> tuple[Path, str, dict]:
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, bars)
    if gld_intraday:
        _intraday(folder, "GLD", [b for b in bars["GLD"] if b.day <= FIRST_ENDS])
    assert _run(database_url, tmp_path, name, folder).weeks_run == 1
    return folder, name, bars


def test_an_intraday_file_changed_inside_the_weeks_run_is_refused_naming_file_and_day(
    database_url: str, tmp_path: Path
) -> None:
    folder, name, bars = _first_week(database_url, tmp_path)
    day = WEEK + timedelta(days=1)  # a session the first week's checkpoints priced
    _intraday(folder, "GLD", [b for b in bars["GLD"] if b.day <= FIRST_ENDS], nudge={day: 1.01})
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder, [])
    message = str(caught.value)
    assert f"intraday/GLD.csv's prices of {day} are not the ones this backtest read" in message, message


def test_an_intraday_file_added_with_rows_inside_the_weeks_run_is_refused(database_url: str, tmp_path: Path) -> None:
    """The weeks run priced GLD by the daily bridge (no intraday file); a run afresh prices it from the file."""
    folder, name, bars = _first_week(database_url, tmp_path, gld_intraday=False)
    _intraday(folder, "GLD", bars["GLD"])
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder, [])
    message = str(caught.value)
    assert f"intraday/GLD.csv now has prices of {WEEK}, inside the days this backtest's weeks ran" in message, message


def test_an_intraday_file_that_only_grew_after_the_weeks_run_resumes(database_url: str, tmp_path: Path) -> None:
    folder, name, bars = _first_week(database_url, tmp_path)
    _intraday(folder, "GLD", bars["GLD"])  # the next week's rows added
    said: list[str] = []
    assert _run(database_url, tmp_path, name, folder, said).weeks_run == 1
    # Grown again after the second week: the extension reads the same days, and a rerun says nothing is left.
    _intraday(folder, "GLD", bars["GLD"], nudge={SECOND + timedelta(days=9): 1.02})
    assert _run(database_url, tmp_path, name, folder, []).weeks_run == 0


def test_an_extension_stopped_before_its_first_job_binds_no_intraday_day(database_url: str, tmp_path: Path) -> None:
    """--to moved on before the next week was downloaded: that start stopped at its prices, before any job, its start
    and stop stamped at the next week's first job. The next week's rows, downloaded then, are read by no week run."""
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, {s: [b for b in rows if b.day <= FIRST_ENDS] for s, rows in bars.items()})
    _intraday(folder, "GLD", [b for b in bars["GLD"] if b.day <= FIRST_ENDS])
    assert _run(database_url, tmp_path, name, folder).weeks_run == 1
    # A range past the benchmark's last bar is a bad argument (exit 2), refused before any job, naming a --to it covers
    with pytest.raises(UsageError, match=r"SPY's .* last bar is .*, before the range's last week reads"):
        _run(database_url, tmp_path, name, folder, [])
    _write(folder, bars)  # the next week's download, daily and intraday
    _intraday(folder, "GLD", bars["GLD"])
    assert _run(database_url, tmp_path, name, folder, []).weeks_run == 1


def test_an_intraday_file_grown_with_a_bad_row_is_refused_naming_its_line(database_url: str, tmp_path: Path) -> None:
    """The next week's download appended a row that cannot be read: the file, read whole, gives no day at all. The
    refusal says which line, not only that the file 'is gone or cannot be read'."""
    folder, name, _bars = _first_week(database_url, tmp_path)
    path = folder / "intraday" / "GLD.csv"
    rows = path.read_text().splitlines()
    path.write_text("\n".join([*rows, "2026-01-21T10:00:00-05:00,n/a"]) + "\n")
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder, [])
    message = str(caught.value)
    assert f"{path}, line {len(rows) + 1}: unreadable row" in message, message
    assert "mend the file, then run the same command again" in message, message


def test_an_intraday_file_unreadable_from_the_start_once_mended_resumes(database_url: str, tmp_path: Path) -> None:
    """A bad row in an intraday file stops the backtest at its first quote of it, the line named. No job read the
    file (any quote of it stops), so once it is mended the backtest resumes: it was refused as a file that 'now has
    prices of ..., which had none then', a new --name the only way on."""
    bars = history(SECOND + timedelta(days=10))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, bars)
    _intraday(folder, "GLD", [b for b in bars["GLD"] if b.day <= FIRST_ENDS])
    path = folder / "intraday" / "GLD.csv"
    good = path.read_text()
    path.write_text(good + "2026-01-31T10:00:00-05:00,n/a\n")
    with pytest.raises(LlmtradeError, match="unreadable row"):  # its 12:00 checkpoint, the first to quote it
        _run(database_url, tmp_path, name, folder)
    path.write_text(good)
    assert _run(database_url, tmp_path, name, folder).weeks_run == 1


# What the start says of intraday files with no rows, or none fresh, on sessions its jobs read (backtest.py's
# `gaps_notice` and `stale_rows`) is asked of the weeks still to run only. The weeks already run were said so when they
# ran, and rows removed from their days since are no notice to repeat: the resume is refused, naming the file and day.


def _without(folder: Path, symbol: str, keep: object) -> None:
    """`symbol`'s intraday file rewritten with the rows `keep` (a row's line) keeps."""
    path = folder / "intraday" / f"{symbol}.csv"
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header, *(row for row in rows if keep(row))]) + "\n")  # type: ignore[operator]


def test_an_intraday_files_session_removed_inside_the_weeks_run_is_refused(database_url: str, tmp_path: Path) -> None:
    """A session the first week's checkpoints priced from the file, now with no row (`gaps_notice`'s case)."""
    folder, name, _bars = _first_week(database_url, tmp_path)
    day = WEEK + timedelta(days=1)
    _without(folder, "GLD", lambda row: not row.startswith(day.isoformat()))
    said: list[str] = []
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder, said)
    message = str(caught.value)
    assert f"intraday/GLD.csv no longer has the prices of {day} this backtest read" in message, message
    assert not any("intraday prices:" in line and "no rows on" in line for line in said), said


def test_an_intraday_files_afternoon_removed_inside_the_weeks_run_is_refused(database_url: str, tmp_path: Path) -> None:
    """A session's rows after noon removed: its later checkpoints had a quote, and have none fresh now (`stale_rows`'
    case): the day's prices are not the ones the weeks read."""
    folder, name, _bars = _first_week(database_url, tmp_path)
    day = WEEK + timedelta(days=1)
    _without(folder, "GLD", lambda row: not row.startswith(day.isoformat()) or row[11:13] < "12")
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder, [])
    message = str(caught.value)
    assert f"intraday/GLD.csv's prices of {day} are not the ones this backtest read" in message, message


def test_an_intraday_file_removed_after_the_weeks_run_is_refused(database_url: str, tmp_path: Path) -> None:
    folder, name, _bars = _first_week(database_url, tmp_path)
    (folder / "intraday" / "GLD.csv").unlink()
    with pytest.raises(UsageError) as caught:
        _run(database_url, tmp_path, name, folder, [])
    message = str(caught.value)
    assert f"intraday/GLD.csv is gone; this backtest read its prices of {WEEK}" in message, message
