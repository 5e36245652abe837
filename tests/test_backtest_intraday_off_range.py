"""An intraday file's price in session far outside that session's own daily bar (its low to its high in SYMBOL.csv):
a misplaced decimal (47.0 for 470.0) or another symbol's price. A backtest took it as the price then: a trial's SPY row
of 47.0 at 11:55 made a checkpoint sell at 46.98 shares bought at 474, a 9% loss in two accounts, and nothing said so
(the daily files' bad rows are refused or flagged at the start; a backtest looks at no quote as live's bad-print rule
does). Such a row is now refused at the start (exit 2), naming the file, its line, the price and the day's range, as
a daily bar whose close lies outside its own low-high is; rows before the open or after the close (pre-market,
after-hours: no job in session reads them) and prices a little outside the bar (a feed's own prints) are not."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.config.loader import load_config
from llmtrade.domain.market import Bar
from llmtrade.errors import LlmtradeError
from llmtrade.exits import classify
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.settings import Settings
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history
from tests.test_backtest_intraday_resume import _intraday

CALENDAR = TradingCalendar()


def _bar(day: object, low: float, high: float) -> Bar:
    return Bar(symbol="GLD", day=day, open=low, high=high, low=low, close=high, volume=1, source="csv")  # type: ignore[arg-type]


def test_a_backtest_refuses_an_intraday_price_far_outside_its_sessions_daily_range(
    database_url: str, tmp_path: Path
) -> None:
    bars = history(WEEK + timedelta(days=14))
    folder = tmp_path / "prices"
    _write(folder, bars)
    _intraday(folder, "GLD", [b for b in bars["GLD"] if b.day >= WEEK])
    path = folder / "intraday" / "GLD.csv"
    lines = path.read_text().splitlines()
    day = next(b for b in bars["GLD"] if b.day == WEEK)
    stamp, price = lines[10].split(",")  # WEEK 11:10, in session
    lines[10] = f"{stamp},{float(price) / 10:.4f}"  # a misplaced decimal
    path.write_text("\n".join(lines) + "\n")
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=_unique(), first=WEEK, last=WEEK, offline=True, replay=False, csv=folder)
    with pytest.raises(LlmtradeError) as caught:
        backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    failure = classify(caught.value)
    assert failure is not None and failure.code == 2, failure
    message = failure.message
    assert f"{path}, line 11: " in message, message
    assert f"GLD at {stamp} is {float(price) / 10:g}" in message, message
    assert f"outside {WEEK}'s low-high in GLD.csv ({day.low:.2f} to {day.high:.2f})" in message, message
    assert "Fix the row (a misplaced decimal, another symbol's price)" in message, message


def test_rows_outside_the_session_or_a_little_off_its_range_pass(tmp_path: Path) -> None:
    from llmtrade.market.csv_quotes import off_range_rows  # here: the test above fails on its own assertion before

    folder = tmp_path / "prices"
    (folder / "intraday").mkdir(parents=True)
    at = [
        (time(8, 0), 150.0),  # pre-market: no job in session reads it
        (time(10, 0), 100.5),  # inside the bar
        (time(12, 0), 99.5),  # 0.5% under the low: a feed's own print
        (time(15, 0), 101.5),  # 0.5% over the high
        (time(17, 0), 50.0),  # after-hours
    ]
    rows = [f"{datetime.combine(WEEK, t, NEW_YORK).isoformat()},{p}" for t, p in at]
    (folder / "intraday" / "GLD.csv").write_text("\n".join(["Timestamp,Price", *rows]) + "\n")
    assert off_range_rows(folder, {"GLD": [_bar(WEEK, 100.0, 101.0)]}, [WEEK], CALENDAR) is None
    # the same file read for a session it has no row of, or for a symbol without a file, says nothing either
    assert off_range_rows(folder, {"GLD": [_bar(WEEK, 100.0, 101.0)]}, [WEEK + timedelta(days=1)], CALENDAR) is None
    assert off_range_rows(folder, {"TLT": [_bar(WEEK, 100.0, 101.0)]}, [WEEK], CALENDAR) is None
    # 5% over the high is no feed's print: refused, with the count of the rows alike
    rows[2] = f"{datetime.combine(WEEK, time(12, 0), NEW_YORK).isoformat()},106.0"
    rows[3] = f"{datetime.combine(WEEK, time(15, 0), NEW_YORK).isoformat()},10.1"
    (folder / "intraday" / "GLD.csv").write_text("\n".join(["Timestamp,Price", *rows]) + "\n")
    refused = off_range_rows(folder, {"GLD": [_bar(WEEK, 100.0, 101.0)]}, [WEEK], CALENDAR)
    assert refused is not None
    assert "intraday/GLD.csv, line 4: GLD at " in str(refused), refused
    assert "(and 1 more row alike: line 5)" in str(refused), refused
    # Two of its three rows in session off: no bad print, but files on two bases (an adjusted daily Close beside
    # unadjusted intraday prices), which no fix of a row mends.
    assert "Most of its rows in session are off (2 of 3): the two files are likely on different bases" in str(refused)
    assert "Fix the row" not in str(refused)


def test_a_candidates_intraday_price_far_off_its_day_leaves_that_candidate_out(
    database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """In watchlist mode a discovery candidate is traded, and a checkpoint prices a held one from its intraday file as
    it prices a universe symbol: the universe's files were looked at, the candidates' not. Such a candidate is left
    out, said once with the row, as a candidate whose daily file cannot be used is (test_backtest_discovery.py)."""
    import uuid

    from llmtrade.market.synthetic import SyntheticMarket, candidate_classes
    from llmtrade.storage.database import backtest_database
    from tests.test_backtest_discovery import _config, _events, _url

    bars = history(WEEK + timedelta(days=17))
    extra = SyntheticMarket({"SPY": "equity"}, seed=11, extra=candidate_classes())
    first, last = min(b.day for b in bars["SPY"]), max(b.day for b in bars["SPY"])
    more = extra.daily_bars(["XLE", "XLK"], first, last)
    folder, name = tmp_path / "prices", f"t{uuid.uuid4().hex[:10]}"
    _write(folder, {**bars, **more})
    _intraday(folder, "XLK", [b for b in more["XLK"] if b.day >= WEEK])
    path = folder / "intraday" / "XLK.csv"
    lines = path.read_text().splitlines()
    stamp, price = lines[10].split(",")
    lines[10] = f"{stamp},{float(price) * 10:.4f}"
    path.write_text("\n".join(lines) + "\n")
    warned: list[str] = []
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=name, first=WEEK, last=WEEK + timedelta(days=7), offline=True, replay=False, csv=folder)
    config = _config(tmp_path / "config", universe_mode="watchlist")
    backtest(settings, load_config(config), config, spec, say=lambda _t: None, warn=warned.append)
    about = [w for w in warned if w.startswith("backtest discovery")]
    assert len(about) == 1, about
    assert about[0].startswith(
        f"backtest discovery leaves out XLK (the other candidates are judged): {path}, line 11: XLK at {stamp} is "
    ), about
    judged = {
        s["symbol"]
        for _, payload in _events(_url(pg_admin_url, backtest_database(name)), "SuggestionsMade")
        for s in payload["suggestions"]
    }
    assert "XLE" in judged and "XLK" not in judged
