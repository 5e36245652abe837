"""A backtest builds its offline providers once and every job's market and quote service reuses them
(app/backtest_container.py): what is per job (the run its fetches are recorded under, the audit's cutoff)
must stay per job."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.container import Container
from llmtrade.clock import SteppingClock
from llmtrade.config.loader import load_config
from llmtrade.domain.market import QuoteFetched
from llmtrade.domain.streams import market_stream
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database
from tests.support import FIXED_NOW
from tests.test_backtest import _unique

WEEK = date(2026, 1, 5)
CUT = date(2026, 1, 5)  # the audit's cut: the Monday; the Tuesday's bar must stay out of sight


def offline_backtest(database_url: str, tmp_path: Path) -> BacktestContainer:
    """A container for an offline backtest in a database of its own, beside the live one at `database_url`."""
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    return BacktestContainer(
        settings,
        load_config(None),
        SteppingClock(FIXED_NOW),
        None,
        lambda _t: None,
        offline=True,
        replay=False,
        database=backtest_database(_unique()),
    )


def test_a_backtests_jobs_share_its_providers_yet_each_keeps_its_own_run_and_cutoff(
    database_url: str, tmp_path: Path
) -> None:
    app = offline_backtest(database_url, tmp_path)
    symbol = app.loaded.config.assets.symbols[0]
    with app.held() as storage:
        first = app.market(storage, run_id="r1", week_id=WEEK)
        app.cutoff = CUT
        audited = app.market(storage, run_id="r2", week_id=WEEK)
        app.cutoff = None
        later = app.market(storage, run_id="r3", week_id=WEEK)
        first_quotes, later_quotes = app.quotes(storage, first), app.quotes(storage, later)

        assert [id(p) for p in first.providers] == [id(p) for p in later.providers]
        assert [id(p) for p in first_quotes.providers] == [id(p) for p in later_quotes.providers]
        # The audited job's cut wraps the shared providers; it neither leaks into nor out of them.
        assert audited.opening_price(symbol, date(2026, 1, 6)) is None
        assert later.opening_price(symbol, date(2026, 1, 6)) is not None
        # Each job's quote service prices over its own market and records under its own run.
        assert later_quotes.market is later and first_quotes.market is first
        later_quotes.quotes([symbol])  # 08:00 in New York: the last close, from the daily bars
        fetched = storage.events.read_stream(market_stream("r3"))
        assert QuoteFetched.event_type() in {e.type for e in fetched}
        assert not storage.events.read_stream(market_stream("r1"))


def test_a_live_container_builds_its_providers_afresh_for_every_job(database_url: str, tmp_path: Path) -> None:
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    app = Container(settings, load_config(None), SteppingClock(FIXED_NOW), None, lambda _t: None, offline=True)
    one, two = app.bar_providers(["synthetic"]), app.bar_providers(["synthetic"])
    assert one[0] is not two[0]
    assert app.quote_providers(["synthetic"])[0] is not app.quote_providers(["synthetic"])[0]
