"""Why `status` valued positions at cost, and what it exits with for it (app/queries.py `status`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmtrade.app.results import StatusPricesFailed
from llmtrade.errors import LlmtradeError
from llmtrade.exits import exit_code_of, one_line, temporary


def unpriced(rows: Sequence[dict[str, Any]], prices: Mapping[str, float], missing: Mapping[str, str]) -> list[str]:
    """What to say of each held symbol this status has no price for (no provider has it: `missing` says why, by
    symbol): valued at cost, which two new users read as the account's equity with nothing to tell them."""
    holders: dict[str, list[str]] = {}
    for row in rows:
        for position in row["positions"]:
            if position.symbol not in prices:
                holders.setdefault(position.symbol, []).append(row["account_id"])
    return [
        f"{symbol} (held by {', '.join(accounts)}) has no price here: "
        f"{missing.get(symbol, 'no provider had it')}; valued at cost"
        for symbol, accounts in sorted(holders.items())
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


def universe_unpriced(universe: Sequence[str], held: set[str], missing: Mapping[str, str]) -> list[str]:
    """What to say of each universe symbol nobody holds or has an order in (`held`) that has no price (its prices
    ended: a CSV file no longer written, a ticker delisted or renamed): the weekly run leaves it out of its week
    (market/snapshot.py)."""
    return [
        f"{symbol} (in assets.yaml's universe, held by no account) has no price: {missing[symbol]}; the weekly run "
        f"leaves it out of the week: take {symbol} out of the universe, or give it prices"
        for symbol in universe
        if symbol in missing and symbol not in held
    ]
