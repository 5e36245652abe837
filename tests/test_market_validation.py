"""Market data is validated before it is cached or used: every kind of bad series, through the real
MarketData, the real CSV folder provider and the real embedded PostgreSQL bar cache.

A rejected answer is never cached, is recorded as MarketDataRejected (provider, symbol, dates, kind,
reason, file and line where there is one), and makes the next provider answer; with none left the
error names every failure and is operational (exit 1).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path

import pytest

from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataError
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.validation import ProblemKind, validate_series
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.market_series import END, HEADER, SESSIONS, START, good_bars, market, rejections, rows, write


def row_of(day: date) -> int:
    return SESSIONS.index(day)


def replace_field(line: str, column: str, value: str) -> str:
    fields = line.split(",")
    fields[HEADER.split(",").index(column)] = value
    return ",".join(fields)


def _without(*days: date) -> list[str]:
    return [line for line, day in zip(rows(), SESSIONS, strict=True) if day not in days]


def _edit(day: date, column: str, value: str) -> list[str]:
    lines = rows()
    lines[row_of(day)] = replace_field(lines[row_of(day)], column, value)
    return lines


def _duplicate(day: date) -> list[str]:
    lines = rows()
    return [*lines[: row_of(day) + 1], lines[row_of(day)], *lines[row_of(day) + 1 :]]


def _swapped(a: date, b: date) -> list[str]:
    lines = rows()
    lines[row_of(a)], lines[row_of(b)] = lines[row_of(b)], lines[row_of(a)]
    return lines


def _high_below_low(day: date) -> list[str]:
    lines = rows()
    fields = lines[row_of(day)].split(",")
    fields[3], fields[4] = fields[4], fields[3]  # high and low swapped
    lines[row_of(day)] = ",".join(fields)
    return lines


TWENTY_GONE = SESSIONS[3:23]
LINE = {day: row_of(day) + 2 for day in SESSIONS}  # the header is line 1

# (case, rows, kind, dates the event names, text the message must carry)
BAD_FOLDERS = [
    ("missing latest session", _without(END), "stale", [END], ["2026-01-09", "stale"]),
    (
        "missing middle session",
        _without(date(2026, 1, 6)),
        "missing_session",
        [date(2026, 1, 6)],
        [
            f"lines {LINE[date(2026, 1, 5)]}-{LINE[date(2026, 1, 5)] + 1}",
            "missing 1 NYSE session between",
            "2026-01-06",
        ],
    ),
    ("20 missing sessions", _without(*TWENTY_GONE), "missing_session", TWENTY_GONE, ["missing 20", "and 15 more"]),
    (
        "duplicate date",
        _duplicate(date(2026, 1, 5)),
        "duplicate",
        [date(2026, 1, 5)],
        [f"line {LINE[date(2026, 1, 5)] + 1}", "2026-01-05 appears again", "keep one row per date"],
    ),
    (
        "unordered dates",
        _swapped(date(2026, 1, 5), date(2026, 1, 6)),
        "unordered",
        [date(2026, 1, 5)],
        [f"line {LINE[date(2026, 1, 6)]}", "does not come after", "sort the rows"],
    ),
    (
        "NaN price",
        _edit(date(2026, 1, 7), "Close", "nan"),
        "bad_price",
        [date(2026, 1, 7)],
        [f"line {LINE[date(2026, 1, 7)]}", "Close 'nan' is not a finite number"],
    ),
    (
        "empty price",
        _edit(date(2026, 1, 7), "Open", ""),
        "bad_price",
        [date(2026, 1, 7)],
        ["Open '' is not a number"],
    ),
    ("zero price", _edit(date(2026, 1, 7), "Low", "0"), "bad_price", [date(2026, 1, 7)], ["Low 0 is not a positive"]),
    (
        "negative price",
        _edit(date(2026, 1, 7), "Close", "-3"),
        "bad_price",
        [date(2026, 1, 7)],
        ["Close -3 is not a positive"],
    ),
    (
        "NaN volume",
        _edit(date(2026, 1, 8), "Volume", "NaN"),
        "bad_volume",
        [date(2026, 1, 8)],
        ["Volume 'NaN' is not a finite number"],
    ),
    (
        "high below low",
        _high_below_low(date(2026, 1, 8)),
        "inconsistent",
        [date(2026, 1, 8)],
        [f"line {LINE[date(2026, 1, 8)]}", "inconsistent bar"],
    ),
    (
        "a bar on a Saturday",
        sorted([*rows(), replace_field(rows()[0], "Date", "2026-01-03")]),
        "not_a_session",
        [date(2026, 1, 3)],
        [f"line {LINE[date(2026, 1, 5)]}", "2026-01-03 (Saturday) is not an NYSE session"],
    ),
]


@pytest.mark.parametrize(("case", "lines", "kind", "days", "texts"), BAD_FOLDERS, ids=[c[0] for c in BAD_FOLDERS])
def test_a_bad_csv_folder_is_refused_recorded_and_not_cached(
    storage: Storage, tmp_path: Path, case: str, lines: list[str], kind: str, days: list[date], texts: list[str]
) -> None:
    path = write(tmp_path / "csv", "SPY", lines)
    with pytest.raises(MarketDataError) as caught:
        market(storage, CsvFolderProvider(tmp_path / "csv")).bars(["SPY"], START, END)
    message = str(caught.value)
    # What the file holds wrong is the configured folder's to mend (exit 2, failures.py PriceFilesMisconfigured): a row
    # it cannot read, a date twice, a session missing between two rows, a row on a closed day alike (a gap exited 1
    # beside a duplicate's 2); a file that stops early is the data's (a feed not written yet, a symbol that stopped).
    assert caught.value.exit_code == (1 if kind == "stale" else 2)
    assert str(path) in message and "SPY" in message
    for text in texts:
        assert text in message, message
    [event] = rejections(storage)
    assert (event["provider"], event["symbol"], event["kind"]) == ("csv", "SPY", kind)
    assert event["days"] == [d.isoformat() for d in days]
    assert str(path) in event["where"]
    cache = BarCache(storage.conn)
    assert not cache.covers(["SPY"], START, END, synthetic=False)
    assert cache.read(["SPY"], START, END, synthetic=False) == {"SPY": []}


def test_a_corrected_folder_is_read_afresh_and_then_served_from_the_cache(storage: Storage, tmp_path: Path) -> None:
    write(tmp_path / "csv", "SPY", _without(END))
    service = market(storage, CsvFolderProvider(tmp_path / "csv"))
    with pytest.raises(MarketDataError, match="stale"):
        service.bars(["SPY"], START, END)
    write(tmp_path / "csv", "SPY", rows())
    fixed = service.bars(["SPY"], START, END)
    assert not fixed.from_cache and [b.day for b in fixed.bars["SPY"]] == SESSIONS
    again = service.bars(["SPY"], START, END)
    assert again.from_cache and again.bars == fixed.bars


def test_a_range_cached_with_a_hole_before_validation_existed_is_refetched(storage: Storage, tmp_path: Path) -> None:
    # What an older llmtrade stored: the range recorded as covered, one session missing from it.
    real = [b for b in good_bars(source="csv") if b.day != date(2026, 1, 6)]
    BarCache(storage.conn).store({"SPY": real}, START, END, provider="csv", synthetic=False)
    write(tmp_path / "csv", "SPY", rows())
    series = market(storage, CsvFolderProvider(tmp_path / "csv")).bars(["SPY"], START, END)
    assert not series.from_cache and [b.day for b in series.bars["SPY"]] == SESSIONS
    [event] = rejections(storage)
    assert (event["provider"], event["kind"], event["days"]) == ("cache", "missing_session", ["2026-01-06"])
    assert [e.type for e in storage.events.read(run_id="r1")] == ["MarketDataRejected", "MarketDataFetched"]


class Feed:
    """A provider answering exactly the bars it is given, built without validation (as a careless
    provider might), so the service's validator is the only gate."""

    synthetic = False

    def __init__(self, name: str, bars: list[Bar]):
        self.name = name
        self.bars = bars
        self.calls = 0

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        self.calls += 1
        return {s: [b for b in self.bars if b.symbol == s] for s in symbols}

    def origin(self, symbol: str) -> None:
        return None

    def incomplete(self, close: datetime) -> None:
        return None


