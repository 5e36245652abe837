"""A live run asks its quote providers for the price as of the clock when it asks, not as of the run's start.

A checkpoint reads its `now` when it starts and may ask for prices minutes later (behind a weekly run's lock, a slow
broker, a second look after its models answered). e582159b moved the cut-off to the clock read when the answers are
in, but the providers were still asked "as of" the run's start: an intraday CSV file gave its row at or before then,
Yahoo its 1-minute bar ended by then. The service then measured that row's age against the later cut-off, refused it as
stale though the file held a row of the minute, and the checkpoint waited (exit 75) on a price it had. A chosen clock
(LLMTRADE_NOW, a backtest's step) is the instant the run pretends to be: asked as of it, to the microsecond."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

from llmtrade.domain.market import Quote
from llmtrade.errors import MarketDataUnavailable
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_quotes import CsvQuotes, intraday_file
from llmtrade.market.quotes import QuoteService
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.running_clock import RunningClock

CALENDAR = TradingCalendar()
DAY = date(2026, 1, 7)
STARTED = datetime.combine(DAY, time(10, 0, 30), tzinfo=NEW_YORK)


class ChosenRunningClock(RunningClock):
    real = False  # LLMTRADE_NOW's instant, or a backtest's step


def _rows(folder: Path, rows: list[tuple[str, float]]) -> None:
    """The intraday file as a live download keeps it: rewritten with each new minute's row (bar END stamps)."""
    path = intraday_file(folder, "SPY")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("Timestamp,Price\n" + "".join(f"2026-01-07T{at}-05:00,{price}\n" for at, price in rows))


def _service(storage: Storage, folder: Path, clock: RunningClock) -> QuoteService:
    market = MarketData([SyntheticMarket({"SPY": "equity"})], BarCache(storage.conn), CALENDAR)
    return QuoteService(
        [CsvQuotes(folder, CALENDAR)],
        market,
        clock,
        staleness=timedelta(minutes=5),
        recording=Recording(storage.events, "r1"),
        check_prints=False,  # the synthetic daily closes are no reference for the file's prices
    )


def test_a_live_checkpoint_asking_minutes_after_it_began_gets_the_minutes_row_not_a_stale_one(
    storage: Storage, tmp_path: Path
) -> None:
    clock = RunningClock(STARTED)
    _rows(tmp_path, [("10:00:00", 600.0)])
    service = _service(storage, tmp_path, clock)
    started = clock.now()  # the checkpoint's `now`
    clock.advance(timedelta(minutes=6))  # behind the weekly run's lock, the broker's look
    _rows(tmp_path, [("10:00:00", 600.0), *((f"10:0{m}:00", 600.0 + m) for m in range(1, 7))])
    quotes, problems = service.priced(["SPY"], started)
    assert problems == {}
    assert quotes["SPY"].price == 606.0 and quotes["SPY"].as_of == datetime.combine(DAY, time(10, 6), tzinfo=NEW_YORK)
    assert storage.events.read(type="QuoteRefused") == []


def test_a_live_run_asked_after_the_close_is_asked_as_of_the_close(storage: Storage, tmp_path: Path) -> None:
    # Begun in session at 15:58, asking at 16:03: the session's last row, not a post-market one (536551a0).
    clock = RunningClock(datetime.combine(DAY, time(15, 58), tzinfo=NEW_YORK))
    rows = [("15:58:00", 600.0), ("15:59:00", 601.0), ("16:00:00", 602.0), ("16:02:00", 650.0)]
    _rows(tmp_path, rows)
    service = _service(storage, tmp_path, clock)
    started = clock.now()
    clock.advance(timedelta(minutes=5))
    quotes, problems = service.priced(["SPY"], started)
    assert problems == {}
    assert quotes["SPY"].price == 602.0


def test_a_chosen_clock_is_asked_as_of_its_instant(storage: Storage, tmp_path: Path) -> None:
    clock = ChosenRunningClock(STARTED)
    _rows(tmp_path, [("10:00:00", 600.0), ("10:00:31", 601.0)])
    asked = clock.now()
    clock.advance(timedelta(minutes=6))
    quotes, _ = _service(storage, tmp_path, clock).priced(["SPY"], asked)
    assert quotes["SPY"].price == 600.0


class TimesOut:
    """A provider whose answer never comes: the read timeout (30 s, retried) spent before it fails."""

    name = "slow"
    synthetic = False

    def __init__(self, clock: RunningClock) -> None:
        self.clock = clock

    def latest(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
        self.clock.advance(timedelta(seconds=30))
        raise MarketDataUnavailable("slow: read timed out after 30 s")

    def never_in_session(self, symbols: list[str], now: datetime | None) -> dict[str, str]:
        return {}


def test_a_providers_failure_is_recorded_at_the_clock_it_failed_at_not_the_runs_start(
    storage: Storage, tmp_path: Path
) -> None:
    clock = RunningClock(STARTED)
    _rows(tmp_path, [("10:00:00", 600.0)])
    market = MarketData([SyntheticMarket({"SPY": "equity"})], BarCache(storage.conn), CALENDAR)
    service = QuoteService(
        [TimesOut(clock), CsvQuotes(tmp_path, CALENDAR)],
        market,
        clock,
        staleness=timedelta(minutes=5),
        recording=Recording(storage.events, "r1"),
        check_prints=False,
    )
    started = clock.now()
    quotes, _ = service.priced(["SPY"], started)
    assert quotes["SPY"].provider == "csv"
    [refused] = [e.payload for e in storage.events.read(type="QuoteRefused")]
    assert refused["reason"] == "unavailable"
    assert datetime.fromisoformat(refused["now"]) >= started + timedelta(seconds=30), refused
