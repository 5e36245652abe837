"""`status`'s week P/L: the books' change since the week's start valuation, or, for an account the week's run did not
value (taken out of accounts.yaml, put back after the run), since the close before the week on its curve.

A trial put acct_4 back after a weekly run had run without it: status showed its week P/L as n/a, though the curve
(app/status_drawdown.py, the leaderboard's marking) held the close before the week and the last one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from llmtrade.app.status_drawdown import Closed
from llmtrade.domain.ledger import BooksReset
from llmtrade.market.calendar import new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.projections import week_start_valued


def week_pnl(
    events: EventStore,
    week_id: date,
    account_id: str,
    resets: Sequence[BooksReset],
    scales: Sequence[float],
    now: float,
    moved: float = 0.0,
    *,
    closed: Closed | None = None,
) -> float | None:
    """The week's P/L in the dollars of its start valuation (None: none): the books' change since, chained across a
    reset since (a balance set by hand mid-week is no P/L). `now`: the equity in the books' first dollars; `moved`: what
    accounts.yaml's changed starting_cash adds to it, which the recorded start valuation does not hold. An account the
    week's run did not value (out of accounts.yaml then, put back since) is valued from the close before the week on
    its curve (`closed`), as the leaderboard's curve values it: a trial's status showed n/a where the curve had it."""
    started = week_start_valued(events, week_id, account_id)
    if started is None:
        return _since_the_curve(closed, week_id, resets, now)
    valued, at = started
    scale = scales[sum(1 for r in resets if r.at <= at)]
    return round(now / scale - (valued.equity + moved), 2)


def _since_the_curve(closed: Closed | None, week_id: date, resets: Sequence[BooksReset], now: float) -> float | None:
    """The week's P/L from the account's curve: `now` less its equity at the last close before the week (both in the
    books' first dollars), in the dollars of that close's stretch. None without that close (a close missing, books
    begun this week), or with a reset of its broker account on or after it (no stretch to say it in for sure)."""
    if closed is None:
        return None
    before = [i for i, day in enumerate(closed.sessions) if day < week_id]
    if not before or len(closed.scales) != len(resets) + 1:
        return None
    day = closed.sessions[before[-1]]
    if any(new_york_date(r.at) >= day for r in resets):
        return None
    return round((now - closed.equity[before[-1]]) / closed.scales[-1], 2)