def _broken(day: date, **fields: float) -> list[Bar]:
    out = []
    for bar in good_bars():
        if bar.day == day:
            bar = Bar.model_construct(**{**bar.model_dump(), **fields})
        out.append(bar)
    return out


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"close": math.nan}, ProblemKind.BAD_PRICE),
        ({"open": math.inf, "high": math.inf}, ProblemKind.BAD_PRICE),
        ({"low": 0.0}, ProblemKind.BAD_PRICE),
        ({"close": -1.0}, ProblemKind.BAD_PRICE),
        ({"volume": math.nan}, ProblemKind.BAD_VOLUME),
        ({"volume": -5.0}, ProblemKind.BAD_VOLUME),
        ({"high": 1.0, "low": 2.0, "open": 1.5, "close": 1.5}, ProblemKind.INCONSISTENT),
        ({"close": 10_000.0}, ProblemKind.INCONSISTENT),  # close above the high
    ],
)
def test_the_validator_refuses_bad_values_even_when_a_provider_skipped_the_bar_model(
    storage: Storage, tmp_path: Path, fields: dict[str, float], kind: ProblemKind
) -> None:
    day = date(2026, 1, 7)
    write(tmp_path / "csv", "SPY", rows())
    first = Feed("alpaca", _broken(day, **fields))
    series = market(storage, first, CsvFolderProvider(tmp_path / "csv")).bars(["SPY"], START, END)
    assert series.provider == "csv" and [b.day for b in series.bars["SPY"]] == SESSIONS
    assert all(math.isfinite(b.close) for b in series.bars["SPY"])
    [event] = rejections(storage)
    assert (event["provider"], event["symbol"], event["kind"], event["days"]) == ("alpaca", "SPY", kind, ["2026-01-07"])


