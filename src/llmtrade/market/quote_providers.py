"""Build the quote providers a run uses: the same names, in the same order, as its daily-bar providers.

`providers.provider_names` decides the names (mode, assets.yaml, LLMTRADE_MARKET_PROVIDERS); each name
becomes its intraday counterpart here. Keys missing for alpaca make it fail like an outage, so the
fallback to the next provider is recorded, exactly as for daily bars.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from llmtrade.clock import Clock
from llmtrade.config.models import AssetsConfig
from llmtrade.domain.market import Quote
from llmtrade.errors import MarketProviderUnset, UsageError
from llmtrade.market.alpaca_quotes import AlpacaQuotes
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.csv_quotes import CsvQuotes
from llmtrade.market.providers import csv_dir, csv_dir_from
from llmtrade.market.quote_provider import QuoteProvider
from llmtrade.market.quotes import QuoteService, Sightings
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.synthetic import SyntheticMarket, candidate_classes
from llmtrade.market.synthetic_quotes import SyntheticQuotes
from llmtrade.market.yfinance_quotes import YFinanceQuotes
from llmtrade.settings import Settings

QuoteFactory = Callable[[AssetsConfig, Settings, TradingCalendar], QuoteProvider]


class _NoQuotes:
    """A quote provider that cannot run (no keys): it fails like an outage, so the fallback is recorded."""

    synthetic = False

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason

    def latest(self, symbols: list[str], now: object) -> dict[str, Quote]:
        raise MarketProviderUnset(f"{self.name} is not available: {self.reason}")

    def never_in_session(self, symbols: list[str], now: object) -> dict[str, str]:
        return dict.fromkeys(symbols, f"not available: {self.reason}")


def _csv(assets: AssetsConfig, settings: Settings, calendar: TradingCalendar) -> QuoteProvider:
    folder = csv_dir(assets, settings)
    if folder is None:
        raise UsageError("market provider csv needs market_data.csv_dir in assets.yaml or LLMTRADE_MARKET_CSV_DIR")
    return CsvQuotes(folder, calendar, named_by=csv_dir_from(settings))


def _synthetic(assets: AssetsConfig, settings: Settings, calendar: TradingCalendar) -> QuoteProvider:
    classes = {i.symbol: i.asset_class.value for i in assets.universe}
    seed = assets.market_data.synthetic_seed
    return SyntheticQuotes(SyntheticMarket(classes, extra=candidate_classes(), seed=seed), calendar, seed=seed)


def _yfinance(assets: AssetsConfig, settings: Settings, calendar: TradingCalendar) -> QuoteProvider:
    return YFinanceQuotes(calendar, timeout_seconds=assets.market_data.request_timeout_seconds)


def _alpaca(assets: AssetsConfig, settings: Settings, calendar: TradingCalendar) -> QuoteProvider:
    data = assets.market_data
    key, secret = settings.secret(data.alpaca.key_env), settings.secret(data.alpaca.secret_env)
    if not key or not secret:
        return _NoQuotes("alpaca", f"{data.alpaca.key_env} / {data.alpaca.secret_env} not set")
    return AlpacaQuotes(
        key,
        secret,
        feed=data.alpaca_feed,
        url_override=settings.alpaca_data_url,
        timeout_seconds=data.request_timeout_seconds,
    )


# One line per daily-bar provider name (providers.FACTORIES): a name without a line here would price
# checkpoints from somewhere else than their bars.
QUOTE_FACTORIES: dict[str, QuoteFactory] = {
    "csv": _csv,
    "synthetic": _synthetic,
    "yfinance": _yfinance,
    "alpaca": _alpaca,
}


def build_quotes(
    assets: AssetsConfig,
    settings: Settings,
    names: list[str],
    market: MarketData,
    clock: Clock,
    recording: Recording | None = None,
) -> QuoteService:
    """The quote service over the providers named, in order, with assets.yaml's staleness limit."""
    return quote_service(assets, quote_providers(assets, settings, names, market.calendar), market, clock, recording)


def quote_providers(
    assets: AssetsConfig, settings: Settings, names: list[str], calendar: TradingCalendar
) -> list[QuoteProvider]:
    """The quote providers named, in order (a backtest builds them once and reuses them: they hold no run's state)."""
    return [QUOTE_FACTORIES[name](assets, settings, calendar) for name in names]


def quote_service(
    assets: AssetsConfig,
    providers: list[QuoteProvider],
    market: MarketData,
    clock: Clock,
    recording: Recording | None = None,
    *,
    check_prints: bool = True,
    sightings: Sightings | None = None,
) -> QuoteService:
    """The quote service over `providers` (from `quote_providers`), with assets.yaml's staleness limit."""
    staleness = timedelta(seconds=assets.market_data.quote_staleness_seconds)
    return QuoteService(
        providers,
        market,
        clock,
        staleness=staleness,
        recording=recording,
        check_prints=check_prints,
        sightings=sightings,
    )
