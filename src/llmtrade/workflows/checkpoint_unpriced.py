"""A checkpoint's skip of an account holding a symbol no provider can price in this session (a CSV folder of daily
files only: market/session_prices.py), as checkpoint_prepare.py `_never` finds it and app/checkpoint_run.py says it."""

from __future__ import annotations

from dataclasses import dataclass

from llmtrade.market.session_prices import SESSION_FIX, by_why

# How an account skipped for a held symbol no provider can price in this session begins (`_never`); the run says them
# in one line (app/checkpoint_run.py), the run degraded.
NO_SESSION_PRICE = "no price in session:"


def no_session_price(never: dict[str, str]) -> str:
    """The skip of an account holding `never` (symbol -> why no provider can price it in this session), or what the
    run says of every such account: what is wrong, what it means and what mends it."""
    said = "; ".join(f"{', '.join(symbols)}: {why}" for why, symbols in by_why(never).items())
    return (
        f"{NO_SESSION_PRICE} {said}. No wait brings one: not judged now (no stop checked, nothing traded, no stale "
        "close read as a price of this session); each checkpoint looks again, and one before the open judges on the "
        f"last close. To judge in session, {SESSION_FIX}"
    )


@dataclass(frozen=True)
class NoSessionPrice:
    why: str  # the skip: `no_session_price`
    symbols: dict[str, str]  # the held symbols no provider can price in this session, and why
