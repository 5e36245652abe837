"""A clock set back behind the books: said by the commands that read them (`status`, the live leaderboard and report).

The books are what they are now; a reader cannot show them as of an earlier instant. A trial set LLMTRADE_NOW three
weeks back after the books had run on: `status` headed "valued at the close of 2026-02-11" above a fill of 02-25 and
its equity, and the leaderboard said "as of the close of 2026-02-24", a date after "now", each without a word.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from llmtrade.market.calendar import NEW_YORK

# A little slack: a cron job recording while the reader reads, or another machine's clock a little ahead, is no
# clock set back (a review). The commands that write refuse past it too (app/clock_guard.py).
SLACK = timedelta(minutes=5)


def clock_behind(recorded: Iterable[datetime], now: datetime, reader: str) -> str | None:
    """What `reader` says when a record of the books (`recorded`: when each was made) is later than the clock's `now`;
    None when none is."""
    latest = max(recorded, default=None)
    if latest is None or latest <= now + SLACK:
        return None
    return (
        f"the books hold records made after the clock ({new_york(latest)}; the clock reads {new_york(now)}): {reader} "
        "shows them as they stand, not as of the clock. Is it set back (LLMTRADE_NOW)?"
    )


def new_york(at: datetime) -> str:
    return f"{at.astimezone(NEW_YORK):%Y-%m-%d %H:%M} New York"
