"""A universe symbol whose daily prices ended in the live books (a CSV file no longer written, a ticker delisted or
renamed), as the leaderboard and the report read and value it.

The weekly run leaves such a symbol out of its week (market/snapshot.py `week_snapshot`, MarketSnapshotTaken.left_out)
and runs on the rest, but the leaderboard's one read of every symbol's closes over the books' range still failed on
its file: `leaderboard` and `report` exited 1 at every call. The judgement of which symbol ended is the weekly run's
(`ended_before`): a feed behind as a whole (the benchmark's prices stopping too) fails as before, a TemporaryError
still waits. A symbol that ended is then read as a backtest reads a delisted one (app/marked_books.py: its bars valid
through its last one), its closes stopping at its last bar in the range; one with no bar in the range has none there.
What follows from its closes stopping is the backtest's judgement (analytics/baseline_tracks.py, domain/backtests.py
`delisted_note`): EQUAL_WEIGHT leaves it out of every rebalance after its last close and keeps any shares of it at
that close; an account's position in it is marked at its last close, as the books mark any holding without a close.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

from llmtrade.domain.research import MarketSnapshotTaken
from llmtrade.domain.trading import Fill, Side
from llmtrade.errors import LlmtradeError, MarketDataError
from llmtrade.market.ended_prices import bars_to_end
from llmtrade.market.series import BarSeries
from llmtrade.market.service import MarketData
from llmtrade.market.snapshot import ended_in
from llmtrade.market.validation import SeriesRejected, validate_bars
from llmtrade.storage.event_store import EventStore

# The weeks' snapshots, by type alone: what each week left out.
SNAPSHOT_TYPES = [MarketSnapshotTaken.event_type()]


def bars_past_ended(
    market: MarketData, symbols: Sequence[str], start: date, end: date, ended: dict[str, date | None]
) -> BarSeries:
    """`market.bars(symbols, start, end)`; when that fails for good for some symbols whose prices ended before the
    range's last session (`ended_before` at its close), the others read so and each of those with its bars to its last
    one in start..end, validated as a backtest's delisted symbol is (through that day), none when it has none there.
    `ended` is filled in with each such symbol's last day in the range (None: none in it). Their bars are read from
    the provider, not kept in the bar cache: a range recorded there as read would vouch for a stale tail to every
    later read.

    Raises what `market.bars` raised when its failure is a TemporaryError (a wait), the CSV folder's own files to mend
    (exit 2), not of some symbols, of the benchmark too (the feed behind as a whole), when no symbol it names ended, or
    when none would be left; MarketDataError when the read without them fails, or their bars are invalid."""
    try:
        return market.bars(list(symbols), start, end)
    except LlmtradeError as failure:
        gone = ended_in(market, failure, symbols, market.calendar.session_close(end))
    found = {s: bars_to_end(market, s, start, end) for s in gone}
    ended.update({s: bars[-1].day if bars else None for s, bars in found.items()})
    series = market.bars([s for s in symbols if s not in found], start, end)
    kept = {s: bars for s, bars in found.items() if bars}
    ends = {s: bars[-1].day for s, bars in kept.items()}
    problems = validate_bars(kept, market.calendar.sessions_between(start, end), ends=ends)
    if problems:
        raise MarketDataError(f"prices ended in {start}..{end} refused: {SeriesRejected(problems)}")
    return replace(series, bars={**series.bars, **kept})


def left_out_weeks(events: EventStore) -> dict[date, dict[str, str]]:
    """Each week's symbols its market snapshot left out, their prices having ended (MarketSnapshotTaken.left_out):
    week id -> symbol -> why. Read from the payload: the indicators are not needed."""
    weeks: dict[date, dict[str, str]] = {}
    for event in events.read(type=SNAPSHOT_TYPES):
        left = (event.payload.get("snapshot") or {}).get("left_out") or {}
        if event.week_id is not None and left:
            weeks.setdefault(event.week_id, {}).update({str(s): str(why) for s, why in left.items()})
    return weeks


def tradable_weeks(
    weekly: Mapping[date, Sequence[str]], left_out: Mapping[date, Mapping[str, str]], universe: Sequence[str]
) -> dict[date, list[str]]:
    """What EQUAL_WEIGHT may weigh each week: the week's universe (`weekly`, else `universe`) less the symbols its
    snapshot left out (`left_out_weeks`): what the committee could trade that week."""
    weeks = {week: list(symbols) for week, symbols in weekly.items()}
    for week, left in left_out.items():
        weeks[week] = [s for s in weekly.get(week, universe) if s not in left]
    return weeks


def ended_note(
    ended: Mapping[str, date | None],
    left_out: Mapping[date, Mapping[str, str]],
    fills: Sequence[Fill],
    start: date,
) -> str | None:
    """What the leaderboard says of the symbols whose prices ended (`ended`: by `bars_past_ended`, with their last day
    in the books' range from `start`, None before it; and those a week's snapshot left out): when, what EQUAL_WEIGHT
    did with its weight, and how a position still held in it is valued. None when there are none."""
    weeks: dict[str, list[date]] = {}
    for week, left in sorted(left_out.items()):
        for symbol in left:
            weeks.setdefault(symbol, []).append(week)
    symbols = sorted({*ended, *weeks})
    if not symbols:
        return None
    shown = []
    for symbol in symbols:
        day = ended.get(symbol)
        said = f"its last close {day}" if day is not None else f"no close from {start} on"
        if symbol in weeks:
            said += f"; left out of the universe of week {', '.join(str(w) for w in weeks[symbol])}"
        shown.append(f"{symbol} ({said})")
    holders = _holders(fills, symbols)
    held = (
        "; "
        + "; ".join(f"{', '.join(accounts)} still held {symbol}" for symbol, accounts in sorted(holders.items()))
        + ", marked at its last close to the end, as status and the postmortem value it"
        if holders
        else "; no account held it at the end"
    )
    return (
        "prices ended (a feed that stopped: a file no longer written, a ticker delisted or renamed): "
        f"{'; '.join(shown)}. "
        "As a backtest does with a delisted symbol, EQUAL_WEIGHT held only what it could trade each week: it left each "
        "out of every rebalance after its last close, spread its weight equally over the symbols with a close, and "
        f"kept any shares of it it held, valued at that close{held}. Take it out of assets.yaml's universe, or give it "
        "prices"
    )


def _holders(fills: Sequence[Fill], symbols: Sequence[str]) -> dict[str, list[str]]:
    """The accounts whose fills leave them holding each of `symbols` (net shares not zero)."""
    net: dict[tuple[str, str], float] = {}
    for fill in fills:
        if fill.symbol in symbols:
            key = (fill.symbol, fill.account_id)
            net[key] = net.get(key, 0.0) + (fill.qty if fill.side is Side.BUY else -fill.qty)
    holders: dict[str, list[str]] = {}
    for (symbol, account), qty in sorted(net.items()):
        if qty:
            holders.setdefault(symbol, []).append(account)
    return holders
