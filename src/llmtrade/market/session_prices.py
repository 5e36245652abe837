"""Which symbols no quote provider of a run can price in session, whatever the wait, and why.

A live week on a CSV folder of daily files only (no `intraday/SYMBOL.csv`): a daily file's row of a session is written
after its close, so in session such a symbol has no price of that session at all (csv_quotes.py prices it at its daily
row's open only when that row is there). A trial's every in-session checkpoint waited for it (exit 75 at each wake-up)
and closed not judged past its deadline, and `config validate` and `status` had said nothing. `never_in_session` is what
they say ahead (app/session_prices.py) and what a checkpoint skips its holders for at its first wake-up
(workflows/checkpoint_prepare.py). A provider answers for itself (`QuoteProvider.never_in_session`): the network ones
price in session ({}), one without its keys never does, a CSV folder as `csv_gaps` finds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from llmtrade.errors import LlmtradeError
from llmtrade.market.calendar import new_york_date
from llmtrade.market.csv_files import INTRADAY_DIR, intraday_file
from llmtrade.market.csv_folder import CANNOT_READ, unusable
from llmtrade.market.provider import BarProvider
from llmtrade.market.quote_provider import QuoteProvider

# What mends it, said with it (app/session_prices.py).
SESSION_FIX = (
    "write intraday files into the folder (intraday/SYMBOL.csv: Timestamp,Price, README's Prices now; a later row is "
    "read at the next look), or set a provider that prices in session (alpaca, yfinance) in market_data.providers or "
    "LLMTRADE_MARKET_PROVIDERS"
)


def csv_gaps(folder: Path, daily: BarProvider, symbols: list[str], now: datetime | None) -> dict[str, str]:
    """The symbols of `symbols` the CSV folder `folder` (its daily files read by `daily`) has no in-session price of,
    and why (the same words for each: `never_in_session` groups them): no intraday file and, at `now`, no daily row of
    `now`'s session either (`now` None: the folder as it stands, for any session). A file present but out of reach, or
    a daily file that cannot be read, is no gap: the quote that reads it says what is wrong with it."""
    why = (
        f"the CSV folder {folder} has daily files only for them (no {INTRADAY_DIR}/SYMBOL.csv, Timestamp,Price), "
        "and a daily file's row of a session is written after its close"
    )
    # As a quote reads the folder (csv_quotes.py): a folder or a link to nothing there is no intraday file.
    found = {s: unusable(intraday_file(folder, s)) for s in symbols}
    lacking = [s for s, w in found.items() if w is not None and not w.startswith(CANNOT_READ)]
    if now is None or not lacking:
        return dict.fromkeys(lacking, why)
    day = new_york_date(now)
    gaps = {}
    for symbol in lacking:
        try:
            rows = daily.daily_bars([symbol], day, day).get(symbol) or []
        except LlmtradeError:
            continue
        if not any(bar.day == day for bar in rows):
            gaps[symbol] = f"{why} (none of {day} there yet)"
    return gaps


def never_in_session(providers: Sequence[QuoteProvider], symbols: list[str], now: datetime | None) -> dict[str, str]:
    """Each symbol of `symbols` that no provider of `providers` can price in `now`'s session (None: in any session of
    the providers as they stand), with every provider's why: a symbol one of them may price is not said."""
    found: dict[str, list[str]] = {s: [] for s in symbols}
    for provider in providers:
        gaps = provider.never_in_session([s for s in symbols if s in found], now)
        found = {s: [*whys, f"{provider.name}: {gaps[s]}"] for s, whys in found.items() if s in gaps}
        if not found:
            break
    return {s: "; ".join(whys) for s, whys in found.items()}


def by_why(gaps: dict[str, str]) -> dict[str, list[str]]:
    """`gaps` (symbol -> why no provider prices it in session, `never_in_session`) grouped: why -> its symbols, in
    order, so a reason shared by a folder's every symbol is said once."""
    grouped: dict[str, list[str]] = {}
    for symbol, why in gaps.items():
        grouped.setdefault(why, []).append(symbol)
    return grouped
