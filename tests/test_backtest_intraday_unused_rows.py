"""A backtest on a CSV folder whose intraday files have rows on every session, but none a checkpoint in session can
be priced by: rows before the open only (a pre-market export), or in part of the session only. Each such checkpoint
prices the symbol at the session's open (market/csv_quotes.py: a row from before the open, or older than the staleness
limit, is not the price now), and the start said nothing: the sessions without rows were named, these were not, and
the leaderboard's note then called the symbol's fills at the close those of "a symbol with daily prices only", and
told the user to add the intraday files they had given. The start now names each such file and how many of its
checkpoints its rows price none of."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history
from tests.test_backtest_grown_prices import _run
from tests.test_backtest_intraday_resume import _intraday

CALENDAR = TradingCalendar()


def _rows(
    folder: Path, symbol: str, days: list[date], at: list[tuple[int, int]], opens: dict[date, float] | None = None
) -> None:
    """`opens`: each day's price (its daily open: a price in session far off the day's bar refuses the start)."""
    lines = ["Timestamp,Price"] + [
        f"{datetime.combine(day, time(h, m), NEW_YORK).isoformat()},{(opens or {}).get(day, 100.0)}"
        for day in days
        for h, m in at
    ]
    (folder / "intraday").mkdir(parents=True, exist_ok=True)
    (folder / "intraday" / f"{symbol}.csv").write_text("\n".join(lines) + "\n")


def test_the_start_names_intraday_files_whose_rows_price_no_checkpoint_in_session(
    database_url: str, tmp_path: Path
) -> None:
    bars = history(WEEK + timedelta(days=14))
    folder, name = tmp_path / "prices", _unique()
    _write(folder, bars)
    sessions = [d for d in (WEEK + timedelta(days=n) for n in range(7)) if CALENDAR.is_session(d)]
    _rows(folder, "TLT", sessions, [(8, 0), (9, 0), (9, 29)])  # before the open only
    opens = {b.day: b.open for b in bars["GLD"]}
    _rows(folder, "GLD", sessions, [(10, 0), (10, 30), (11, 0), (11, 30)], opens)  # the morning only: stale by 12:00
    _intraday(folder, "QQQ", [b for b in bars["QQQ"] if b.day in sessions])  # every 10 minutes: prices them all
    said: list[str] = []
    _run(database_url, tmp_path, name, folder, said)
    [note] = [t for t in said if t.startswith("intraday prices: ") and "within" in t]
    # 12:00, 14:00 and 15:50 of five sessions: the 09:00 checkpoint is before the open, priced by no intraday row.
    assert "intraday/GLD.csv, intraday/TLT.csv: no row of the session within 15 min before 15 of the 15 " in note, note
    assert f"({sessions[0]} 12:00, {sessions[0]} 14:00, {sessions[0]} 15:50 and 12 more)" in note, note
    assert "QQQ" not in note, note
    assert "at the session's open from its daily file (kind daily-open)" in note, note


def test_a_row_at_the_checkpoints_instant_or_within_the_limit_prices_it(tmp_path: Path) -> None:
    from llmtrade.market.csv_quotes import stale_notice  # here: the other test fails on its own assertion before

    folder = tmp_path / "prices"
    day = WEEK
    _rows(folder, "SPY", [day], [(11, 45), (14, 0)])
    found = {"SPY.csv": {day: "x"}}
    at = [datetime.combine(day, time(h, m), NEW_YORK) for h, m in ((12, 0), (14, 0), (15, 50))]
    note = stale_notice(folder, found, at, timedelta(minutes=15), CALENDAR)
    # 11:45's row is 15 minutes old at 12:00 (at the limit: used), 14:00's is the instant's own; 15:50's is stale.
    assert note is not None and "intraday/SPY.csv: no row of the session within 15 min before 1 of the 3 " in note
    assert f"({day} 15:50)" in note, note
    assert stale_notice(folder, found, at[:2], timedelta(minutes=15), CALENDAR) is None


def test_the_note_on_fills_at_the_close_does_not_say_daily_prices_only() -> None:
    """Such a fill's symbol may have an intraday file whose rows were stale then: the note told its user to add the
    intraday files they had given."""
    from llmtrade.app.board_notes import AT_CLOSE, fill_price_notes
    from llmtrade.domain.trading import Fill, Side

    at = datetime.combine(WEEK, time(16), NEW_YORK)
    fill = Fill(
        client_order_id="o",
        account_id="acct_1",
        symbol="TLT",
        side=Side.BUY,
        qty=1,
        price=1.0,
        filled_at=at,
        price_source=AT_CLOSE,
    )
    [note] = fill_price_notes([fill])
    assert "daily prices only" not in note, note
    assert "no intraday file, or no row of it in the session within the staleness limit" in note, note
