"""Daily bars from a folder of CSV files, one per symbol (`SPY.csv`: Date,Open,High,Low,Close,Volume).

Extra columns are ignored. A malformed file is an error naming the file and line, never a silent
skip: a missing row would quietly shift every indicator computed from it.
"""

from __future__ import annotations

import csv
import itertools
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataError, MarketDataUnavailable

REQUIRED = ("Date", "Open", "High", "Low", "Close", "Volume")


class CsvFolderProvider:
    name = "csv"
    synthetic = False

    def __init__(self, folder: Path):
        self.folder = folder

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        if not self.folder.is_dir():
            raise MarketDataUnavailable(f"csv folder {self.folder} does not exist")
        missing = [s for s in symbols if not (self.folder / f"{s}.csv").is_file()]
        if missing:
            raise MarketDataUnavailable(f"csv folder {self.folder} has no file for {', '.join(missing)}")
        return {s: [b for b in read_csv(self.folder / f"{s}.csv", s) if start <= b.day <= end] for s in symbols}


def read_csv(path: Path, symbol: str) -> list[Bar]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        absent = [c for c in REQUIRED if c not in columns]
        if absent:
            raise MarketDataError(f"{path}, line 1: missing column(s) {', '.join(absent)} (has {', '.join(columns)})")
        bars: list[Bar] = []
        for line, row in enumerate(reader, start=2):
            bars.append(_bar(path, line, symbol, row))
    for line, (before, after) in enumerate(itertools.pairwise(bars), start=3):
        if after.day <= before.day:
            raise MarketDataError(f"{path}, line {line}: date {after.day} does not come after {before.day}")
    return bars


def _bar(path: Path, line: int, symbol: str, row: dict[str, str]) -> Bar:
    try:
        day = date.fromisoformat(row["Date"].strip()[:10])
    except ValueError:
        raise MarketDataError(f"{path}, line {line}: unparsable date {row['Date']!r} (expected YYYY-MM-DD)") from None
    values: dict[str, float] = {}
    for column in REQUIRED[1:]:
        text = (row.get(column) or "").strip()
        try:
            values[column] = float(text)
        except ValueError:
            raise MarketDataError(f"{path}, line {line}: {column} {text!r} is not a number") from None
        if values[column] < 0 or (column != "Volume" and values[column] == 0):
            raise MarketDataError(f"{path}, line {line}: {column} {text} is not a positive price")
    try:
        return Bar(
            symbol=symbol,
            day=day,
            open=values["Open"],
            high=values["High"],
            low=values["Low"],
            close=values["Close"],
            volume=values["Volume"],
            source="csv",
        )
    except ValidationError as exc:
        problem = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise MarketDataError(f"{path}, line {line}: {problem}") from None
