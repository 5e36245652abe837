"""Whether a week given by hand (`--week D`) is one the NYSE calendar can price: its sessions and the history its
market snapshot reads before it.

A new user's trial: `research --week 1990-01-01` and `run-weekly --week 2000-06-07 --dry-run` stopped with exit 1,
"stage 'market_snapshot' failed: 1999-03-04 is outside the NYSE calendar's range", naming a day never given, as a
market-data failure; a backtest's --from was already refused so (app/backtest_inputs.py range_weeks), exit 2.
"""

from __future__ import annotations

from datetime import date, timedelta

from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import UsageError
from llmtrade.market.calendar import TradingCalendar

# History a week's market snapshot reads before it (bars_asof: 300 sessions, padded); a backtest prefetches it.
HISTORY = timedelta(days=int(300 * 1.5) + 10 + 30)


def require_known_week(given: date, calendar: TradingCalendar, *, option: str = "--week") -> None:
    """UsageError (exit 2) for a `given` day whose week's history begins before the NYSE calendar. A week after it is
    refused by the guards of a week not begun (the calendar reaches two years past today), which say more."""
    earliest = week_id_for(calendar.first_day + HISTORY + timedelta(days=6))
    if week_id_for(given) < earliest:
        raise UsageError(
            f"{option} {given}: the NYSE calendar covers {calendar.first_day} to {calendar.last_day}, and a week's "
            f"market snapshot reads {HISTORY.days} days of history before it: give {option} {earliest} or later"
        )
