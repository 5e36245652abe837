"""The look-ahead audit of a week's checkpoints (app/backtest_audit.py `dry_run_checkpoint`): each checkpoint of an
audited week is rerun, just before the real one, as a dry run in a market cut at its instant (every bar of the sessions
closed by then, of the session open then its open alone, no intraday price stamped after it), and must ask the same
prompts and reach the same decisions. The audit covered the weekly runs only, and said so; a checkpoint could read its
session's close or a later intraday price and every audit passed."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.backtest_audit import wall
from llmtrade.app.backtest_market import CutoffProvider
from llmtrade.app.evaluation_results import BacktestResult
from llmtrade.config.loader import load_config
from llmtrade.domain.market import Bar, Quote
from llmtrade.errors import OperationalError
from llmtrade.market import csv_quotes
from llmtrade.market.calendar import NEW_YORK, TradingCalendar, new_york_date
from llmtrade.market.csv_quotes import CsvQuotes
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database
from tests.test_backtest import _unique, _url, without_audit
from tests.test_backtest_bad_start import WEEK, _write, history
from tests.test_backtest_intraday_resume import _intraday

CALENDAR = TradingCalendar()
LAST_DAY = WEEK + timedelta(days=6)  # the week's last session (Tuesday)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NEW_YORK)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Daily files of the universe and SPY through the week after WEEK's."""
    prices = tmp_path / "prices"
    _write(prices, history(WEEK + timedelta(days=14)))
    return prices


def _audited(
    database_url: str, home: Path, folder: Path, name: str, *, last: date = WEEK, audit: int = 1
) -> BacktestResult:
    """An offline backtest from WEEK to `last` on the CSV `folder`, `audit` weeks audited."""
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(home))
    spec = BacktestSpec(name=name, first=WEEK, last=last, offline=True, replay=False, csv=folder, audit=audit)
    return backtest(settings, load_config(None), None, spec, say=lambda _t: None)


def _backtest_stream(admin_url: str, name: str) -> list[tuple[str, dict[str, Any]]]:
    with psycopg.connect(_url(admin_url, backtest_database(name))) as conn:
        rows = conn.execute("SELECT type, payload FROM events WHERE stream = 'backtest' ORDER BY id").fetchall()
    return [(kind, payload) for kind, payload in rows]


