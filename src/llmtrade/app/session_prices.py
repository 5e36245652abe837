"""What `config validate` and `status` say of prices set that no in-session checkpoint can be judged on.

A new user's cron trial: a CSV folder of daily files only (no `intraday/SYMBOL.csv`), a live paper week. Every
in-session checkpoint waited all day for a price that could not come (exit 75 at every wake-up, then closed not judged
past its deadline), and `config validate` and `status` had said nothing. Said, not refused: the weekly run, the
checkpoints before the open and the postmortem work on daily prices, and a backtest on them prices such a symbol at its
session's open (it has the whole record). A checkpoint meeting it skips its holders at its first wake-up, saying why
(workflows/checkpoint_prepare.py `_never`).
"""

from __future__ import annotations

from datetime import time

from llmtrade.app.container import Container
from llmtrade.errors import UsageError
from llmtrade.market.failures import few
from llmtrade.market.providers import provider_names
from llmtrade.market.session_prices import SESSION_FIX, by_why, never_in_session

# A regular session's hours, New York: a checkpoint time within them is judged on a price of the session.
_OPEN, _CLOSE = time(9, 30), time(16)


def session_prices_note(app: Container, *, live: bool | None = None) -> str | None:
    """Why the configured in-session checkpoints cannot be judged on the prices set (`live`: the mode, default the
    invocation's), or None: no such checkpoint, a provider that prices every universe symbol in session, or prices that
    cannot be named (every job refuses them, naming why)."""
    config = app.loaded.config
    times = [t for t in config.schedule.checkpoints if _OPEN <= time.fromisoformat(t) < _CLOSE]
    if not times:
        return None
    try:
        names = provider_names(config.assets, app.settings, live=app.live if live is None else live)
        providers = app.quote_providers(names)
    except UsageError:
        return None
    gaps = never_in_session(providers, list(config.assets.symbols), None)
    if not gaps:
        return None
    grouped = by_why(gaps)
    said = "; ".join(f"{few(symbols)}: {why}" if len(grouped) > 1 else why for why, symbols in grouped.items())
    who = "a symbol of the universe" if len(gaps) == len(config.assets.symbols) else few(list(gaps))
    return (
        f"in-session checkpoints ({', '.join(times)}) cannot be judged on the prices set: no provider prices "
        f"{who} in session ({said}). Each such checkpoint skips an account holding one at its first wake-up, "
        f"not judged, and says so (checkpoints before the open and backtests are not concerned); {SESSION_FIX}"
    )
