"""Sessions a feed saw no trade of a symbol in: no data error, and no bar to make up either.

Alpaca's bars are made of the trades its feed saw, and a day without one has no bar. On the `iex` feed (the free
plan's) that is ordinary: IEX carries a few percent of US volume, and a thinly traded symbol goes whole sessions
without a trade there (alpacahq/alpaca-trade-api-js#43, iexg/IEX-API#1604). On every venue (the `sip` feed), it is a
halt through the whole session. Validated as any answer, such a series was refused as a hole in the data ("add the
missing session(s) or re-export the data", exit 1, at every run for as long as the session was in the range read), and
a halt made every run wait for Yahoo for 7 days first (market/yfinance_data.py FILLS_WITHIN).

So a provider says which sessions its feed saw no trade of (`UntradedSessions`): the symbol is asked of the next
provider, which may have the session whole (Yahoo's bars are the consolidated tape's), and the other symbols' bars are
kept. Only when no provider has the symbol whole is it read without those sessions (`taken`): said as a warning and
recorded (SessionsUntraded), never filled from the day before (a fill at a price nobody traded at, an order on a halted
day filled), and never cached (the cache's ranges promise every session: market/service.py), so each read asks again
and a provider that has the session later supplies it.

The range's last sessions are such sessions too, up to QUIET_TAIL of them, when the feed has each of them of the
answer's other symbols (`quiet_tail`): a stale series there made the whole answer refused (every symbol asked of
Yahoo), and with Alpaca alone the symbol was judged no longer trading and left out of the week ("take it out of the
universe"). A thin name's quiet Thursday and Friday on IEX, or a halt of a few days, is no delisting. A longer
silence, or the whole feed behind (no symbol with the last session), is still refused as stale: a symbol no feed saw
a trade of for more than two trading weeks while the others traded is not plausibly quiet.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date
from itertools import pairwise

from llmtrade.config.models import BENCHMARK
from llmtrade.domain.market import Bar
from llmtrade.domain.wording import named_first
from llmtrade.errors import MarketDataMissing
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.failures import few
from llmtrade.market.validation import validate_bars

_CALENDAR = TradingCalendar()

# How many of a range's last sessions a symbol may lack, while its feed has each of them of the answer's other symbols,
# to be read as sessions without a trade of it (a thin name's quiet days on IEX, a halt) rather than as its prices
# ending: two trading weeks. A thinly traded name goes days without a trade on IEX (a few percent of US volume), and a
# halt lasts as long as an SEC trading suspension may, 10 trading days (Exchange Act 12(k)); a symbol no trade of which
# the feed saw for longer while it saw the others trade is taken as ended (a delisting, a feed that dropped it): more is
# left to the stale-series checks. Said in the warning of a symbol read so (`untraded_warning`).
QUIET_TAIL = 10


class UntradedSessions(MarketDataMissing):
    """`provider`'s answer in which some symbols (`symbols`) lack sessions between their bars that its feed saw no
    trade of them in: the next provider is asked for them, the others' bars (`answered`) are kept. `untraded`: each
    such symbol's bars and the sessions it lacks, which the market service reads it with when no provider has it
    whole (`taken`); `why`: the reason said of them."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        why: str,
        symbols: Sequence[str],
        answered: Mapping[str, Sequence[Bar]],
        untraded: Mapping[str, tuple[list[Bar], list[date]]],
    ):
        super().__init__(message, symbols=symbols, answered=answered)
        self.provider = provider
        self.why = why
        self.untraded = dict(untraded)
        # Of `untraded`, each symbol's sessions at the range's end (`quiet_tail`): not a delisting, whoever judges one
        # from this answer (app/backtest_history.py `_ends_early`).
        self.tail = {s: tail for s, (bars, days) in self.untraded.items() if bars and (tail := _after(bars, days))}


def inner_gaps(bars: Sequence[Bar], start: date, end: date) -> list[date]:
    """The NYSE sessions of start..end between the first and the last of `bars` (one symbol's, ascending) that have no
    bar. None for bars that are not one a session each in order (a bar on a closed day, a date twice): those are the
    validator's to refuse, not days without a trade."""
    inside = _days_in(bars, start, end)
    if len(inside) < 2:
        return []
    have = set(inside)
    return [day for day in _CALENDAR.sessions_between(inside[0], inside[-1]) if day not in have]


def quiet_tail(bars: Sequence[Bar], start: date, end: date, seen: Collection[date]) -> list[date]:
    """The range's last sessions `bars` (one symbol's) lack after its last bar, when the feed answered each of them of
    other symbols (`seen`: the days any symbol of the answer has a bar) and they are at most QUIET_TAIL; else none (a
    feed behind as a whole, a longer silence: the stale checks' to judge)."""
    inside = _days_in(bars, start, end)
    sessions = _CALENDAR.sessions_between(start, end)
    if not inside or not sessions:
        return []
    after = [day for day in sessions if day > inside[-1]]
    if len(after) > QUIET_TAIL or not all(day in seen for day in after):
        return []
    return after


def _days_in(bars: Sequence[Bar], start: date, end: date) -> list[date]:
    """The days of `bars` in start..end; none when they are not one a session each in order (the validator's)."""
    inside = [bar.day for bar in bars if start <= bar.day <= end]
    if any(b <= a for a, b in pairwise(inside)) or not all(map(_CALENDAR.is_session, inside)):
        return []
    return inside