def test_every_checkpoint_of_an_audited_week_is_rerun_cut_at_its_instant_and_passes(
    folder: Path, database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    _intraday(folder, "GLD", [b for b in history(LAST_DAY)["GLD"] if b.day >= WEEK])  # one symbol priced by its file
    name = _unique()
    result = _audited(database_url, tmp_path, folder, name)
    checkpoints = result.jobs["checkpoint"]
    assert checkpoints == 20  # four a session, five sessions
    [week] = result.audit
    assert (week.week_id, week.passed, week.checkpoints) == (WEEK, True, checkpoints)
    kinds = [kind for kind, _ in _backtest_stream(pg_admin_url, name)]
    # The weekly run's verdict when it ran, the checkpoints' once the week's jobs are done, before the week is.
    assert kinds.index("LookaheadAuditPassed") < kinds.index("CheckpointsAuditPassed") < kinds.index("BacktestWeekDone")
    [passed] = [p for kind, p in _backtest_stream(pg_admin_url, name) if kind == "CheckpointsAuditPassed"]
    assert passed["week_id"] == str(WEEK) and passed["checkpoints"] == checkpoints
    assert passed["calls"] > 0  # the checkpoints asked their owners: there was something to compare
    # The dry runs left nothing in the books but the verdicts: the same events as the week run unaudited (a dry run
    # in session caching "no close yet" for the broker's fill at the close would have expired its orders).
    unaudited = _unique()
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    spec = BacktestSpec(name=unaudited, first=WEEK, last=WEEK, offline=True, replay=False, csv=folder)
    plain = backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    # The audit's seconds are its own kind in the timing, and no such kind in an unaudited run's.
    assert result.timing.by_kind["audit"] > 0 and "audit" not in plain.timing.by_kind, plain.timing.by_kind
    books = [without_audit(_url(pg_admin_url, backtest_database(n))) for n in (name, unaudited)]
    assert books[0] == books[1]
    assert any('"daily close"' in row for row in books[0])  # fills at the close were among them


def _failed(database_url: str, pg_admin_url: str, home: Path, folder: Path) -> dict[str, Any]:
    """The audited week's backtest stops at its first checkpoint in session (exit 1), the failure recorded naming it."""
    name = _unique()
    with pytest.raises(OperationalError) as caught:
        _audited(database_url, home, folder, name)
    message = str(caught.value)
    assert message.startswith(f"look-ahead audit failed for week {WEEK}: checkpoint {WEEK} 12:00: "), message
    assert "read data after the checkpoint's instant" in message
    [leak] = [p for kind, p in _backtest_stream(pg_admin_url, name) if kind == "LookaheadAuditFailed"]
    assert leak["role"].startswith(f"checkpoint {WEEK} 12:00: ") and leak["real"] != leak["audited"]
    return leak


def price_at_the_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """A leak planted in the CSV quotes: a daily-only symbol priced in session at the session's close to come (the leak
    f7e16e17 removed), read through the provider's own daily reader, so the audit's wall (its cut) sees the open."""
    opening = CsvQuotes._opening

    def at_the_close(self: CsvQuotes, symbols: list[str], now: datetime) -> dict[str, Quote]:
        day = new_york_date(now)
        bars = self._daily.daily_bars(list(symbols), day, day)
        return {s: q.model_copy(update={"price": bars[s][-1].close}) for s, q in opening(self, symbols, now).items()}

    monkeypatch.setattr(CsvQuotes, "_opening", at_the_close)


def test_a_checkpoint_priced_at_its_sessions_close_is_caught(
    folder: Path, database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leak f7e16e17 removed, planted again: a daily-only symbol priced in session at the close to come."""
    price_at_the_close(monkeypatch)
    leak = _failed(database_url, pg_admin_url, tmp_path, folder)
    assert leak["real"] != leak["audited"]  # the real run read the close, the cut-off one the open


def test_a_checkpoint_reading_an_intraday_price_after_its_instant_is_caught(
    folder: Path, database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every symbol priced by its intraday file, read an hour ahead and stamped now (so no staleness rule sees it)."""
    bars = history(LAST_DAY)
    for symbol, series in bars.items():
        _intraday(folder, symbol, [b for b in series if b.day >= WEEK])
    from_file = csv_quotes._from_file

    def an_hour_ahead(path: Path, symbol: str, now: datetime, until: datetime | None = None) -> Quote | None:
        honest, ahead = from_file(path, symbol, now, until), from_file(path, symbol, now + timedelta(hours=1), until)
        return honest if honest is None or ahead is None else honest.model_copy(update={"price": ahead.price})

    monkeypatch.setattr(csv_quotes, "_from_file", an_hour_ahead)
    leak = _failed(database_url, pg_admin_url, tmp_path, folder)
    assert leak["real"] != leak["audited"]  # the real run read 13:00's price, the cut-off one 12:00's


@pytest.mark.parametrize(
    ("now", "seen"),
    [
        (_at(WEEK, 8), (WEEK - timedelta(days=1), None)),  # before the open: Tuesday's bars, nothing of Wednesday
        (_at(WEEK, 9, 30), (WEEK - timedelta(days=1), WEEK)),  # at the open: its open
        (_at(WEEK, 15, 50), (WEEK - timedelta(days=1), WEEK)),
        (_at(WEEK, 16), (WEEK, None)),  # closed: the whole bar
        (_at(WEEK + timedelta(days=3), 12), (WEEK + timedelta(days=2), None)),  # Saturday: Friday's
    ],
)
def test_the_wall_is_the_sessions_closed_by_then_and_the_open_of_the_one_open(
    now: datetime, seen: tuple[date, date | None]
) -> None:
    assert wall(CALENDAR, now) == seen


class _Bars:
    name, synthetic = "csv", False

    def __init__(self, bars: list[Bar]):
        self.bars = bars

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        return {"SPY": [b for b in self.bars if start <= b.day <= end]}


def test_a_cut_provider_gives_the_open_session_as_its_open_alone_and_nothing_after() -> None:
    days = [WEEK - timedelta(days=1), WEEK, WEEK + timedelta(days=1)]
    bars = [
        Bar(symbol="SPY", day=d, open=100 + n, high=110, low=90, close=105, volume=1e6, source="csv")
        for n, d in enumerate(days)
    ]
    [before, during, _] = bars
    cut = CutoffProvider(_Bars(bars), days[0], opened=WEEK)  # type: ignore[arg-type]
    [kept, known] = cut.daily_bars(["SPY"], days[0], days[-1])["SPY"]
    assert kept == before
    assert (known.open, known.high, known.low, known.close, known.volume) == (during.open, 101, 101, 101, 0)
    assert CutoffProvider(_Bars(bars), days[0]).daily_bars(["SPY"], days[0], days[-1])["SPY"] == [before]  # type: ignore[arg-type]


def test_a_cut_csv_provider_finds_no_intraday_row_after_its_instant(folder: Path) -> None:
    _intraday(folder, "GLD", [b for b in history(LAST_DAY)["GLD"] if b.day >= WEEK])
    quotes = CsvQuotes(folder, CALENDAR)
    noon, later = _at(WEEK, 12), _at(WEEK, 14)
    cut = quotes.cut(lambda daily: daily, noon)
    assert cut.latest(["GLD"], later)["GLD"] == quotes.latest(["GLD"], noon)["GLD"]
    assert quotes.latest(["GLD"], later)["GLD"].as_of == _at(WEEK, 14)  # the provider itself is left as it was


def test_the_leaderboard_of_a_backtest_that_failed_its_audit_says_where(
    folder: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in a trial: the leaderboard (and report) of a backtest stopped by a checkpoint's leak said "it failed its
    look-ahead audit at week 2024-01-03", as of a weekly run's; the week's weekly run had passed, and only the resumed
    command's refusal said which checkpoint, model role and line differed."""
    from llmtrade.app.container import Container
    from llmtrade.app.leaderboard import leaderboard
    from llmtrade.clock import FixedClock

    price_at_the_close(monkeypatch)
    name = _unique()
    with pytest.raises(OperationalError):
        _audited(database_url, tmp_path, folder, name)
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 2, 20, tzinfo=NEW_YORK)), None, print)
    [note] = [n for n in leaderboard(live, backtest=name).notes if "look-ahead audit" in n]
    assert f"it failed its look-ahead audit at week {WEEK}, at its checkpoint {WEEK} 12:00 (" in note, note
    assert "line " in note and note.endswith("): its results are not evidence"), note


