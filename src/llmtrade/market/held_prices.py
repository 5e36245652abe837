"""Prices of what is held, whether or not it is still in the universe.

The universe says what may be pitched, not what is valued: a symbol taken out of assets.yaml mid-week while an account
holds it was valued at its cost by every read and write that priced only the universe (status, checkpoints, the week
roll, the postmortem), and those made-up equities were stored as AccountValued for good, though the data had its
prices all along (an operator's trial). The universe is asked as before (one read, its failure the caller's); each
held symbol outside it is asked apart, so a symbol no provider has leaves the others priced and is named with why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from llmtrade.config.models import BENCHMARK
from llmtrade.domain.market import Bar
from llmtrade.errors import BarNotComplete, LlmtradeError, MarketDataError, TemporaryError
from llmtrade.market.daily_bars import DailyBars
from llmtrade.market.failures import own_words

# Sessions of bars read to price a held symbol: its last close, and the sessions before it that say whether that close
# is suspect (market/jumps.py `last_suspect`).
HELD_SESSIONS = 10


def bars_with_held(
    market: DailyBars,
    universe: Sequence[str],
    held: Sequence[str],
    asof: datetime,
    *,
    sessions: int,
    errors: dict[str, LlmtradeError] | None = None,
) -> tuple[dict[str, list[Bar]], dict[str, str]]:
    """About `sessions` sessions of bars to `asof`: `universe`'s as `bars_asof` gives them (raising as it does), and
    those of each symbol of `held` outside it; with why each held symbol that no provider has is left out (`errors`:
    filled in with each one's failure, as `held_bars` does)."""
    bars: dict[str, list[Bar]] = dict(market.bars_asof(list(universe), asof, sessions=sessions).bars)
    extra, problems = held_bars(market, [s for s in held if s not in bars], asof, sessions=sessions, errors=errors)
    return bars | extra, problems


def held_bars(
    market: DailyBars,
    symbols: Sequence[str],
    asof: datetime,
    *,
    sessions: int,
    errors: dict[str, LlmtradeError] | None = None,
) -> tuple[dict[str, list[Bar]], dict[str, str]]:
    """The bars of `symbols` (held outside the universe), asked together and, when that fails, each alone; why each
    symbol without bars has none. `errors`, when given, is filled in with each such symbol's failure (its exit code
    says whether waiting mends it: a reader that values the symbol at cost exits with it)."""
    failed: dict[str, LlmtradeError] = {} if errors is None else errors
    wanted = list(dict.fromkeys(symbols))
    if not wanted:
        return {}, {}
    try:
        return {s: list(b) for s, b in market.bars_asof(wanted, asof, sessions=sessions).bars.items() if b}, {}
    except LlmtradeError:
        pass  # one symbol no provider has fails the lot: each is asked alone
    found: dict[str, list[Bar]] = {}
    problems: dict[str, str] = {}
    for symbol in wanted:
        try:
            bars = market.bars_asof([symbol], asof, sessions=sessions).bars.get(symbol)
        except LlmtradeError as exc:
            problems[symbol] = str(exc)
            failed[symbol] = exc
            continue
        if bars:
            found[symbol] = list(bars)
        else:
            problems[symbol] = f"no bars of {symbol} to {asof.isoformat()}"
            failed[symbol] = MarketDataError(problems[symbol])
    return found, problems


def prices_ended(market: DailyBars, symbol: str, now: datetime) -> str | None:
    """Why `symbol` will get no price by waiting, or None when waiting may bring one. The daily feed decides: when it
    has the symbol's bars to the last session closed at `now` (or cannot be reached: TemporaryError), a price missing
    now is a moment's (a halt, today's CSV row not written yet); when it answers that the symbol's prices stop before
    that session (a file that stopped getting rows, a ticker delisted or renamed) or that it has none, every wait
    would wait the same way for ever. Unless the benchmark's stop there too: then the feed is behind as a whole (a CSV
    folder whose download script has not run yet), not the symbol, and a later run gets its price: every holder was
    skipped as "waiting will not bring one", told to take the symbol out of the universe (an operator's trial). The
    benchmark's own prices are never taken as ended (the market's reference, no delisting: its feed stopping is a
    feed to mend, waited for as before `prices_ended` was). Asks
    the feed for the symbol, and for the benchmark when the symbol's prices stop; raises nothing of its own."""
    why = _stopped(market, symbol, now)
    if why is None or symbol == BENCHMARK or _stopped(market, BENCHMARK, now) is not None:
        return None
    return why


def _stopped(market: DailyBars, symbol: str, now: datetime) -> str | None:
    """Why the feed answers that `symbol`'s prices stop before the last session closed at `now`, or None."""
    try:
        bars = market.bars_asof([symbol], now, sessions=HELD_SESSIONS).bars.get(symbol)
    except TemporaryError:
        return None
    except LlmtradeError as exc:
        return own_words(exc)
    return None if bars else f"no bars of {symbol} to {now.isoformat()}"


def held_closes(market: DailyBars, symbols: Sequence[str], asof: datetime) -> tuple[dict[str, float], dict[str, str]]:
    """Each of `symbols`' close at the last session complete at `asof`, as `held_bars` finds them; why each other has
    none."""
    bars, problems = held_bars(market, symbols, asof, sessions=HELD_SESSIONS)
    return {s: b[-1].close for s, b in bars.items()}, problems


def closes_with_held(
    market: DailyBars,
    universe: Sequence[str],
    held: Sequence[str],
    asof: datetime,
    *,
    anchor: str | None = None,
    errors: dict[str, LlmtradeError] | None = None,
) -> tuple[dict[str, float], dict[str, str]]:
    """The last closes at `asof` of `universe` (raising as `bars_asof` does) and of each symbol of `held` outside it
    that a provider has; why each other held symbol has none. With `anchor`, a universe symbol whose prices ended is
    named with why as a held one is, not raised (`_or_apart`): a postmortem failed at every wake-up on such a symbol,
    holding back the next weekly run (an operator's trial). `errors`: as `bars_with_held` fills it."""

    def read(some: Sequence[str], others: Sequence[str]) -> tuple[dict[str, list[Bar]], dict[str, str]]:
        return bars_with_held(market, some, others, asof, sessions=HELD_SESSIONS, errors=errors)

    bars, problems = read(universe, held) if anchor is None else _or_apart(read, universe, held, anchor=anchor)
    return {s: b[-1].close for s, b in bars.items() if b}, problems


def bars_or_before(
    market: DailyBars,
    universe: Sequence[str],
    held: Sequence[str],
    now: datetime,
    *,
    sessions: int,
    errors: dict[str, LlmtradeError] | None = None,
) -> tuple[dict[str, list[Bar]], dict[str, str], datetime, BarNotComplete | None]:
    """`bars_with_held` at `now`, the instant they are the last closes at, and why that is not `now`. When the only
    thing short is the last session's bar, final at no provider yet (BarNotComplete: Alpaca's SIP feed to 16:16,
    Yahoo's to 16:20), the session before's closes and that error: a read (`status`, `positions list`) values there and
    says why (`not_final`), a command that writes from today's close refuses with it (exit 75), where a job waits."""
    try:
        return *bars_with_held(market, universe, held, now, sessions=sessions, errors=errors), now, None
    except BarNotComplete as exc:
        asof = close_before(market, exc)
        if errors is not None:
            errors.clear()
        return *bars_with_held(market, universe, held, asof, sessions=sessions, errors=errors), asof, exc


def readable_bars_or_before(
    market: DailyBars,
    universe: Sequence[str],
    held: Sequence[str],
    now: datetime,
    *,
    anchor: str,
    sessions: int,
    errors: dict[str, LlmtradeError] | None = None,
) -> tuple[dict[str, list[Bar]], dict[str, str], datetime, BarNotComplete | None]:
    """`bars_or_before`, for a read (`status`, `positions list`) that values what is held: when the universe's one
    read failed for good for one universe symbol (its prices ended: a CSV file no longer written), every position was
    valued at cost and the read exited 1 (an operator's trial). See `_or_apart`: the reader says what is held or
    ordered in a symbol it names."""

    def read(
        some: Sequence[str], others: Sequence[str]
    ) -> tuple[dict[str, list[Bar]], dict[str, str], datetime, BarNotComplete | None]:
        return bars_or_before(market, some, others, now, sessions=sessions, errors=errors)

    return _or_apart(read, universe, held, anchor=anchor)


_Read = TypeVar("_Read", bound=tuple[Any, ...])


def _or_apart(
    read: Callable[[Sequence[str], Sequence[str]], _Read],
    universe: Sequence[str],
    held: Sequence[str],
    *,
    anchor: str,
) -> _Read:
    """`read(universe, held)` (a read whose second item is why each symbol asked apart has no bars), and when its
    universe part fails for good, `read([anchor], every other symbol)`: `anchor` alone read as the universe (its failure
    the caller's, as the universe's was) and the rest asked apart, as held ones are, each one without bars named with
    why, for the reader to value what holds it as it values a held symbol no provider has. When the anchor fails for
    good too, the universe's failure is raised; a TemporaryError always."""
    try:
        return read(universe, held)
    except TemporaryError:
        raise
    except LlmtradeError as failure:
        try:
            return read([anchor], [s for s in dict.fromkeys([*universe, *held]) if s != anchor])
        except TemporaryError:
            raise
        except LlmtradeError:
            # The anchor's prices fail too: the feed is behind as a whole (a CSV folder not updated yet), and the
            # universe's failure names every file, where the anchor's alone named one.
            raise failure from None


def close_before(market: DailyBars, pending: BarNotComplete) -> datetime:
    """The close of the session before the one whose bar is final at no provider yet: the last a read can show."""
    return market.calendar.session_close(market.calendar.previous_session(pending.session))


def not_final(pending: BarNotComplete) -> str:
    """Why the closes `bars_or_before` gave are the session before's: each provider's reason, which says from when."""
    return f"{pending.session}'s close is not final yet ({'; '.join(pending.reasons)})"
