"""The quote service on a real PostgreSQL: prices now, point-in-time, stale answers refused, fallbacks recorded.

The synthetic market and the CSV folder are the real providers; only the "after now" drill uses a
provider written here, because no honest feed of ours can answer from the future.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.market import Quote
from llmtrade.errors import MarketDataError, MarketDataUnavailable
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.csv_quotes import CsvQuotes, intraday_file
from llmtrade.market.intraday_path import bridge_path
from llmtrade.market.quote_providers import QUOTE_FACTORIES, build_quotes
from llmtrade.market.quotes import QuoteService
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.market.synthetic_quotes import SyntheticQuotes
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.test_market_data import write_csv

CLASSES = {"SPY": "equity", "TLT": "rates"}
DAY = date(2026, 1, 7)  # a Wednesday, a full session
CALENDAR = TradingCalendar()
STALENESS = timedelta(minutes=15)


def at(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), tzinfo=NEW_YORK)


def synthetic_service(
    storage: Storage, *first: object, staleness: timedelta = STALENESS, daily: object = None
) -> QuoteService:
    synthetic = SyntheticMarket(CLASSES)
    bars = [daily or synthetic]
    market = MarketData(bars, BarCache(storage.conn), CALENDAR, Recording(storage.events, "r1"))  # type: ignore[list-item]
    providers = [*first, SyntheticQuotes(synthetic, CALENDAR)]
    return QuoteService(
        providers,  # type: ignore[arg-type]
        market,
        FixedClock(at(DAY, 12, 0)),
        staleness=staleness,
        recording=Recording(storage.events, "r1"),
    )


def day_bar(symbol: str, day: date = DAY):  # type: ignore[no-untyped-def]
    return SyntheticMarket(CLASSES).daily_bars([symbol], day, day)[symbol][0]


def test_the_four_checkpoints_of_one_day_see_four_different_prices(storage: Storage) -> None:
    service = synthetic_service(storage)
    times = [at(DAY, 9, 0), at(DAY, 12, 0), at(DAY, 14, 0), at(DAY, 15, 50)]
    quotes = [service.quote("SPY", now) for now in times]
    assert len({q.price for q in quotes}) == 4
    before_open, *intraday = quotes
    yesterday = CALENDAR.previous_session(DAY)
    assert before_open.kind == "close" and before_open.closed
    assert before_open.price == day_bar("SPY", yesterday).close
    assert before_open.as_of == CALENDAR.session_close(yesterday)
    bar = day_bar("SPY")
    for quote, now in zip(intraday, times[1:], strict=True):
        assert quote.kind == "synthetic-path" and quote.synthetic and not quote.approximation
        assert bar.low <= quote.price <= bar.high
        assert now - timedelta(minutes=1) < quote.as_of <= now


def test_no_quote_is_ever_stamped_after_now(storage: Storage) -> None:
    service = synthetic_service(storage)
    start = at(DAY - timedelta(days=3), 7, 0)  # from Sunday morning to Thursday evening, every 17 minutes
    instants = [start + timedelta(minutes=17 * k) for k in range(4 * 24 * 60 // 17)]
    instants += [at(DAY, 9, 30), at(DAY, 9, 30, 59), at(DAY, 15, 59, 59), at(DAY, 16, 0)]
    for now in instants:
        quote = service.quote("TLT", now)
        assert quote.as_of <= now, (now, quote)
        assert quote.closed == (not CALENDAR.is_open(now))


def test_the_intraday_path_is_the_daily_bar_walked_from_open_to_close(storage: Storage) -> None:
    service = synthetic_service(storage)
    bar = day_bar("SPY")
    assert service.quote("SPY", at(DAY, 9, 30)).price == bar.open
    assert service.quote("SPY", at(DAY, 16, 0)).price == bar.close  # the close, now from the daily bar
    path = bridge_path(bar, 390, "7")
    assert (path[0], path[-1], min(path), max(path)) == (bar.open, bar.close, bar.low, bar.high)
    assert bridge_path(bar, 390, "7") == path  # seeded: the same day prices the same in every process
    # An early close (the day after Thanksgiving closes at 13:00): the path fits the shorter session.
    early = date(2025, 11, 28)
    half = day_bar("SPY", early)
    assert service.quote("SPY", at(early, 12, 59)).price in bridge_path(half, 210, "7")
    assert service.quote("SPY", at(early, 13, 30)).kind == "close"


def write_intraday(folder: Path, symbol: str, rows: list[tuple[datetime, float]]) -> None:
    path = intraday_file(folder, symbol)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["Timestamp,Price,Note"] + [f"{stamp.isoformat()},{price},x" for stamp, price in rows]
    path.write_text("\n".join(lines) + "\n")


def csv_first(storage: Storage, folder: Path) -> QuoteService:
    return synthetic_service(storage, CsvQuotes(folder, CALENDAR))


def refusals(storage: Storage) -> list[dict]:
    return [e.payload for e in storage.events.read(type="QuoteRefused")]


def test_a_stale_price_in_session_is_refused_and_the_next_provider_answers(storage: Storage, tmp_path: Path) -> None:
    write_intraday(tmp_path, "SPY", [(at(DAY, 11, 0), 600.0), (at(DAY, 11, 40), 601.5)])
    service = csv_first(storage, tmp_path)
    quote = service.quote("SPY", at(DAY, 12, 0))
    assert quote.provider == "synthetic"
    [refused] = refusals(storage)
    assert refused["provider"] == "csv" and refused["reason"] == "stale"
    assert "20 min old" in refused["error"] and "15 min staleness limit" in refused["error"]
    fetched = [e.payload for e in storage.events.read(type="QuoteFetched")]
    assert [f["provider"] for f in fetched] == ["synthetic"]
    # Within the limit the file's price is the answer, stamped with its row's time.
    fresh = service.quote("SPY", at(DAY, 11, 50))
    assert (fresh.provider, fresh.kind, fresh.price, fresh.as_of) == ("csv", "intraday-file", 601.5, at(DAY, 11, 40))


def test_yesterdays_last_price_is_not_a_price_today(storage: Storage, tmp_path: Path) -> None:
    # Within the staleness limit of 09:35 but from before the open: an after-hours or pre-market print.
    write_intraday(tmp_path, "SPY", [(at(DAY, 9, 25), 600.0)])
    quote = csv_first(storage, tmp_path).quote("SPY", at(DAY, 9, 35))
    assert quote.provider == "synthetic"
    assert [r["reason"] for r in refusals(storage)] == ["before-open"]


class _FromTheFuture:
    """A feed whose clock runs ahead of ours: its latest trade is stamped after our now."""

    name = "skewed"
    synthetic = False

    def latest(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
        return {
            s: Quote(symbol=s, price=1.0, as_of=now + timedelta(seconds=2), provider="skewed", kind="trade")
            for s in symbols
        }


def test_a_price_stamped_after_now_is_refused(storage: Storage) -> None:
    quote = synthetic_service(storage, _FromTheFuture()).quote("SPY", at(DAY, 12, 0))
    assert quote.provider == "synthetic"
    assert [r["reason"] for r in refusals(storage)] == ["after-now"]


def test_without_a_current_price_anywhere_the_error_names_every_refusal(storage: Storage, tmp_path: Path) -> None:
    write_intraday(tmp_path, "SPY", [(at(DAY, 10, 0), 600.0)])
    synthetic = SyntheticMarket(CLASSES)
    market = MarketData([synthetic], BarCache(storage.conn), CALENDAR, Recording(storage.events, "r1"))
    service = QuoteService(
        [_FromTheFuture(), CsvQuotes(tmp_path, CALENDAR)], market, FixedClock(at(DAY, 12, 0)), staleness=STALENESS
    )
    with pytest.raises(MarketDataUnavailable) as caught:
        service.quote("SPY")
    message = str(caught.value)
    assert "skewed: SPY priced at" in message and "after now" in message
    assert "csv: SPY's latest price is 2.0 h old" in message
    assert caught.value.exit_code == 75


def test_a_csv_folder_without_intraday_files_gives_the_sessions_open_all_session(
    storage: Storage, tmp_path: Path
) -> None:
    write_csv(tmp_path, "SPY", date(2025, 12, 1), DAY)
    service = synthetic_service(storage, CsvQuotes(tmp_path, CALENDAR), daily=CsvFolderProvider(tmp_path))
    noon, later = service.quote("SPY", at(DAY, 12, 0)), service.quote("SPY", at(DAY, 15, 50))
    bar = day_bar("SPY")  # write_csv copies the synthetic bars
    for quote in (noon, later):  # hours old, yet not refused as stale: it is what it says, and no order fills at it
        assert quote.source == "csv daily-open" and not quote.approximation and not quote.synthetic
        assert (quote.price, quote.as_of, quote.tradable) == (bar.open, at(DAY, 9, 30), False)
    # Before the open, the CSV's own close: real, not an approximation.
    early = service.quote("SPY", at(DAY, 8, 0))
    assert early.kind == "close" and not early.approximation and early.provider == "csv"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Time,Price\n", "missing column(s) Timestamp"),
        ("Timestamp,Price\n2026-01-07T10:00:00,600\n", "has no UTC offset"),
        ("Timestamp,Price\n2026-01-07T10:00:00-05:00,abc\n", "line 2: unreadable row"),
        ("Timestamp,Price\n2026-01-07T10:00:00-05:00,600\n2026-01-07T09:59:00-05:00,601\n", "line 3"),
        ("Timestamp,Price\n2026-01-07T10:00:00-05:00,0\n", "is not a positive number"),
        # An unquoted thousands separator read a price of 1 (the fields past the header's were dropped).
        ("Timestamp,Price\n2026-01-07T10:00:00-05:00,1,234.50\n", "line 2: 3 fields where the header has 2"),
    ],
)
def test_a_malformed_intraday_file_stops_with_its_file_and_line(
    storage: Storage, tmp_path: Path, content: str, message: str
) -> None:
    path = intraday_file(tmp_path, "SPY")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(MarketDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        csv_first(storage, tmp_path).quote("SPY", at(DAY, 12, 0))


def test_every_market_provider_name_has_a_quote_provider_and_offline_builds_the_synthetic_one(storage: Storage) -> None:
    from llmtrade.market.providers import FACTORIES

    assert set(QUOTE_FACTORIES) == set(FACTORIES)
    assets = load_config(None).config.assets
    market = MarketData(
        [SyntheticMarket({i.symbol: i.asset_class.value for i in assets.universe})], BarCache(storage.conn), CALENDAR
    )
    service = build_quotes(assets, Settings(), ["synthetic"], market, FixedClock(at(DAY, 12, 0)))
    assert service.staleness == timedelta(seconds=900)
    assert service.quote("SPY").kind == "synthetic-path"
    # Live without keys: the error says why, and it is not "try again later": waiting sets no keys.
    live = build_quotes(assets, Settings(), ["alpaca"], market, FixedClock(at(DAY, 12, 0)))
    with pytest.raises(MarketDataError, match="ALPACA_DATA_KEY / ALPACA_DATA_SECRET not set") as caught:
        live.quote("SPY")
    assert caught.value.exit_code == 1


def test_the_clock_is_read_again_once_the_answers_are_in(storage: Storage) -> None:
    """A live clock moves while a provider answers; the cut-off for "after now" is the later reading."""

    class Ticking:
        real = True  # the machine's clock, moving while the provider answers

        def __init__(self) -> None:
            # Read when the service begins, as it asks the provider, and once the answers are in.
            self.instants = [at(DAY, 12, 0), at(DAY, 12, 0), at(DAY, 12, 0, 5)]

        def now(self) -> datetime:
            return self.instants.pop(0)

    class JustAfterTheFirstReading:
        name = "live"
        synthetic = False

        def latest(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
            return {
                s: Quote(symbol=s, price=5.0, as_of=now + timedelta(seconds=2), provider="live", kind="trade")
                for s in symbols
            }

    market = MarketData([SyntheticMarket(CLASSES)], BarCache(storage.conn), CALENDAR)
    service = QuoteService([JustAfterTheFirstReading()], market, Ticking(), staleness=STALENESS)
    assert service.quote("SPY").as_of == datetime(2026, 1, 7, 17, 0, 2, tzinfo=UTC)


def test_the_container_offers_quotes_from_the_runs_providers_recorded_with_its_run(database_url: str) -> None:
    from llmtrade.app.container import Container

    settings = Settings(DATABASE_URL=database_url)
    container = Container(
        settings, load_config(None), FixedClock(at(DAY, 12, 0)), None, say=lambda _: None, offline=True
    )
    with container.storage() as storage:
        market = container.market(storage, run_id="run-q", week_id=DAY)
        quote = container.quotes(storage, market).quote("SPY")
        assert (quote.kind, quote.synthetic, quote.as_of) == ("synthetic-path", True, at(DAY, 12, 0))
        [fetched] = storage.events.read(type="QuoteFetched", run_id="run-q")
        assert fetched.week_id == DAY and fetched.stream == "market:run-q"
        assert fetched.payload["quotes"][0]["price"] == quote.price
