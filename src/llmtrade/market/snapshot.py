"""The market snapshot: indicators for the whole universe as of one instant, point-in-time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from llmtrade.config.models import BENCHMARK, Instrument
from llmtrade.domain.market import PriceAge
from llmtrade.domain.research import MarketSnapshot
from llmtrade.errors import LlmtradeError, MarketDataError, OperationalError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.daily_bars import DailyBars
from llmtrade.market.held_prices import HELD_SESSIONS, prices_ended
from llmtrade.market.indicators import indicators_of
from llmtrade.market.jumps import last_suspect
from llmtrade.market.validation import SeriesRejected, validate_bars

# Enough sessions for the 200-day average and the 52-week high.
HISTORY_SESSIONS = 300

_CALENDAR = TradingCalendar()


def take_snapshot(market: DailyBars, symbols: list[str], asof: datetime) -> MarketSnapshot:
    wanted = list(dict.fromkeys([*symbols, BENCHMARK]))
    series = market.bars_asof(wanted, asof, sessions=HISTORY_SESSIONS)
    # No indicator is computed across a gap, and "last session" is a session every symbol has a bar
    # for: MarketData validated what it returns; a series it did not (a stand-in's) is validated here.
    if not series.validated:
        problems = validate_bars(series.bars, market.calendar.sessions_between(series.start, series.end))
        if problems:
            raise MarketDataError(f"market snapshot as of {asof.isoformat()} refused: {SeriesRejected(problems)}")
    session = market.calendar.last_completed_session(asof)
    spy = series.bars.get(BENCHMARK) or None
    # The same bars give the same indicators: a week's snapshots (discovery's memory, then the research) of
    # one held bar cache compute each symbol once.
    indicators = {symbol: indicators_of(series.bars[symbol], spy) for symbol in symbols}
    # A last close the next session has not confirmed (a bad print, a split the feed left unadjusted): the risk gate
    # sizes nothing new off it (risk/gate.py SUSPECT_PRICE). What the fetch said of it is on record (market/service.py).
    suspect = {s: jump.looks_like() for s in symbols if (jump := last_suspect(s, series.bars[s])) is not None}
    return MarketSnapshot(
        asof=asof,
        session=session or max(ind.asof_day for ind in indicators.values()),
        source=series.provider + (" (cache)" if series.from_cache else ""),
        synthetic=series.synthetic,
        indicators=indicators,
        suspect=suspect,
    )


def price_age(snapshot: MarketSnapshot, symbol: str) -> PriceAge | None:
    """How old `symbol`'s close in `snapshot` is, when it is not of the snapshot's last session (a symbol its feed saw
    no trade of since: market/untraded.py `quiet_tail`); None when it is, or when `snapshot` has no close of it."""
    indicators = snapshot.indicators.get(symbol)
    return None if indicators is None else close_age(symbol, indicators.asof_day, snapshot.session)


def close_age(symbol: str, day: date, session: date | None) -> PriceAge | None:
    """How old `symbol`'s close of `day` is at `session` (the last session complete when it was read), or None when it
    is of that session (or `session` is unknown). Cheap for a fresh close (no calendar read): a backtest's checkpoint
    asks it of every account judged before the open."""
    if session is None or day >= session:
        return None
    after = [d for d in _CALENDAR.sessions_between(day, session) if d > day]
    return PriceAge(symbol=symbol, day=day, session=session, sessions=len(after)) if after else None


def week_snapshot(market: DailyBars, symbols: list[str], asof: datetime) -> MarketSnapshot:
    """`take_snapshot` of the week's universe, less each symbol whose prices ended (`left_out`: symbol -> why).

    One universe symbol whose daily feed stopped (a CSV file no longer written, a ticker delisted or renamed) failed
    the weekly run at every wake-up until assets.yaml was edited, holding back every account (an operator's trial).
    When the snapshot fails for good (not a TemporaryError: those still wait, exit 75), each symbol is judged as a
    held one is at checkpoints (market/held_prices.py `prices_ended`): those whose prices waiting will not bring are
    left out and the rest taken, when the feed had their prices up to some earlier day (an I/O error reading a file is
    no ended feed). The failure is raised as it was when the CSV folder's own files are to mend (exit 2), when nothing
    ended (the benchmark's prices stopping too say the whole feed is behind, a CSV folder not updated yet:
    `prices_ended`), or when no symbol would be left.
    Raises what `take_snapshot` raises."""
    try:
        return take_snapshot(market, symbols, asof)
    except LlmtradeError as failure:
        ended = ended_in(market, failure, symbols, asof)
    rest = [s for s in symbols if s not in ended]
    return take_snapshot(market, rest, asof).model_copy(update={"left_out": ended})


def ended_in(market: DailyBars, failure: LlmtradeError, symbols: Sequence[str], asof: datetime) -> dict[str, str]:
    """The symbols of `symbols` whose prices ended before `asof` (`ended_before`) that a read of them all failed on
    (`failure`): symbol -> why. One judgement for every reader that goes on without them (the week's snapshot, the
    leaderboard's closes: app/ended_closes.py).

    Raises `failure` itself when it is no such failure: a TemporaryError (a wait, exit 75); the CSV folder's own files
    to mend (exit 2: a file missing, a row unreadable), as documented; a failure not of some symbols (a refused key);
    the benchmark's too (a feed behind as a whole: a CSV folder not updated yet); or when no symbol it names ended, or
    none would be left. No symbol is asked again one by one in those cases."""
    short = failure.short if isinstance(failure, MarketDataError) else ()
    if failure.exit_code != OperationalError.exit_code or not short or BENCHMARK in short:
        raise failure  # a TemporaryError's exit is 75: waited for, as the CSV folder's own files (2) are mended
    ended = {s: why for s in short if s in symbols and (why := ended_before(market, s, asof)) is not None}
    if not ended or len(ended) == len(set(symbols)):
        raise failure
    return ended


def weekly_run_on(market: DailyBars, symbol: str, failure: LlmtradeError | None, asof: datetime) -> str:
    """What the weekly run does with universe symbol `symbol` whose read failed at `asof` (`failure`: why, None when
    not known), for a reader that went on without it (`status`, `positions list`, the postmortem): leaves it out of
    the week when its prices ended (`ended_before`, as `ended_in` judges it), else stops on it with the failure's exit
    (2: the CSV folder's own file to mend, a file missing or a row unreadable; 1 otherwise). They said "the weekly
    run leaves it out" of a missing file the weekly run then stopped on with exit 2, holding back every account."""
    code = OperationalError.exit_code if failure is None else failure.exit_code
    if code == OperationalError.exit_code and symbol != BENCHMARK and ended_before(market, symbol, asof) is not None:
        return f"the weekly run leaves it out of the week: take {symbol} out of the universe, or give it prices"
    return (
        f"the next weekly run stops on it (exit {code}), no account trading that week, until {symbol} has prices or "
        "leaves the universe"
    )


# How far back (calendar days) a symbol whose prices stop is looked at for the prices it had: a feed that ended has
# them up to some day; a file that cannot be read at all (an I/O error) has none, and is no ended feed.
_LOOK_BACK_DAYS = (7, 31, 92, 366)


def ended_before(market: DailyBars, symbol: str, asof: datetime) -> str | None:
    """Why `symbol`'s prices ended before `asof` (`prices_ended`), when the feed had them up to some earlier day."""
    ended = ended_through(market, symbol, asof)
    return None if ended is None else ended[0]


def ended_through(market: DailyBars, symbol: str, asof: datetime) -> tuple[str, date | None] | None:
    """`ended_before`, with the day of the last bar of the read that found the feed had prices (the nearest of the
    look-back windows to `asof`; None when that read held no bar of it): why, day. The symbol's last bar is that
    day's or a later one, before `asof`."""
    why = prices_ended(market, symbol, asof)
    if why is None:
        return None
    for days in _LOOK_BACK_DAYS:
        try:
            series = market.bars_asof([symbol], asof - timedelta(days=days), sessions=HELD_SESSIONS)
        except LlmtradeError:
            continue
        bars = series.bars.get(symbol)
        return why, bars[-1].day if bars else None
    return None


def priced(universe: list[Instrument], snapshot: MarketSnapshot) -> list[Instrument]:
    """The instruments of `universe` the week's snapshot priced: what research, the pitches and the chairman may name.
    A symbol it left out (prices ended), or one added to assets.yaml after it was frozen, has no indicators to judge
    by."""
    return [i for i in universe if i.symbol in snapshot.indicators]
