"""CSV files as vendors write them: Alpha Vantage's lower-case `timestamp` header is read; a file newest first, or
priced in another currency, is refused at the start, saying which and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtrade.errors import MarketDataError
from llmtrade.market.csv_folder import read_csv
from llmtrade.market.validation import ADVICE, ProblemKind, SeriesRejected, validate_series
from tests.market_series import SESSIONS, good_bars

ROWS = [f"{b.day},{b.open},{b.high},{b.low},{b.close},{int(b.volume)}" for b in good_bars()]


def _file(tmp_path: Path, header: str, rows: list[str]) -> Path:
    path = tmp_path / "SPY.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_alpha_vantages_lower_case_timestamp_header_is_read(tmp_path: Path) -> None:
    """Found with an Alpha Vantage export: refused as 'missing column(s) Date, Open, High, Low, Close, Volume'."""
    plain = read_csv(_file(tmp_path, "Date,Open,High,Low,Close,Volume", ROWS), "SPY")
    vendor = read_csv(_file(tmp_path, "timestamp,open,high,low,close,volume", ROWS), "SPY")
    assert vendor == plain and len(vendor) == len(ROWS)


def test_a_file_newest_first_is_refused_saying_so(tmp_path: Path) -> None:
    path = _file(tmp_path, "timestamp,open,high,low,close,volume", ROWS[::-1])
    with pytest.raises(MarketDataError, match=r"line 3: SPY: date .* does not come after .* \(every row runs newest"):
        read_csv(path, "SPY")
    # A single row out of place is not called newest first.
    swapped = [ROWS[0], ROWS[2], ROWS[1], *ROWS[3:]]
    with pytest.raises(MarketDataError) as caught:
        read_csv(_file(tmp_path, "Date,Open,High,Low,Close,Volume", swapped), "SPY")
    assert "newest first" not in str(caught.value) and "sort the rows by date" in str(caught.value)


def test_a_file_priced_in_another_currency_is_refused(tmp_path: Path) -> None:
    """A London listing (pence) or a Frankfurt one (euros) would be traded as dollars by the paper broker."""
    rows = [f"{row},USD" for row in ROWS[:3]] + [f"{row},EUR" for row in ROWS[3:]]
    with pytest.raises(SeriesRejected) as caught:
        read_csv(_file(tmp_path, "Date,Open,High,Low,Close,Volume,Currency", rows), "SPY")
    [problem] = caught.value.problems
    assert problem.kind is ProblemKind.WRONG_CURRENCY and problem.where == f"{tmp_path / 'SPY.csv'}, line 5"
    assert "Currency 'EUR' is not USD" in str(caught.value) and ADVICE[ProblemKind.WRONG_CURRENCY] in str(caught.value)
    assert len(read_csv(_file(tmp_path, "Date,Open,High,Low,Close,Volume,currency", rows[:3]), "SPY")) == 3


def test_a_series_that_stops_early_says_what_a_delisted_symbol_needs() -> None:
    """A fund closed during the range: 'update the data' alone cannot help; the message says what can."""
    bars = good_bars()[:-5]
    [problem] = validate_series("SPY", bars, SESSIONS)
    assert problem.kind is ProblemKind.STALE
    assert "delisted or closed, cannot be held past its last bar: take it out of the universe" in problem.message()


@pytest.mark.parametrize(
    ("row", "fields"),
    [
        ("{day},1,234.50,1,240.00,1,230.00,1,238.00,5000", 10),  # thousands separators, unquoted: columns shifted
        ("{day},{rest},extra", 7),  # a stray field (found by a new user: read silently)
        ("{day},{rest_short}", 5),  # a field missing
    ],
)
def test_a_row_with_more_or_fewer_fields_than_the_header_is_refused_naming_its_line(
    tmp_path: Path, row: str, fields: int
) -> None:
    day, *rest = ROWS[4].split(",")
    bad = row.format(day=day, rest=",".join(rest), rest_short=",".join(rest[:-1]))
    with pytest.raises(SeriesRejected) as caught:
        read_csv(_file(tmp_path, "Date,Open,High,Low,Close,Volume", [*ROWS[:4], bad, *ROWS[5:]]), "SPY")
    [problem] = caught.value.problems
    assert problem.kind is ProblemKind.UNREADABLE and problem.where == f"{tmp_path / 'SPY.csv'}, line 6"
    assert f"{day}: {fields} fields where the header has 6" in str(caught.value), str(caught.value)
    # Quoted, a thousands separator is one field (and then not a number: refused as that, on the same line).
    quoted = f'{day},"1,234.50",1240,1230,1238,5000'
    with pytest.raises(SeriesRejected, match="is not a number"):
        read_csv(_file(tmp_path, "Date,Open,High,Low,Close,Volume", [*ROWS[:4], quoted]), "SPY")


def _yfinance(rows: list[str], ticker: str = "SPY") -> tuple[str, list[str]]:
    """A file as `yfinance.download(...).to_csv()` writes it since 0.2.51 (multi-level columns): three header rows,
    the columns in its order (Close, High, Low, Open, Volume)."""
    body = []
    for row in rows:
        day, open_, high, low, close, volume = row.split(",")
        body.append(",".join([day, close, high, low, open_, volume]))
    head = f"Price,Close,High,Low,Open,Volume\nTicker,{','.join([ticker] * 5)}\nDate,,,,,"
    return head, body


def test_yfinances_three_row_header_is_read(tmp_path: Path) -> None:
    """Found with a yfinance download: refused as 'line 1: missing column(s) Date (has Price, Close, High, ...)',
    though every figure was there; yfinance writes its column levels as three header rows (Price, Ticker, Date)."""
    plain = read_csv(_file(tmp_path, "Date,Open,High,Low,Close,Volume", ROWS), "SPY")
    assert read_csv(_file(tmp_path, *_yfinance(ROWS)), "SPY") == plain
    # Its lines keep their numbers in a refusal: the first row of prices is line 4.
    bad = [ROWS[0].replace(ROWS[0].split(",")[4], "x", 1), *ROWS[1:]]
    with pytest.raises(SeriesRejected) as caught:
        read_csv(_file(tmp_path, *_yfinance(bad)), "SPY")
    assert caught.value.problems[0].where == f"{tmp_path / 'SPY.csv'}, line 4"


def test_yfinances_header_naming_another_ticker_is_refused(tmp_path: Path) -> None:
    """A download of QQQ saved as SPY.csv would trade SPY on QQQ's prices."""
    with pytest.raises(SeriesRejected) as caught:
        read_csv(_file(tmp_path, *_yfinance(ROWS, ticker="QQQ")), "SPY")
    [problem] = caught.value.problems
    assert problem.kind is ProblemKind.WRONG_SYMBOL and problem.where == f"{tmp_path / 'SPY.csv'}, line 2"
    assert "Ticker 'QQQ' is not SPY, the file's symbol" in str(caught.value)


