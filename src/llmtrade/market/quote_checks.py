"""An in-session price looked at before it becomes money (pure): a paper fill, a stop, a size, a valuation.

A feed's latest price can be one bad print: a trade at 2.5x or 0.4x the market (an odd lot or an out-of-sequence
print reported late; IEX's book alone on Alpaca's free feed), a price stuck at an old close (Yahoo's
regularMarketPrice: ranaroussi/yfinance#1034), a decimal slipped. The daily bars are checked for such rows once a
session is over (market/jumps.py); an in-session price was taken as it came, and one print filled a paper order or
fired a stop at it. Zero, crossed and one-sided quotes never reach here (the providers drop them), nor stale ones
(the quote service's staleness limit).

A price is suspect when it sits `FAR` or more from every close it may be near: the last close before today, the
close before that when the last one is itself an unconfirmed jump (`last_suspect`: a bad daily print must not make
today's honest prices look wrong), and each of them moved by a split recorded since (the ex-day's first price is a
split's factor from yesterday's close). It stands anyway when another quote of today (another provider, or an
earlier answer with its own time) agrees with it within `AGREE`: two prints agreeing are a move, not a print;
unless it is a split's factor from the last close, which only a split recorded explains (on an ex-day no provider's
history shows yet, every print agrees, and a paper account would read its old shares at the new price). A
suspect price is no price: the next provider is asked, or the symbol has none (said and recorded as QuoteRefused).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date

from llmtrade.domain.market import Bar, Quote, QuoteFetched, QuoteRefused, SplitDetected
from llmtrade.market.calendar import NEW_YORK
from llmtrade.market.jumps import last_suspect
from llmtrade.market.splits import gap_factor
from llmtrade.storage.event_store import EventStore

# Half again or a third off the last close within one session: an index ETF has not moved so much in a day since
# 1987; a single stock does on rare news, and a second quote agreeing lets that through.
FAR = math.log(1.5)
# How near a second quote must be to confirm a far price: a few minutes' move, far less than any bad print's.
AGREE = math.log(1.05)


def suspect(
    quote: Quote, before: Sequence[Bar], splits: Iterable[SplitDetected] | None, seen: Sequence[Quote]
) -> str | None:
    """Why `quote` is no price on its day, or None: `before` are the symbol's bars before the day (oldest first),
    `splits` the splits recorded (None: unknown, as in a command that records nothing: a price at a split's factor
    then stands, as nothing trades there), `seen` the other quotes of the symbol today. A price at a split's factor
    that no recorded split explains is suspect even when another quote agrees (both would, on a split's ex-day)."""
    if not before:
        return None  # nothing to look against: a symbol's first session, or bars not fetched
    last = before[-1]
    if abs(math.log(quote.price / last.close)) < FAR:
        return None  # the price of nearly every quote: asked at every checkpoint of a backtest
    closes = [last.close]
    if len(before) > 1 and last_suspect(quote.symbol, before) is not None:
        closes.append(before[-2].close)
    factors = [1.0]
    if splits is not None:
        day = quote.as_of.astimezone(NEW_YORK).date()
        # A split read from a broker's position is recorded for the window it may have come in (ex-day to latest).
        factors += [
            s.ratio
            for s in splits
            if s.symbol == quote.symbol and last.day < (s.latest or s.ex_day) and s.ex_day <= day
        ]
    if any(abs(math.log(quote.price * f / close)) < FAR for close in closes for f in factors):
        return None
    split = gap_factor(last.close / quote.price)
    if split is None and any(_confirms(other, quote) for other in seen):
        return None
    if split is not None and splits is None:
        return None
    at = quote.as_of.astimezone(NEW_YORK)
    seen_as = f"{quote.symbol} at {quote.price:g} ({quote.provider} {quote.kind} at {at:%H:%M}) is "
    seen_as += f"{quote.price / last.close:.2f}x its last close of {last.close:g} on {last.day}"
    if split is not None:
        # Two prints agreeing prove no split: priced so before it is recorded, a paper account reads its old shares at
        # the new price (a 4-for-1: 75% down, and the circuit breaker halts it).
        return (
            f"{seen_as}, a {split.numerator}-for-{split.denominator} split's factor: a split no provider's history "
            "shows yet, or a bad print; not a price until the split is recorded (the providers are asked at each such "
            "price, and the run after the close asks them again)"
        )
    return f"{seen_as}: taken for a bad print, not a price (no split recorded explains it, no other quote confirms it)"


def _confirms(other: Quote, quote: Quote) -> bool:
    """Whether `other` is another print than `quote` (another provider, or its own time) at about its price."""
    if (other.provider, other.as_of) == (quote.provider, quote.as_of):
        return False
    return abs(math.log(other.price / quote.price)) < AGREE


def recorded_quotes(events: EventStore, week_id: date) -> list[Quote]:
    """The quotes runs of the week `week_id` recorded, taken (QuoteFetched) or refused as suspect (QuoteRefused): a
    checkpoint is a process of its own, and a far price an earlier checkpoint saw confirms the same price now."""
    found: list[Quote] = []
    for event in events.read(week_id=week_id, type=[QuoteFetched.event_type(), QuoteRefused.event_type()]):
        if event.type == QuoteFetched.event_type():
            found += QuoteFetched.from_event(event).quotes
        elif (refused := QuoteRefused.from_event(event).quote) is not None:
            found.append(refused)
    return found
