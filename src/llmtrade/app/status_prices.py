"""Why `status` valued positions at cost, and what it exits with for it (app/queries.py `status`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from llmtrade.app.results import StatusPricesFailed
from llmtrade.domain.market import Bar
from llmtrade.errors import LlmtradeError
from llmtrade.exits import exit_code_of, one_line, temporary
from llmtrade.market.ended_prices import held_ended, last_close_note
from llmtrade.market.service import MarketData
from llmtrade.market.snapshot import weekly_run_on


def unpriced(rows: Sequence[dict[str, Any]], prices: Mapping[str, float], missing: Mapping[str, str]) -> list[str]:
    """What to say of each held symbol this status has no price for (no provider has it: `missing` says why, by
    symbol): valued at cost, which two new users read as the account's equity with nothing to tell them."""
    return [
        f"{symbol} (held by {', '.join(accounts)}) has no price here: "
        f"{missing.get(symbol, 'no provider had it')}; valued at cost"
        for symbol, accounts in _holders(rows, lambda symbol: symbol not in prices)
    ]


def unpriced_orders(rows: Sequence[dict[str, Any]], missing: Mapping[str, str], symbols: Sequence[str]) -> list[str]:
    """What to say of each symbol of `symbols` (held by nobody, an order of llmtrade's queued in it) this status has
    no price for: the fill that price would value (at the open, or the close of a session priced at its open) is not
    in these figures. Said apart from positions at cost: a trial's status said "positions valued at cost" of an
    account that held nothing in the symbol."""
    return [
        f"{symbol} (an order of {', '.join(accounts)} whose fill is not recorded yet; nothing held) has no price here: "
        f"{missing.get(symbol, 'no provider had it')}; the order's fill cannot be valued until it has one"
        for symbol in symbols
        if (accounts := [r["account_id"] for r in rows if any(o.symbol == symbol for o in r["open_orders"])])
    ]


def unread_prices(failures: Sequence[LlmtradeError]) -> tuple[str | None, StatusPricesFailed | None]:
    """Why status valued positions at cost, as its exit: a wait (`prices_wait`, exit 75) when every failure is
    temporary, else what to mend (`prices_failed`, with the exit of the worst: 2 for the CSV folder's own files, else
    1). A missing CSV file exited 0 behind one warning line, its positions at cost (and an order filled at the open not
    shown at all), which a user reading status weekly, or a script reading its exit, took for the books."""
    if not failures:
        return None, None
    said = "; ".join(dict.fromkeys(one_line(str(e)) for e in failures))
    if all(temporary(e) for e in failures):
        return said, None
    code = max(exit_code_of(e) for e in failures if not temporary(e))
    return None, StatusPricesFailed(reason=said, exit_code=code)


def universe_unpriced(
    market: MarketData,
    universe: Sequence[str],
    held: set[str],
    missing: Mapping[str, str],
    errors: Mapping[str, LlmtradeError],
    asof: datetime,
) -> list[str]:
    """What to say of each universe symbol nobody holds or has an order in (`held`) that has no price (`missing`: why;
    `errors`: its failure, by symbol), and what the weekly run does with it (market/snapshot.py `weekly_run_on`): its
    prices ended (a CSV file no longer written, a ticker delisted or renamed), left out of the week; its CSV file
    missing or unreadable, the weekly run stops on it (exit 2). Such a reader's own figures lack nothing, so it goes on
    and says it."""
    return [
        f"{symbol} (in assets.yaml's universe, held by no account) has no price: {missing[symbol]}; "
        + weekly_run_on(market, symbol, errors.get(symbol), asof)
        for symbol in universe
        if symbol in missing and symbol not in held
    ]


def ended_held(
    market: MarketData,
    held: set[str],
    missing: dict[str, str],
    errors: dict[str, LlmtradeError],
    asof: datetime,
) -> dict[str, tuple[Bar, str]]:
    """Of the symbols status has no price for (`missing`: why, by symbol), each `held` (or ordered) whose prices ended
    before `asof`, with its last bar and why (market/ended_prices.py `held_ended`): valued there, as the
    leaderboard and the report value it, where status valued it at cost (exit 1) and showed a week P/L of 0 for it.
    Each is taken out of `missing` and `errors` (in place): no longer a price that failed. A price merely late, or a
    symbol with no bar at all, stays in them: waited for (exit 75), or at cost and said, as before."""
    ended = held_ended(market, missing, held, asof)
    for symbol in ended:
        missing.pop(symbol, None)
        errors.pop(symbol, None)
    return ended


def at_last_close(rows: Sequence[dict[str, Any]], ended: Mapping[str, tuple[Bar, str]]) -> list[str]:
    """What to say of each held symbol valued at its last close (`ended_held`): which accounts, the day, why, and what
    to do: that close is no price to trade at."""
    return [
        f"{last_close_note(symbol, *ended[symbol])} (held by {', '.join(accounts)}): close the position at the "
        f"broker, take {symbol} out of the universe, or give it prices"
        for symbol, accounts in _holders(rows, lambda symbol: symbol in ended)
    ]


def _holders(rows: Sequence[dict[str, Any]], wanted: Callable[[str], bool]) -> list[tuple[str, list[str]]]:
    """Each `wanted` symbol some row's positions hold, with the ids of the accounts holding it, by symbol."""
    holders: dict[str, list[str]] = {}
    for row in rows:
        for position in row["positions"]:
            if wanted(position.symbol):
                holders.setdefault(position.symbol, []).append(row["account_id"])
    return sorted(holders.items())