def test_first_provider_rejected_second_used_and_every_step_recorded(storage: Storage, tmp_path: Path) -> None:
    write(tmp_path / "csv", "SPY", rows())
    gappy = Feed("alpaca", [b for b in good_bars() if b.day != date(2025, 12, 10)])
    service = market(storage, gappy, CsvFolderProvider(tmp_path / "csv"))
    series = service.bars(["SPY"], START, END)
    assert series.provider == "csv" and [b.day for b in series.bars["SPY"]] == SESSIONS
    assert [e.type for e in storage.events.read(run_id="r1")] == ["MarketDataRejected", "MarketDataFetched"]
    [event] = rejections(storage)
    assert (event["provider"], event["symbol"], event["kind"]) == ("alpaca", "SPY", "missing_session")
    assert event["days"] == ["2025-12-10"] and event["where"] is None
    assert (event["symbols"], event["start"], event["end"]) == (["SPY"], "2025-12-01", "2026-01-09")
    # The valid answer is now cached; the rejected provider is not asked again for the range.
    assert service.bars(["SPY"], START, END).from_cache and gappy.calls == 1


def test_when_every_provider_is_rejected_the_error_names_each_and_is_operational(
    storage: Storage, tmp_path: Path
) -> None:
    write(tmp_path / "csv", "SPY", _without(END))  # the file stops early too: the data's, not the file's (exit 1)
    stale = Feed("alpaca", [b for b in good_bars() if b.day != END])
    with pytest.raises(MarketDataError) as caught:
        market(storage, stale, CsvFolderProvider(tmp_path / "csv")).bars(["SPY"], START, END)
    message = str(caught.value)
    assert type(caught.value) is MarketDataError and caught.value.exit_code == 1
    # Each provider's reason first (the file and line a user must fix), the summary last.
    assert message.startswith("alpaca: SPY: stale: the last bar is 2026-01-08")
    assert message.endswith("(so no market data provider could supply SPY for 2025-12-01..2026-01-09)")
    assert "alpaca: SPY: stale: the last bar is 2026-01-08" in message
    assert f"csv: {tmp_path / 'csv' / 'SPY.csv'}: SPY: stale: the last bar is 2026-01-08" in message
    assert [e["provider"] for e in rejections(storage)] == ["alpaca", "csv"]


def test_history_that_starts_later_than_asked_is_short_not_broken() -> None:
    later = SESSIONS[10:]
    bars = [b for b in good_bars() if b.day in later]
    assert validate_series("SPY", bars, SESSIONS) == []
    assert [p.kind for p in validate_series("SPY", bars[:-1], SESSIONS)] == [ProblemKind.STALE]
