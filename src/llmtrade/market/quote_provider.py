"""What every intraday quote provider offers: each symbol's latest in-session price at or before now."""

from __future__ import annotations

import math
import typing
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from llmtrade.domain.market import Quote, QuoteKind
from llmtrade.domain.records import assembled


class QuoteProvider(Protocol):
    name: str
    synthetic: bool

    def latest(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
        """The latest price of each symbol at or before `now` (timezone-aware, the session open at `now`).

        A symbol the provider has nothing for is left out (the service asks the next provider for it).
        The service, not the provider, enforces the rules: nothing stamped after now, nothing from before
        the session's open, nothing older than the staleness limit. Raises MarketDataUnavailable when the
        provider cannot answer now (another may), MarketDataError when its data are unusable.
        """
        ...

    def never_in_session(self, symbols: list[str], now: datetime | None) -> dict[str, str]:
        """The symbols of `symbols` this provider can give no price of in `now`'s session (None: in any session, as
        it stands) however long one waits, and why; {} when it may price them (market/session_prices.py)."""
        ...


class QuoteSource(Protocol):
    """What a consumer of prices now needs (the paper broker's fills, a checkpoint's price): QuoteService."""

    def quote(self, symbol: str, now: datetime | None = None) -> Quote:
        """`symbol`'s price at `now` (default: the clock's now); as_of is never after now. Raises
        MarketDataUnavailable (exit 75) when no provider has a current price in session."""
        ...

    def quotes(self, symbols: Sequence[str], now: datetime | None = None) -> dict[str, Quote]:
        """Every symbol's price at `now`, keyed by symbol, asked together (each provider once, one record
        per provider's answer). Raises MarketDataUnavailable naming every symbol left without a price."""
        ...

    def priced(self, symbols: Sequence[str], now: datetime | None = None) -> tuple[dict[str, Quote], dict[str, str]]:
        """What `quotes` can price, and why each other symbol has no price, by symbol: raises for none of them."""
        ...

    def never_in_session(self, symbols: Sequence[str], now: datetime | None = None) -> dict[str, str]:
        """Each symbol of `symbols` no provider can price in `now`'s session however long one waits, and why; {}
        while the market is closed at `now` (the last close prices it) (market/session_prices.py)."""
        ...


# The fields `quote_of` sets, as Quote(symbol=, price=, as_of=, provider=, kind=, synthetic=) sets them.
_QUOTE_SET = frozenset(("symbol", "price", "as_of", "provider", "kind", "synthetic"))
_KINDS = frozenset(typing.get_args(QuoteKind))


def quote_of(symbol: str, price: float, as_of: datetime, provider: str, kind: QuoteKind, *, synthetic: bool) -> Quote:
    """`Quote(symbol=symbol, price=price, as_of=as_of, provider=provider, kind=kind, synthetic=synthetic)`, built
    without validation when the values are what it would keep as they are (str symbol and provider, a positive finite
    float, an aware datetime, a kind it allows, a bool), else validated (and refused as it refuses). A backtest's
    checkpoint prices the universe at every checkpoint: seven quotes, ten thousand checkpoints."""
    if (
        type(symbol) is str
        and type(provider) is str
        and type(price) is float
        and 0.0 < price < math.inf
        and type(as_of) is datetime
        and as_of.utcoffset() is not None
        and kind in _KINDS
        and type(synthetic) is bool
    ):
        values = {
            "symbol": symbol,
            "price": price,
            "as_of": as_of,
            "provider": provider,
            "kind": kind,
            "approximation": False,
            "synthetic": synthetic,
        }
        return assembled(Quote, values, set(_QUOTE_SET))
    return Quote(symbol=symbol, price=price, as_of=as_of, provider=provider, kind=kind, synthetic=synthetic)
