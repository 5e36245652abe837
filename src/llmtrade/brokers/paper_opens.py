"""The paper broker's session prices: each session's open (and, for an order filled at the close, its close) as
traded, asked of the market once per process.

A session's opening or closing price, once known, is final, so it is kept rather than asked again at every look at a
queued order (each look at the book derives every unrecorded fill again, brokers/paper.py `_derived`).
"""

from __future__ import annotations

from datetime import date
from math import prod
from typing import Protocol

from llmtrade.domain.ledger import Split


class OpeningPrices(Protocol):
    def opening_price(self, symbol: str, day: date) -> float | None: ...

    # Asked only for an order taken at a price no order may fill at (Quote.tradable): market/service.py's.
    def closing_price(self, symbol: str, day: date) -> float | None: ...


class SessionOpens:
    """The opens of `prices` (USD a share), kept by (symbol, session); `asked` counts the times the market was asked,
    which may have recorded a split an open gapped by (market/service.py `confirm_splits`)."""

    def __init__(self, prices: OpeningPrices):
        self.prices = prices
        self._opens: dict[tuple[str, date, bool], tuple[float, tuple[Split, ...]]] = {}
        self.asked = 0

    def at(self, symbol: str, day: date, splits: tuple[Split, ...], *, close: bool = False) -> float | None:
        """`day`'s open (`close`: its close) as traded: the cached price times the ratio of each later split it is
        restated for (the cache is, with a split found in a restated history; not with one read from a broker's
        position, before the open); None while the market does not know it yet (the next look asks again)."""
        later = tuple(s for s in splits if s.symbol == symbol and s.at.date() > day) if splits else ()
        kept = self._opens.get((symbol, day, close))
        if kept is None or kept[1] != later:  # asked before a split was recorded: the old price, not restated
            self.asked += 1
            price = self.prices.closing_price(symbol, day) if close else self.prices.opening_price(symbol, day)
            if price is None:
                return None
            kept = self._opens[(symbol, day, close)] = (price, later)
        return kept[0] * prod(float(s.ratio) for s in later if s.restated(kept[0])) if later else kept[0]