def _by_ticker(rows: list[str], ticker: str = "SPY", *, dated: bool = True) -> tuple[str, list[str]]:
    """A file as `yfinance.download(..., group_by='ticker').to_csv()` writes it: the column levels the other way round
    (yfinance/multi.py concatenates with names=['Ticker', 'Price'] and swaps them back only for group_by='column'), the
    ticker row first, the fields in Ticker.history's order (Open, High, Low, Close, Volume); then the index's name,
    Date, on a row of its own, which yfinance 1.4.0 lost (its index unnamed: pandas then writes no such row)."""
    head = f"Ticker,{','.join([ticker] * 5)}\nPrice,Open,High,Low,Close,Volume" + ("\nDate,,,,," if dated else "")
    return head, rows


@pytest.mark.parametrize("dated", [True, False])
def test_yfinances_file_grouped_by_ticker_is_read(tmp_path: Path, dated: bool) -> None:
    """Refused as 'line 1: missing column(s) Date, Open, High, Low, Close, Volume (has Ticker, SPY, SPY, ...)'."""
    plain = read_csv(_file(tmp_path, "Date,Open,High,Low,Close,Volume", ROWS), "SPY")
    assert read_csv(_file(tmp_path, *_by_ticker(ROWS, dated=dated)), "SPY") == plain
    bad = [ROWS[0].replace(ROWS[0].split(",")[4], "x", 1), *ROWS[1:]]  # lines keep their numbers
    with pytest.raises(SeriesRejected) as caught:
        read_csv(_file(tmp_path, *_by_ticker(bad, dated=dated)), "SPY")
    assert caught.value.problems[0].where == f"{tmp_path / 'SPY.csv'}, line {4 if dated else 3}"


