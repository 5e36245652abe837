"""Forward returns of discovery's suggestions: filled in once matured, read point-in-time.

For each session a discovery run judged, and each horizon in HORIZONS, once the session `horizon`
sessions later has closed, every judged symbol's close-to-close return and SPY's are recorded once
(ForwardReturns on its own write-once stream); a judged symbol whose prices are missing for good is recorded as
unmeasured, with why, and the others are measured (`priced`). Readers take only what had matured by their as-of
session, so a backtest's statistics never see a return before it happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from llmtrade.config.models import BENCHMARK
from llmtrade.config.sections import EnsembleWeights
from llmtrade.discovery.performance import refit_weights
from llmtrade.domain.discovery import HORIZONS, ForwardReturns, SuggestionsMade
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.market import Bar
from llmtrade.domain.streams import DISCOVERY, forward_returns_stream
from llmtrade.errors import ConcurrencyError, MarketDataError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.daily_bars import DailyBars
from llmtrade.market.failures import own_words
from llmtrade.storage.event_store import EventStore


def judged(events: Sequence[StoredEvent]) -> dict[date, list[SuggestionsMade]]:
    """Each judged session's suggestions, the last run of the session only (one per picker)."""
    by_session: dict[date, dict[str, SuggestionsMade]] = {}
    for event in events:
        if event.type == SuggestionsMade.event_type():
            made = SuggestionsMade.from_event(event)
            by_session.setdefault(made.session, {})[made.picker] = made
    return {day: list(pickers.values()) for day, pickers in sorted(by_session.items())}


def maturity(calendar: TradingCalendar, session: date, horizon: int) -> date:
    """The session `horizon` sessions after `session`."""
    day = session
    for _ in range(horizon):
        day = calendar.next_session(day)
    return day


def fill(events: EventStore, market: DailyBars, last_session: date) -> list[ForwardReturns]:
    """Record every forward return that has matured by `last_session` (the last complete session) and is
    not recorded yet; returns what was recorded now."""
    judged_symbols = {
        session: {s.symbol for m in made for s in m.suggestions}
        for session, made in judged(events.read(stream=DISCOVERY)).items()
    }
    return record_matured(events, market, last_session, judged_symbols)


def record_matured(
    events: EventStore, market: DailyBars, last_session: date, judged_symbols: Mapping[date, Iterable[str]]
) -> list[ForwardReturns]:
    """`fill` for the judged sessions given (session -> the symbols judged then), without reading every
    suggestion back (a backtest keeps the sessions still maturing; see app/backtest_discovery.py)."""
    written: list[ForwardReturns] = []
    for session, judged_now in sorted(judged_symbols.items()):
        symbols = sorted({*judged_now, BENCHMARK})
        for horizon in HORIZONS:
            matured = maturity(market.calendar, session, horizon)
            stream = forward_returns_stream(session, horizon)
            if matured > last_session or events.stream_version(stream):
                continue
            bars, unmeasured = priced(market, symbols, session, matured)
            closes = {s: (rows[0], rows[-1]) for s, rows in bars.items() if rows}
            returns = {
                s: first_last[1].close / first_last[0].close - 1
                for s, first_last in closes.items()
                if first_last[0].day == session and first_last[1].day == matured
            }
            if BENCHMARK not in returns:
                continue  # no benchmark close for the span: nothing to measure against yet
            for symbol in symbols:
                if symbol not in returns and symbol not in unmeasured:
                    unmeasured[symbol] = _no_span(closes.get(symbol), session, matured)
            outcome = ForwardReturns(
                session=session,
                horizon=horizon,
                matured=matured,
                benchmark_return=returns[BENCHMARK],
                returns=returns,
                unmeasured=dict(sorted(unmeasured.items())),
            )
            try:
                events.append([NewEvent.of(outcome, stream=stream)], expected_versions={stream: 0})
            except ConcurrencyError:
                continue  # another run recorded it first: the same numbers
            written.append(outcome)
    return written


def priced(
    market: DailyBars, symbols: Sequence[str], start: date, end: date
) -> tuple[dict[str, list[Bar]], dict[str, str]]:
    """The bars of `symbols` for start..end, and the symbols whose prices are missing for good with why (their
    providers answered and had nothing usable: an unknown or delisted symbol, a CSV file gone). One request as a rule;
    refused for good (market/failures.py: a MarketDataError), the benchmark is read alone, and the others in halves
    down to the symbols refused, so one candidate without prices leaves only itself unmeasured instead of stopping
    every later session's returns. A temporary failure (a provider out of reach, a rate limit) is raised at any step:
    a later run reads it all again, and nothing is recorded as missing. So is the benchmark's own failure for good:
    nothing can be measured without it (what stopped there is said, app/forward_returns_said.py)."""
    try:
        return market.bars(symbols, start, end).bars, {}
    except MarketDataError:
        if BENCHMARK not in symbols:
            raise
    found = market.bars([BENCHMARK], start, end).bars
    missing: dict[str, str] = {}
    _halves(market, [s for s in symbols if s != BENCHMARK], start, end, found, missing)
    return {s: found[s] for s in symbols if s in found}, missing


def _halves(
    market: DailyBars, symbols: list[str], start: date, end: date, found: dict[str, list[Bar]], missing: dict[str, str]
) -> None:
    """`symbols`' bars into `found`, each symbol refused for good alone into `missing`: some 2 log2(n) reads for one
    refused of n (each read of symbols already answered comes from the bar cache), not a read per symbol."""
    if not symbols:
        return
    try:
        found.update(market.bars(symbols, start, end).bars)
        return
    except MarketDataError as exc:
        if len(symbols) == 1:
            missing[symbols[0]] = own_words(exc)
            return
    half = len(symbols) // 2
    _halves(market, symbols[:half], start, end, found, missing)
    _halves(market, symbols[half:], start, end, found, missing)


def _no_span(first_last: tuple[Bar, Bar] | None, session: date, matured: date) -> str:
    """Why a symbol with prices has no return for session..matured (one listed within it, or delisted)."""
    if first_last is None:
        return f"no bars between {session} and {matured}"
    return f"no close on {session if first_last[0].day != session else matured}"


def matured(events: EventStore, asof_session: date) -> list[ForwardReturns]:
    """Every recorded forward return whose horizon had closed by `asof_session` (point-in-time)."""
    found = [ForwardReturns.from_event(e) for e in events.read(type=ForwardReturns.event_type())]
    return [f for f in found if f.matured <= asof_session]


def weights_asof(events: EventStore, asof_session: date, *, horizon: int, default: EnsembleWeights) -> EnsembleWeights:
    """The ensemble weights re-fitted from what had matured by `asof_session`, and from nothing later."""
    return refit_weights(
        judged(events.read(stream=DISCOVERY)), matured(events, asof_session), horizon=horizon, default=default
    )
