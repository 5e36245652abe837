"""What the market data service hands out (`BarSeries`), where it records (`Recording`), and how one read's parts
from several providers make one series (a provider short of some symbols, the next asked only for those)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from llmtrade.domain.events import EventSink
from llmtrade.domain.market import Bar, PriceJumpFlagged, Quote, SessionsUntraded, SplitDetected
from llmtrade.market.failures import few
from llmtrade.market.splits import Traded
from llmtrade.storage.event_store import EventStore


@dataclass(frozen=True)
class BarSeries:
    bars: dict[str, list[Bar]]
    provider: str
    from_cache: bool
    synthetic: bool
    start: date
    end: date
    # Passed validation.validate_bars against the sessions of start..end (MarketData returns no other).
    validated: bool = False


@dataclass(frozen=True)
class Recording:
    """Where the service records fetches and fallbacks."""

    events: EventSink
    run_id: str | None = None
    week_id: date | None = None
    # Where a warning about the prices fetched goes (the command's stderr); None: only the events say it.
    say: Callable[[str], None] | None = None
    # The jumps recorded before (symbol, day, looks_like: PriceJumpFlagged), said and recorded once: a weekly run
    # reads some 300 sessions, and one split in them was said again every week for over a year.
    flagged_before: Callable[[], Iterable[tuple[str, date, str]]] | None = None
    # The splits recorded before (SplitDetected): a split is recorded once, whichever run sees it first.
    splits_before: Callable[[], Iterable[SplitDetected]] | None = None
    # The fills recorded of a symbol in a window (market/splits.py `traded`): they place a split's uncertain ex-day.
    traded: Traded | None = None
    # The quotes a week's runs recorded, fetched or refused (market/quote_checks.py `recorded_quotes`).
    quotes_before: Callable[[date], Iterable[Quote]] | None = None
    # The sessions without a trade recorded before (symbol, day: SessionsUntraded), recorded once: a symbol read without
    # a session was recorded at every read of a range holding it, every run's and checkpoint's, for 300 sessions.
    untraded_before: Callable[[], Iterable[tuple[str, date]]] | None = None


@dataclass
class Shortfall:
    """What the providers asked for one range could not supply: each one's failure (`failures`, said in the error
    when none is left; `errors`, which decide its kind) and the symbols some provider was short of."""

    failures: list[str] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    short: set[str] = field(default_factory=set)


def joined(parts: Sequence[BarSeries], wanted: Sequence[str]) -> BarSeries:
    """One series of `wanted` from the parts providers supplied in turn (one part: itself): its provider names each
    of theirs, and it is from the cache only when every part was."""
    if len(parts) == 1:
        return parts[0]
    bars = {symbol: series for part in parts for symbol, series in part.bars.items()}
    first = parts[0]
    return BarSeries(
        {symbol: bars[symbol] for symbol in wanted},
        ",".join(dict.fromkeys(name for part in parts for name in part.provider.split(","))),
        all(part.from_cache for part in parts),
        any(part.synthetic for part in parts),
        first.start,
        first.end,
        validated=True,
    )


def mixing(parts: Sequence[BarSeries]) -> str | None:
    """What to say of one read's parts when some are the synthetic market's and some real (offline,
    LLMTRADE_MARKET_PROVIDERS=csv,synthetic: a symbol with no file made up beside the files'); None when one kind."""
    made_up = [symbol for part in parts if part.synthetic for symbol in part.bars]
    real = [part for part in parts if not part.synthetic]
    if not made_up or not real:
        return None
    names = ",".join(dict.fromkeys(name for part in real for name in part.provider.split(",")))
    return (
        f"SYNTHETIC prices mixed with real ones: {few(made_up)} from the synthetic market, "
        f"{few([symbol for part in real for symbol in part.bars])} from {names}: anything computed across them (an "
        "indicator against SPY, a size, one account's return against another's) means nothing; give every symbol "
        "real prices, or use the synthetic market alone"
    )


def flagged_before(events: EventStore) -> set[tuple[str, date, str]]:
    """The jumps `events` holds (PriceJumpFlagged) as (symbol, day, looks_like): `Recording.flagged_before`."""
    found = events.read(type=PriceJumpFlagged.event_type())
    return {(j.symbol, j.day, j.looks_like) for j in map(PriceJumpFlagged.from_event, found)}


def untraded_before(events: EventStore) -> set[tuple[str, date]]:
    """The sessions without a trade `events` holds (SessionsUntraded) as (symbol, day): `Recording.untraded_before`."""
    found = events.read(type=SessionsUntraded.event_type())
    return {(u.symbol, day) for u in map(SessionsUntraded.from_event, found) for day in u.days}


def untraded_recorded(recording: Recording | None) -> set[tuple[str, date]]:
    """The sessions without a trade the books hold (`Recording.untraded_before`), to record each once. Read by the
    market service only past a provider's answer (a symbol read so is never cached, so no cached read, a backtest's
    every checkpoint, pays for it), once a service."""
    before = recording.untraded_before if recording is not None else None
    return set(before()) if before is not None else set()


def bar_count(bars: dict[str, list[Bar]]) -> int:
    """How many bars `bars` holds, over every symbol."""
    return sum(len(series) for series in bars.values())