def test_yfinances_file_grouped_by_ticker_naming_another_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SeriesRejected) as caught:
        read_csv(_file(tmp_path, *_by_ticker(ROWS, ticker="QQQ")), "SPY")
    [problem] = caught.value.problems
    assert problem.kind is ProblemKind.WRONG_SYMBOL and problem.where == f"{tmp_path / 'SPY.csv'}, line 1"
    assert "Ticker 'QQQ' is not SPY, the file's symbol" in str(caught.value)
    # group_by='ticker' of several: each ticker's columns side by side, never read as one symbol's.
    body = [",".join([r.split(",")[0], *(r.split(",")[1:] * 2)]) for r in ROWS]
    head = "Ticker,QQQ,QQQ,QQQ,QQQ,QQQ,SPY,SPY,SPY,SPY,SPY\nPrice,Open,High,Low,Close,Volume,Open,High,Low,Close,Volume"
    with pytest.raises(SeriesRejected) as caught:
        read_csv(_file(tmp_path, f"{head}\nDate,,,,,,,,,,", body), "SPY")
    assert "Ticker row names QQQ and SPY: a download of several tickers in one file" in str(caught.value)


def test_a_semicolon_separated_file_is_refused_saying_so(tmp_path: Path) -> None:
    """Excel in a European locale saves 'CSV' with semicolons and decimal commas: refused as 'missing column(s) Date,
    Open, High, Low, Close, Volume (has Date;Open;High;Low;Close;Volume)', which read as if the columns were absent."""
    rows = [";".join(r.replace(".", ",").split(",")) for r in ROWS]  # not what Excel writes exactly: refused anyway
    with pytest.raises(SeriesRejected) as caught:
        read_csv(_file(tmp_path, "Date;Open;High;Low;Close;Volume", rows), "SPY")
    [problem] = caught.value.problems
    assert problem.where == f"{tmp_path / 'SPY.csv'}, line 1"
    assert "its fields are separated by ';' (Excel's CSV in a locale with decimal commas)" in problem.reason
    assert "save it with ',' between fields and '.' in numbers" in problem.reason
    empty = tmp_path / "SPY.csv"
    empty.write_text("")
    with pytest.raises(SeriesRejected, match="line 1: SPY: the file is empty: no header row"):  # no header to look at
        read_csv(empty, "SPY")


def test_us_format_dates_are_said_once_with_their_count_and_lines(tmp_path: Path) -> None:
    """Found with a file saved with US dates (01/05/2026): the refusal listed 20 'unparsable date' lines alike, then
    'and N more problems', for one fix of the whole file."""
    us = []
    for row in ROWS:
        day, rest = row.split(",", 1)
        us.append(f"{day[5:7]}/{day[8:10]}/{day[:4]},{rest}")
    with pytest.raises(SeriesRejected) as caught:
        read_csv(_file(tmp_path, "Date,Open,High,Low,Close,Volume", us), "SPY")
    [problem] = caught.value.problems
    assert problem.where == f"{tmp_path / 'SPY.csv'}, line 2"
    assert problem.reason.startswith(f"unparsable date {us[0].split(',')[0]!r} (expected YYYY-MM-DD)")
    assert problem.reason.endswith(f"(and {len(us) - 1} more rows alike: lines 3-{len(us) + 1})")
    # A bad date on one row among good ones is still that row's own problem.
    one = [*ROWS[:3], us[3], *ROWS[4:]]
    with pytest.raises(SeriesRejected) as caught:
        read_csv(_file(tmp_path, "Date,Open,High,Low,Close,Volume", one), "SPY")
    [problem] = caught.value.problems
    assert problem.where.endswith("line 5") and "alike" not in problem.reason


def test_yfinances_download_of_several_tickers_is_refused_saying_so(tmp_path: Path) -> None:
    """`yfinance.download(["QQQ", "SPY"]).to_csv()` saved as SPY.csv was refused as 'Ticker 'QQQ' is not SPY, the file's
    symbol', though SPY's columns are there too: one file holds both, column by column (never read as either)."""
    body = [",".join([r.split(",")[0], *(r.split(",")[1:] * 2)]) for r in ROWS]
    head = "Price,Close,Close,High,High,Low,Low,Open,Open,Volume,Volume\nTicker,QQQ,SPY,QQQ,SPY,QQQ,SPY,QQQ,SPY,QQQ,SPY"
    with pytest.raises(SeriesRejected) as caught:
        read_csv(_file(tmp_path, f"{head}\nDate,,,,,,,,,,", body), "SPY")
    [problem] = caught.value.problems
    assert problem.kind is ProblemKind.WRONG_SYMBOL and problem.where == f"{tmp_path / 'SPY.csv'}, line 2"
    assert "Ticker row names QQQ and SPY: a download of several tickers in one file" in problem.reason, problem.reason
