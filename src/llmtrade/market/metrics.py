"""Performance numbers for `llmtrade status`: returns, drawdown, hit rate.

Pure functions over plain floats, so every number can be checked by hand. Returns and drawdowns
are fractions (0.05 is 5%); formatting them is the caller's business.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def total_return(start_equity: float, equity: float) -> float:
    """equity / start_equity - 1: the account's return since it started.

    An account's starting equity is configured and must be positive; a non-positive one is a bug
    upstream, and a return computed from it would be a meaningless number on the status screen.
    """
    if not (start_equity > 0 and math.isfinite(start_equity)):
        raise ValueError(f"start_equity must be a positive number, got {start_equity!r}")
    return equity / start_equity - 1.0


def period_return(equity_start: float, equity_end: float) -> float | None:
    """equity_end / equity_start - 1 over one period; None when the period started with no positive equity.

    Unlike `total_return` this tolerates a missing start: a period before the account's first
    mark, or after it was wiped out, has no return to show.
    """
    if not equity_start > 0:  # written so that NaN also counts as "no start"
        return None
    return equity_end / equity_start - 1.0


def max_drawdown(equities: Sequence[float]) -> float:
    """The largest fall from a running peak, as a positive fraction of that peak (0 for none).

    Equities are in time order. Marks before the first positive equity have no peak to fall from,
    so they are skipped rather than divided by.
    """
    peak = 0.0
    worst = 0.0
    for equity in equities:
        if equity > peak:
            peak = equity
        elif peak > 0:
            worst = max(worst, 1.0 - equity / peak)
    return worst


def hit_rate(trade_pnls: Sequence[float]) -> float | None:
    """wins / (wins + losses) over closed trades; None before any trade has won or lost.

    A trade closed exactly even decided nothing, so it counts in neither; the circuit breaker
    treats it the same way.
    """
    wins = sum(1 for pnl in trade_pnls if pnl > 0)
    losses = sum(1 for pnl in trade_pnls if pnl < 0)
    if wins + losses == 0:
        return None
    return wins / (wins + losses)