def test_a_replay_miss_after_its_cut_off_rerun_found_every_answer_says_the_prompts_differ(
    folder: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in a trial (--replay on a cache a clean run filled, a leak planted): the cut-off rerun of 2024-01-03's
    12:00 checkpoint found every answer in the cache, the real (leaky) checkpoint missed one, and the backtest stopped
    saying the cache lacked it: "run the same command with --live-misses USD ..., or run the range with --offline under
    a new --name", which loses the finding. A miss there is a prompt the run without later data did not ask."""
    from llmtrade.app import backtest_steps
    from llmtrade.errors import LlmtradeError, ReplayMiss
    from llmtrade.exits import classify

    real = backtest_steps.checkpoint

    def missed_at_noon(app: Any, time: str, **kw: Any) -> Any:
        if time == "12:00":
            raise ReplayMiss("--replay: no cached answer for the checkpoint call to m (key 4d56013d266b)")
        return real(app, time, **kw)

    monkeypatch.setattr(backtest_steps, "checkpoint", missed_at_noon)
    with pytest.raises(LlmtradeError) as caught:
        _audited(database_url, tmp_path, folder, _unique())
    failure = classify(caught.value)
    assert failure is not None and failure.code == 1
    assert (
        "its look-ahead audit's rerun just before, in a market without what came after its instant, found every "
        "answer it asked in the cache: the real run asked a prompt that rerun did not"
    ) in failure.message, failure.message
