"""Build the provider list a run uses, by mode, from the config and LLMTRADE_MARKET_PROVIDERS.

A live run never falls back to synthetic prices: synthetic is allowed live only when it is the
sole provider, chosen explicitly. Offline runs default to a CSV folder when one is set, else to
the synthetic market, and touch no network.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from pathlib import Path

from llmtrade.clock import make_clock
from llmtrade.config.loader import LoadedConfig, file_label
from llmtrade.config.models import AssetsConfig, MarketProviderName
from llmtrade.config_errors import ConfigError
from llmtrade.errors import UsageError
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.provider import BarProvider
from llmtrade.market.synthetic import SyntheticMarket, candidate_classes
from llmtrade.market.unavailable import UnavailableProvider
from llmtrade.market.yfinance_data import YFinanceProvider
from llmtrade.settings import Settings

KNOWN = typing.get_args(MarketProviderName)


def provider_names(assets: AssetsConfig, settings: Settings, *, live: bool) -> list[str]:
    if settings.market_providers:
        names = [n.strip() for n in settings.market_providers.split(",") if n.strip()]
        unknown = [n for n in names if n not in KNOWN]
        if unknown or not names:
            raise UsageError(
                f"LLMTRADE_MARKET_PROVIDERS={settings.market_providers!r}: unknown provider(s) {unknown}; "
                f"choose from {', '.join(KNOWN)}"
            )
    elif live:
        names = list(assets.market_data.providers)
    else:
        names = ["csv"] if csv_dir(assets, settings) else ["synthetic"]
    if live and "synthetic" in names and len(names) > 1:
        where = "LLMTRADE_MARKET_PROVIDERS" if settings.market_providers else "assets.yaml market_data.providers"
        raise UsageError(
            f"{where} {names}: a live run never falls back to synthetic prices; "
            "use synthetic alone (explicitly) or drop it"
        )
    return names


def providers_refused(app: _Loaded) -> ConfigError | None:
    """What `provider_names` refuses for `app`'s config and environment in its mode, as the file's or the environment's
    error, for `config validate`: an unknown provider in LLMTRADE_MARKET_PROVIDERS, or synthetic beside others for a
    live run, passed it and stopped the next job that prices (exit 2; a trial)."""
    try:
        provider_names(app.loaded.config.assets, app.settings, live=app.live)
    except UsageError as exc:
        if app.settings.market_providers:
            return ConfigError("the environment (LLMTRADE_MARKET_PROVIDERS)", message=str(exc))
        return ConfigError(file_label(app.loaded.source, "assets.yaml"), message=str(exc).removeprefix("assets.yaml "))
    return None


class _Loaded(typing.Protocol):
    """What `providers_refused` reads of the app's container (app/container.py, above this layer)."""

    @property
    def loaded(self) -> LoadedConfig: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def live(self) -> bool: ...


# The third argument: the assets.yaml the universe came from, as messages name it (config/loader.py `file_label`).
ProviderFactory = Callable[[AssetsConfig, Settings, str], BarProvider]


def _csv(assets: AssetsConfig, settings: Settings, assets_file: str) -> BarProvider:
    folder = csv_dir(assets, settings)
    if folder is None:
        raise UsageError("market provider csv needs market_data.csv_dir in assets.yaml or LLMTRADE_MARKET_CSV_DIR")
    return CsvFolderProvider(folder, named_by=csv_dir_from(settings), assets_file=assets_file)


def _synthetic(assets: AssetsConfig, settings: Settings, _assets_file: str) -> BarProvider:
    classes = {i.symbol: i.asset_class.value for i in assets.universe}
    return SyntheticMarket(classes, extra=candidate_classes(), seed=assets.market_data.synthetic_seed)


def _yfinance(assets: AssetsConfig, settings: Settings, _assets_file: str) -> BarProvider:
    # The command's clock: a session's bar is taken some minutes after its close (provider.py SETTLED).
    return YFinanceProvider(timeout_seconds=assets.market_data.request_timeout_seconds, clock=make_clock(settings.now))


def _alpaca(assets: AssetsConfig, settings: Settings, _assets_file: str) -> BarProvider:
    data = assets.market_data
    key, secret = settings.secret(data.alpaca.key_env), settings.secret(data.alpaca.secret_env)
    if not key or not secret:
        return UnavailableProvider("alpaca", f"{data.alpaca.key_env} / {data.alpaca.secret_env} not set")
    return AlpacaBarProvider(
        key,
        secret,
        feed=data.alpaca_feed,
        url_override=settings.alpaca_data_url,
        timeout_seconds=data.request_timeout_seconds,
        clock=make_clock(settings.now),  # the command's clock: the SIP feed's cut is 16 minutes before its now
    )


# The one place a provider name becomes a provider. Adding one: its module, a line here, and its
# name in config.models.MarketProviderName (which validates assets.yaml and the environment).
FACTORIES: dict[str, ProviderFactory] = {
    "csv": _csv,
    "synthetic": _synthetic,
    "yfinance": _yfinance,
    "alpaca": _alpaca,
}


def build_providers(
    assets: AssetsConfig, settings: Settings, names: list[str], *, assets_file: str = "assets.yaml"
) -> list[BarProvider]:
    """The providers named, in order (the first that answers wins; the rest are fallbacks). `assets_file`: where
    `assets` was read, for a message that sends the user there (a CSV folder without a universe symbol's file)."""
    return [FACTORIES[name](assets, settings, assets_file) for name in names]


def csv_dir(assets: AssetsConfig, settings: Settings) -> Path | None:
    """The CSV folder the daily bars and the quotes read: LLMTRADE_MARKET_CSV_DIR, else assets.yaml; None if unset."""
    if settings.market_csv_dir is not None:
        return settings.market_csv_dir
    return Path(assets.market_data.csv_dir).expanduser() if assets.market_data.csv_dir else None


def csv_dir_from(settings: Settings) -> str:
    """What named `csv_dir`'s folder, for a message about it: the option or variable, else assets.yaml's key."""
    return settings.csv_dir_from if settings.market_csv_dir is not None else "assets.yaml market_data.csv_dir"
