"""Build the provider list a run uses, by mode, from the config and LLMTRADE_MARKET_PROVIDERS.

A live run never falls back to synthetic prices: synthetic is allowed live only when it is the
sole provider, chosen explicitly. Offline runs default to a CSV folder when one is set, else to
the synthetic market, and touch no network.
"""

from __future__ import annotations

import typing
from pathlib import Path

from llmtrade.config.models import AssetsConfig, MarketProviderName
from llmtrade.errors import UsageError
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.provider import BarProvider
from llmtrade.market.synthetic import SyntheticMarket
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
        names = ["csv"] if _csv_dir(assets, settings) else ["synthetic"]
    if live and "synthetic" in names and len(names) > 1:
        raise UsageError(
            f"market providers {names}: a live run never falls back to synthetic prices; "
            "use synthetic alone (explicitly) or drop it"
        )
    return names


def build_providers(assets: AssetsConfig, settings: Settings, names: list[str]) -> list[BarProvider]:
    data = assets.market_data
    built: list[BarProvider] = []
    for name in names:
        if name == "csv":
            folder = _csv_dir(assets, settings)
            if folder is None:
                raise UsageError(
                    "market provider csv needs market_data.csv_dir in assets.yaml or LLMTRADE_MARKET_CSV_DIR"
                )
            built.append(CsvFolderProvider(folder))
        elif name == "synthetic":
            classes = {i.symbol: i.asset_class.value for i in assets.universe}
            built.append(SyntheticMarket(classes, seed=data.synthetic_seed))
        elif name == "yfinance":
            built.append(YFinanceProvider(timeout_seconds=data.request_timeout_seconds))
        elif name == "alpaca":
            key, secret = settings.secret(data.alpaca.key_env), settings.secret(data.alpaca.secret_env)
            if not key or not secret:
                built.append(UnavailableProvider("alpaca", f"{data.alpaca.key_env} / {data.alpaca.secret_env} not set"))
            else:
                built.append(
                    AlpacaBarProvider(
                        key,
                        secret,
                        feed=data.alpaca_feed,
                        url_override=settings.alpaca_data_url,
                        timeout_seconds=data.request_timeout_seconds,
                    )
                )
    return built


def _csv_dir(assets: AssetsConfig, settings: Settings) -> Path | None:
    if settings.market_csv_dir is not None:
        return settings.market_csv_dir
    return Path(assets.market_data.csv_dir).expanduser() if assets.market_data.csv_dir else None
