"""`status`'s maximum drawdown: each account's equity at every close since the books began, marked as the leaderboard
marks it (analytics/curves.py `account_track`), then now.

The fills are the recorded ones and those the broker has made that no run has recorded yet (the paper broker fills a
weekly run's orders at the open; the next run records them: marked as cash till then, status gave acct_1 0 each
evening where the leaderboard later gave 0.22%). The closes are the bar cache's (what the runs, and earlier reads,
fetched): status is run often, and asking a provider for the whole history on every call after a close cost a fetch
of years (a cache covers a range only when one fetch spanned it). The last sessions a held symbol lacks are asked for
as status asks for its prices, together and then each alone (one symbol no provider has left every account without
a figure); an account holding a symbol with a close still missing gets no figure, and a warning names the symbol and
the session, rather than a curve that carries an old price over the gap. A held symbol whose prices ended (status's
`ended_held`: a CSV file no longer written, a ticker delisted or renamed) is no gap to mend: its closes are the
cache's, those it lacks to its last bar read once and then kept there (a few sessions), and it is marked at its last
close after it, as the leaderboard marks it and as status values it now (its drawdown was not shown while status
valued it at that close)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import NamedTuple

from llmtrade.analytics import curves
from llmtrade.app.container import Container
from llmtrade.app.marked_books import (
    adopted_symbols,
    fills_of,
    handed_over,
    priced_synthetic,
    sessions_of,
    trading_runs,
)
from llmtrade.domain.market import Bar
from llmtrade.domain.trading import Fill, Side
from llmtrade.market.ended_prices import bars_through
from llmtrade.market.held_prices import HELD_SESSIONS, held_bars
from llmtrade.market.service import MarketData
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.resets import recorded_resets
from llmtrade.storage.splits import recorded_splits


class Closed(NamedTuple):
    """An account's equity at the books' closes (chained across its broker account's resets, in the dollars of its
    first stretch), `scales`: those dollars per dollar of its books in each stretch (analytics/curves.py Track), and
    `sessions`: the day of each close (none: no curve, the account at its starting cash)."""

    equity: tuple[float, ...]
    scales: tuple[float, ...] = (1.0,)
    sessions: tuple[date, ...] = ()


# Each account's closes; None where a held symbol's close is missing (a warning says which).
Closing = dict[str, Closed | None]


def closing_equity(
    app: Container,
    storage: Storage,
    market: MarketData,
    until: datetime,
    broker_fills: Mapping[str, Sequence[Fill]],
    priced_now: Mapping[str, Sequence[Bar]],
    ended: Mapping[str, tuple[Bar, str]] | None = None,
) -> tuple[Closing, list[str]]:
    """Each configured account's equity at every close from the books' first session to the last complete at `until`
    (none while the books hold no trading run or fill: the account is at its starting cash), and what to warn of.
    `broker_fills`: each account's fills as its broker reports them (ours only), counted when not recorded yet;
    `priced_now`: the bars status priced the books with (their kind, when no run recorded a fetch); `ended`: the last
    bar of each held symbol whose prices ended, and why (status's `ended_held`), marked at that close from then on."""
    config = app.loaded.config
    events = storage.events
    recorded, _, _ = fills_of(events, {a.id for a in config.accounts.accounts})
    known = {(f.account_id, f.client_order_id) for f in recorded}
    fills = [
        *recorded,
        *(f for fs in broker_fills.values() for f in fs if (f.account_id, f.client_order_id) not in known),
    ]
    runs = trading_runs(events)
    times = [*(e.occurred_at for e in runs), *(f.filled_at for f in fills)]
    if not times:
        return {}, []
    calendar = app.calendar
    sessions = sessions_of(calendar, min(times), until)
    closes_at = [calendar.session_close(day) for day in sessions]
    accounts = {a.id for a in config.accounts.accounts}
    symbols = sorted({f.symbol for f in fills} | adopted_symbols(events, accounts))
    kind = priced_synthetic(events, {e.run_id for e in runs if e.run_id})
    if kind is None:
        kind = next((bars[0].synthetic for bars in priced_now.values() if bars), None)
    if kind is None and symbols:
        said = "max drawdown not shown: no run recorded what priced the books and no prices are at hand now"
        return dict.fromkeys((a.id for a in config.accounts.accounts), None), [said]
    closes: dict[str, dict] = (
        app.bar_cache(storage).closes(symbols, sessions[0], sessions[-1], synthetic=bool(kind)) if symbols else {}
    )
    recent = sessions[-HELD_SESSIONS:]
    for symbol, (last, _) in (ended or {}).items():
        closes[symbol] = _to_the_end(market, closes.get(symbol, {}), symbol, sessions, last, kind)
    stale = [s for s in _held(fills) if any(day not in closes.get(s, {}) for day in recent)]
    problems: dict[str, str] = {}
    if stale:
        # The sessions status prices at (held_prices.py): a read the cache answers when status's own did.
        found, problems = held_bars(market, stale, until, sessions=HELD_SESSIONS)
        for symbol, bars in found.items():
            closes[symbol].update({b.day: b.close for b in bars if b.synthetic == kind})
    fills += handed_over(events, accounts, closes)  # shares adopted (and released) by hand
    splits = recorded_splits(events)
    resets = recorded_resets(events)
    out: Closing = {}
    warnings: list[str] = []
    for account in config.accounts.accounts:
        try:
            track = curves.account_track(
                account.id,
                [f for f in fills if f.account_id == account.id],
                starting_cash=account.starting_cash,
                sessions=sessions,
                closes_at=closes_at,
                closes=closes,
                splits=splits,
                require_closes=True,
                resets=resets.get(account.id, ()),
            )
            out[account.id] = Closed(track.curve.equity, track.scales, track.curve.sessions)
        except curves.MissingClose as exc:
            out[account.id] = None
            back = len(sessions) - sessions.index(exc.day)
            why = problems.get(
                exc.symbol,
                f"not in the bar cache: no run fetched it; `llmtrade market bars {exc.symbol} --days {back}` does",
            )
            warnings.append(
                f"{account.id}: max drawdown not shown: it held {exc.symbol} at the close of {exc.day}, "
                f"and that close is missing ({why})"
            )
    return out, warnings


def _to_the_end(
    market: MarketData,
    cached: Mapping[date, float],
    symbol: str,
    sessions: Sequence[date],
    last: Bar,
    kind: bool | None,
) -> dict[date, float]:
    """`symbol`'s closes at `sessions` (its prices having ended with `last`): the cache's, then those from the first
    session to `last` the cache lacks on (market/ended_prices.py `bars_through`: read once, then kept in the cache: a
    range that ends at its last bar has no stale tail), then `last`'s close at each session after it. None of them is
    after the session it marks. No provider is asked when the cache holds them all: the whole range to `last` was read
    from the provider at every `status` (up to a year of bars, from the books' first session on)."""
    found = dict(cached)
    lacking = next((day for day in sessions if day <= last.day and day not in found), None)
    if lacking is not None:
        bars = bars_through(market, symbol, lacking, last.day)
        found.update({b.day: b.close for b in bars if b.synthetic == kind})
    found.update({day: last.close for day in sessions if day > last.day})
    return found


def _held(fills: Sequence[Fill]) -> list[str]:
    """The symbols some account holds after these fills (a split changes a position's size, never whether it is one)."""
    net: dict[tuple[str, str], int] = {}
    for f in fills:
        key = (f.account_id, f.symbol)
        net[key] = net.get(key, 0) + (f.qty if f.side is Side.BUY else -f.qty)
    return sorted({symbol for (_, symbol), qty in net.items() if qty})
