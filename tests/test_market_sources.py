"""Real feeds' misbehaviour meets the validator: CSV encodings, yfinance frames as Yahoo sends them,
Alpaca's missing sessions, the snapshot's honesty, and `llmtrade market bars` on a bad folder.

Shapes follow public reports: yfinance's duplicated last row and all-NaN twin rows
(ranaroussi/yfinance#573, #765), a latest session that is NaN or simply absent (#2925), stamps in a
zone other than New York's; CSV exports from Excel with a byte-order mark or in Latin-1.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.errors import MarketDataError
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.service import BarSeries
from llmtrade.market.snapshot import take_snapshot
from llmtrade.market.yfinance_data import YFinanceProvider
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.market_series import END, HEADER, SESSIONS, START, good_bars, market, rejections, rows, write

FIELDS = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]


def test_a_utf8_byte_order_mark_is_accepted(storage: Storage, tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "SPY.csv").write_text("\ufeff" + "\n".join([HEADER, *rows()]) + "\n", encoding="utf-8")
    series = market(storage, CsvFolderProvider(folder)).bars(["SPY"], START, END)
    assert [b.day for b in series.bars["SPY"]] == SESSIONS


def test_a_latin1_byte_is_refused_naming_the_file_and_line(storage: Storage, tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    lines = [HEADER + ",Note", *(line + "," for line in rows())]
    lines[3] += "caf\xe9"  # line 4, written the way a Windows-1252 spreadsheet saves it
    (folder / "SPY.csv").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    with pytest.raises(MarketDataError) as caught:
        market(storage, CsvFolderProvider(folder)).bars(["SPY"], START, END)
    message = str(caught.value)
    assert f"{folder / 'SPY.csv'}, line 4: SPY: byte 0xE9 is not UTF-8" in message
    assert "save it as UTF-8" in message
    [event] = rejections(storage)
    assert event["kind"] == "unreadable" and event["where"] == f"{folder / 'SPY.csv'}, line 4"


def _yahoo_frame(index: list, values: list[list[float]]) -> pandas.DataFrame:
    columns = pandas.MultiIndex.from_product([["SPY"], FIELDS])
    return pandas.DataFrame(values, index=pandas.DatetimeIndex(index, name="Date"), columns=columns)


def _yahoo_rows() -> tuple[list, list[list[float]]]:
    bars = good_bars()
    return [pandas.Timestamp(b.day) for b in bars], [[b.open, b.high, b.low, b.close, b.close, b.volume] for b in bars]


def _yahoo_case(case: str) -> pandas.DataFrame:
    index, values = _yahoo_rows()
    nan = float("nan")
    if case == "duplicated last row":  # ranaroussi/yfinance#573: same day twice, volumes differ: one bar, the later
        index, values = [*index, index[-1]], [*values, [*values[-1][:5], values[-1][5] + 1000]]
    elif case == "last row twice, priced apart":  # no Yahoo twin: refused as any duplicate
        index, values = [*index, index[-1]], [*values, [v * 1.05 for v in values[-1][:5]] + [values[-1][5]]]
    elif case == "NaN twin of a row":  # #765: an all-NaN row next to the real one: "no bar", harmless
        index, values = [*index[:-1], index[-1], index[-1]], [*values[:-1], [nan] * 6, values[-1]]
    elif case == "latest session all NaN":  # #2925
        values = [*values[:-1], [nan] * 6]
    elif case == "a middle session absent":  # #2925: "no NaNs, no line at all"
        del index[5], values[5]
    elif case == "close NaN only":
        values[7] = [*values[7][:3], nan, nan, values[7][5]]
    elif case == "volume NaN":
        values[7] = [*values[7][:5], nan]
    elif case == "dates shifted a day back":  # a timezone slip puts Monday's bar on Sunday
        index = [stamp - pandas.Timedelta(days=1) for stamp in index]
    elif case == "stamps in another zone":  # New York midnight is 21:00 the day before in Los Angeles
        index = [stamp.tz_localize("America/New_York").tz_convert("America/Los_Angeles") for stamp in index]
    return _yahoo_frame(index, values)


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        ("duplicated last row", None),
        ("last row twice, priced apart", "duplicate"),
        ("NaN twin of a row", None),
        ("latest session all NaN", "stale"),
        ("a middle session absent", "untraded"),  # long ago: a session without a trade, asked of the next provider
        ("close NaN only", "bad_price"),
        ("volume NaN", "bad_volume"),
        ("dates shifted a day back", "not_a_session"),
        ("stamps in another zone", None),
    ],
)
def test_yfinance_frames_as_yahoo_sends_them(
    storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, kind: str | None
) -> None:
    import yfinance

    monkeypatch.setattr(yfinance, "download", lambda *a, **k: _yahoo_case(case))
    write(tmp_path / "csv", "SPY", rows())
    series = market(storage, YFinanceProvider(), CsvFolderProvider(tmp_path / "csv")).bars(["SPY"], START, END)
    assert [b.day for b in series.bars["SPY"]] == SESSIONS
    if kind is None:
        assert series.provider == "yfinance" and rejections(storage) == []
    elif kind == "untraded":  # market/untraded.py: no hole to refuse, the next provider has it whole
        assert series.provider == "csv" and rejections(storage) == []
        [failed] = [e.payload for e in storage.events.read(type="MarketProviderFailed")]
        assert failed["provider"] == "yfinance" and "has not sent one in 7 days" in failed["error"]
    else:
        assert series.provider == "csv"
        assert kind in [e["kind"] for e in rejections(storage) if e["provider"] == "yfinance"]


def test_an_alpaca_series_missing_a_session_falls_back_to_the_next_provider(storage: Storage, tmp_path: Path) -> None:
    # Illiquid symbols on the free iex feed have days without a trade, so without a bar.
    write(tmp_path / "csv", "SPY", rows())
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=7) as server:
        server.add_bars("SPY", [b for b in good_bars() if b.day != date(2025, 12, 17)])
        alpaca = AlpacaBarProvider("k", "s", url_override=server.base_url, timeout_seconds=2, retry_attempts=0)
        series = market(storage, alpaca, CsvFolderProvider(tmp_path / "csv")).bars(["SPY"], START, END)
    assert series.provider == "csv"
    # No hole in the data (market/untraded.py): a day the iex feed saw no trade of SPY in, said as such.
    assert not rejections(storage)
    [event] = [e.payload for e in storage.events.read(type="MarketProviderFailed")]
    assert event["provider"] == "alpaca" and "SPY on 2025-12-17" in event["error"] and "IEX" in event["error"]


ASOF = datetime(2026, 1, 8, 17, 0, tzinfo=UTC)  # Thursday noon in New York: last session Wednesday 7th


def test_the_snapshot_never_reports_a_session_whose_bar_is_missing(storage: Storage, tmp_path: Path) -> None:
    lines = [line for line in rows() if not line.startswith("2026-01-07")]
    write(tmp_path / "csv", "SPY", lines)
    with pytest.raises(MarketDataError, match=r"SPY: stale: the last bar is 2026-01-06 .* 2026-01-07"):
        take_snapshot(market(storage, CsvFolderProvider(tmp_path / "csv")), ["SPY"], ASOF)
    write(tmp_path / "csv", "SPY", rows())
    snapshot = take_snapshot(market(storage, CsvFolderProvider(tmp_path / "csv")), ["SPY"], ASOF)
    spy = snapshot.indicators["SPY"]
    closes = [b.close for b in good_bars() if b.day <= date(2026, 1, 7)]
    assert snapshot.session == spy.asof_day == date(2026, 1, 7) and spy.close == closes[-1]
    assert spy.return_4w == pytest.approx(closes[-1] / closes[-21] - 1)


def test_the_snapshot_refuses_a_gapped_series_whatever_hands_it_over(
    storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = market(storage, CsvFolderProvider(tmp_path / "csv"))
    gapped = [b for b in good_bars() if b.day <= date(2026, 1, 7) and b.day != date(2025, 12, 22)]
    series = BarSeries({"SPY": gapped}, "stand-in", False, False, START, date(2026, 1, 7))
    monkeypatch.setattr(service, "bars_asof", lambda *a, **k: series)
    with pytest.raises(MarketDataError, match=r"snapshot .* refused: SPY: missing 1 NYSE session\(s\).*2025-12-22"):
        take_snapshot(service, ["SPY"], ASOF)


runner = CliRunner()


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("latest session missing", ["SPY.csv: SPY: stale", "2026-01-07"]),
        ("middle session missing", ["SPY.csv, lines ", ": SPY: missing 1 NYSE session between", "2026-01-05"]),
        ("Latin-1 byte", ["SPY.csv, line 2: SPY: byte 0xE9 is not UTF-8", "save it as UTF-8"]),
    ],
)
def test_market_bars_on_a_bad_folder_exits_clearly_and_shows_the_full_range_once_fixed(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, broken: str, expected: list[str]
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T12:00:00-05:00")
    folder = tmp_path / "csv"
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(folder))
    if broken == "latest session missing":
        write(folder, "SPY", [line for line in rows() if not line.startswith("2026-01-07")])
    elif broken == "middle session missing":
        write(folder, "SPY", [line for line in rows() if not line.startswith("2026-01-05")])
    else:
        folder.mkdir()
        (folder / "SPY.csv").write_bytes(
            ("Date,Open,High,Low,Close,Volume,Note\n2026-01-05,1,2,0.5,1,10,\xe9\n").encode("latin-1")
        )
    result = runner.invoke(app, ["market", "bars", "SPY", "--offline"])
    # A file that cannot be read as prices, or misses a session between two rows, is the configured folder's to mend
    # (exit 2); one that stops early is the data's (exit 1: a feed not written yet, a symbol that stopped trading).
    assert result.exit_code == (1 if broken == "latest session missing" else 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.stderr, result.stderr
    write(folder, "SPY", rows())
    fixed = runner.invoke(app, ["market", "bars", "SPY", "--offline"])
    assert fixed.exit_code == 0, fixed.output
    shown = [line.split("\t")[0] for line in fixed.stdout.splitlines() if line.startswith("202")]
    assert shown == [d.isoformat() for d in SESSIONS if d <= date(2026, 1, 7)][-10:]


@pytest.mark.parametrize(("second_close", "rejected"), [(None, False), (1.0, True)])
def test_alpaca_sending_one_date_twice_is_one_bar_or_a_rejection(
    storage: Storage, tmp_path: Path, second_close: float | None, rejected: bool
) -> None:
    # Two stamps on the same New York date (midnight, and mid-session as some feeds stamp): the
    # same bar twice is harmless; two different bars for one session cannot both be true.
    write(tmp_path / "csv", "SPY", rows())
    bars = good_bars()
    twin = next(b for b in bars if b.day == date(2026, 1, 6))
    close = twin.close if second_close is None else twin.low
    extra = {"t": "2026-01-06T15:00:00Z", "o": twin.open, "h": twin.high, "l": twin.low, "c": close, "v": twin.volume}
    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=50) as server:
        server.add_bars("SPY", [*bars, extra])
        alpaca = AlpacaBarProvider("k", "s", url_override=server.base_url, timeout_seconds=2, retry_attempts=0)
        series = market(storage, alpaca, CsvFolderProvider(tmp_path / "csv")).bars(["SPY"], START, END)
    assert [b.day for b in series.bars["SPY"]] == SESSIONS
    assert series.provider == ("csv" if rejected else "alpaca")
    assert [(e["kind"], e["days"]) for e in rejections(storage)] == (
        [("duplicate", ["2026-01-06"])] if rejected else []
    )


def test_a_file_whose_ticker_column_names_another_symbol_is_refused(storage: Storage, tmp_path: Path) -> None:
    # SPY's file copied as QQQ.csv: without the check the backtest would trade QQQ on SPY's prices, silently.
    folder = tmp_path / "csv"
    path = write(folder, "QQQ", rows("SPY"))
    with pytest.raises(MarketDataError) as caught:
        market(storage, CsvFolderProvider(folder)).bars(["QQQ"], START, END)
    message = str(caught.value)
    assert f"{path}, line 2: QQQ: {SESSIONS[0]}: Ticker 'SPY' is not QQQ, the file's symbol" in message
    assert "keep one symbol's bars in each file, named after it" in message
    [event] = rejections(storage)
    assert event["kind"] == "wrong_symbol"


def test_a_ticker_spelled_another_vendors_way_or_blank_is_the_files_own(storage: Storage, tmp_path: Path) -> None:
    # BRK.B in Yahoo's spelling is BRK-B; a lower-case or blank cell names no other symbol either.
    folder = tmp_path / "csv"
    spelled = ["brk.b" if i % 3 == 0 else "" if i % 3 == 1 else "BRK/B" for i in range(len(SESSIONS))]
    lines = [line.replace(",SPY,", f",{cell},", 1) for line, cell in zip(rows("SPY"), spelled, strict=True)]
    write(folder, "BRK-B", lines)
    series = market(storage, CsvFolderProvider(folder)).bars(["BRK-B"], START, END)
    assert [b.day for b in series.bars["BRK-B"]] == SESSIONS
