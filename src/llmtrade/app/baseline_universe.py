"""What EQUAL_WEIGHT holds, said where it may not be the universe the weeks traded.

EQUAL_WEIGHT buys assets.yaml's universe as the config given to the leaderboard has it. In static mode the books
record no universe (discovery/universe.py: the config is the record), so over live books it is today's universe
over every past week: a symbol added last month is held from the first week, one removed is held in none. A
backtest records the hash of the config it ran with (BacktestStarted.config_hash, refused on resume if changed):
when the config given now is that one, its universe is the one every week traded, and nothing needs saying. In
watchlist or both mode the committee traded each week's fixed universe (UniverseFixed), which EQUAL_WEIGHT does not
follow: the discovered names have no closes of their own here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from llmtrade.config.models import Config
from llmtrade.domain.backtests import BacktestStarted
from llmtrade.domain.events import StoredEvent


def config_hash(config: Config) -> str:
    """The sha256 of the loaded config, as a backtest records it (BacktestStarted.config_hash)."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


def universe_note(config: Config, record: Sequence[StoredEvent]) -> str | None:
    """The note on EQUAL_WEIGHT's universe for books whose backtest record (streams.BACKTEST) is `record` (empty for
    the live books); None for a backtest valued with the config it ran with, in static mode."""
    symbols = config.assets.symbols
    listed = f"{len(symbols)} symbols: {', '.join(symbols)}"
    mode = config.assets.discovery.universe_mode
    if mode != "static":
        return (
            f"EQUAL_WEIGHT holds assets.yaml's universe ({listed}), not the watchlists the committee traded each week "
            f"(universe_mode {mode})"
        )
    started = [e for e in record if e.type == BacktestStarted.event_type()]
    if started:
        ran = str(started[-1].payload.get("config_hash", ""))  # the start that bound the books; earlier ones bound none
        now = config_hash(config)
        if ran == now:
            return None  # the universe every week of the backtest traded
        return (
            f"EQUAL_WEIGHT holds the universe of the config given now ({listed}), which is not the config the backtest "
            f"ran with (config hash {ran[:12]}, now {now[:12]}): its universe may differ from the one the weeks traded"
        )
    return (
        f"EQUAL_WEIGHT holds assets.yaml's universe as configured now ({listed}) over every week: in static mode the "
        "books record no universe, so a symbol added to or removed from assets.yaml since the books began counts as "
        "held (or not) from the first week"
    )