def untraded_in(
    provider: str,
    feed: str,
    why: str,
    answer: Mapping[str, list[Bar]],
    start: date,
    end: date,
    *,
    tail: bool = False,
    seen: Collection[date] = (),
) -> UntradedSessions | None:
    """The failure `provider` raises for `answer` (its bars by symbol, of start..end) when some symbols lack sessions
    between their bars, or with `tail` the range's last sessions the feed has of the others (`quiet_tail`: a feed whose
    bars are made of the trades it saw, Alpaca's): `feed` names where they were looked for ("alpaca's iex feed"), `why`
    says what a session without a bar means there; `seen`: sessions the feed is known to have of a symbol not in
    `answer` (the benchmark's, asked of it for a one-symbol read: `short_of_end`); None when no symbol lacks one."""
    answered = {bar.day for bars in answer.values() for bar in bars if start <= bar.day <= end}
    seen = answered | set(seen) if tail else set()
    # Not the benchmark's (SPY, the most traded fund, has a trade on every venue every session): its bars stopping is
    # a feed to mend, refused as stale as before.
    untraded = {
        s: (bars, days)
        for s, bars in answer.items()
        if (days := inner_gaps(bars, start, end) + (quiet_tail(bars, start, end, seen) if s != BENCHMARK else []))
    }
    if not untraded:
        return None
    empty = [s for s, bars in answer.items() if not bars]
    listed = "; ".join(f"{s} on {_days(days)}" for s, (_, days) in untraded.items())
    message = f"{feed} has no bar of {listed}: {why}; asked of the next provider" + (
        f"; no bars at all for {few(empty)}" if empty else ""
    )
    answered = {s: bars for s, bars in answer.items() if bars and s not in untraded}
    return UntradedSessions(
        message, provider=provider, why=why, symbols=[*untraded, *empty], answered=answered, untraded=untraded
    )


def ended_untraded(exc: Exception, ends: Mapping[str, date]) -> dict[str, list[Bar]]:
    """Of `exc`'s symbols without a bar of some sessions (an UntradedSessions), those known to have stopped trading
    (`ends`: a backtest's delisted, their last session) whose sessions without a bar are all after their end: their
    bars, a history that ends there (valid so: market/validation.py `ends`), not quiet days."""
    if not ends or not isinstance(exc, UntradedSessions):
        return {}
    return {s: bars for s, (bars, days) in exc.untraded.items() if s in ends and all(day > ends[s] for day in days)}


# A symbol read without sessions its feed saw no trade in (`taken`): the provider's failure, its bars, those sessions.
Untraded = tuple[UntradedSessions, list[Bar], list[date]]


def taken(
    errors: Sequence[Exception], symbols: Sequence[str], sessions: Sequence[date], ends: Mapping[str, date]
) -> dict[str, Untraded]:
    """Of `symbols` (those no provider supplied), each one a provider answered without some sessions its feed saw no
    trade of (`errors`, the providers' failures of this read): that answer, its bars and those sessions, when its bars
    are valid on the range's other sessions (`sessions`; `ends`: the market service's). The first provider's wins."""
    out: dict[str, Untraded] = {}
    for exc in errors:
        if not isinstance(exc, UntradedSessions):
            continue
        for symbol, (bars, days) in exc.untraded.items():
            if symbol not in symbols or symbol in out:
                continue
            kept = [bar for bar in bars if sessions and sessions[0] <= bar.day <= sessions[-1]]
            others = [day for day in sessions if day not in set(days)]
            if kept and not validate_bars({symbol: kept}, others, ends=ends):
                out[symbol] = (exc, kept, days)
    return out


def untraded_warning(symbol: str, days: Sequence[date], why: str, *, last: date | None = None) -> str:
    """What a read says of `symbol` read without `days` (`taken`); `last`: its last bar, when `days` end the range (and
    then how long a silence is read so: QUIET_TAIL)."""
    quiet = len([day for day in days if last is not None and day > last])
    since = "the session before" if quiet == 1 else f"{quiet} sessions before the range's end"
    ended = (
        f"; its last bar is {last}, {since}: its prices are not taken as ended, it is priced at that close (up to "
        f"{QUIET_TAIL} sessions without a trade of a symbol the feed has of others are read so, as long as an SEC "
        "trading suspension may last; a longer silence is taken as its prices ending)"
        if last is not None
        else ""
    )
    return (
        f"{symbol} has no bar of {_days(days)}: {why}; no other provider has it either, so {symbol} is read without "
        f"it (not filled from the day before, and not cached: each read asks again){ended}"
    )


def short_of_end(answer: Mapping[str, Sequence[Bar]], start: date, end: date) -> date | None:
    """The first session after the earliest last bar of `answer`'s symbols whose bars stop short of the range's last
    session, when the answer has no symbol with that session to show the feed has it (a one-symbol read: a held symbol
    outside the universe is read alone); None otherwise. A provider whose feed has no bar of a session without a trade
    asks it for the benchmark's bars from there (SPY trades on every venue every session) and gives their days to
    `untraded_in` (`seen`): else a thin name's quiet days read alone were a stale series, "its prices ended"."""
    sessions = _CALENDAR.sessions_between(start, end)
    if not sessions or BENCHMARK in answer:
        return None
    lasts = [bars[-1].day for bars in answer.values() if bars]
    if not lasts or max(lasts) >= sessions[-1]:
        return None
    return next(day for day in sessions if day > min(lasts))


def _after(bars: Sequence[Bar], days: Sequence[date]) -> list[date]:
    """Of `days`, those after the last of `bars`: the range's end a feed saw no trade of the symbol in."""
    return [day for day in days if day > bars[-1].day]


def _days(days: Sequence[date]) -> str:
    return named_first([str(day) for day in days], 3)
