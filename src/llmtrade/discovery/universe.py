"""The week's universe: what the committee may trade, by the configured mode (static | watchlist | both).

static: assets.yaml's universe, nothing recorded (the config is the record). watchlist: the
benchmark (every reader of the snapshot needs it) plus the watchlist the committee sees; both: the
universe plus the watchlist. The list is fixed by the week's first job on the week's write-once
`universe` stream and read back by every later job of the week, so a rerun or a checkpoint after a
new discovery run still sees the list the week started with.
"""

from __future__ import annotations

from datetime import date

from llmtrade.config.candidates import packaged_candidates
from llmtrade.config.models import BENCHMARK, AssetClass, Config, Instrument
from llmtrade.discovery.watchlist import current
from llmtrade.domain.discovery import UniverseFixed, UniverseInstrument
from llmtrade.domain.events import NewEvent
from llmtrade.domain.ledger import signed_qty
from llmtrade.domain.streams import UNIVERSE, week_stream
from llmtrade.domain.trading import OrderFilled
from llmtrade.errors import ConcurrencyError
from llmtrade.storage.event_store import EventStore


def fix_universe(config: Config, events: EventStore, week_id: date, run_id: str) -> UniverseFixed | None:
    """The week's fixed universe, fixing it now if no job of the week has; None in static mode."""
    mode = config.assets.discovery.universe_mode
    if mode == "static":
        return None
    stream = week_stream(week_id, UNIVERSE)
    stored = events.read_stream(stream)
    if not stored:
        fixed = _build(config, events)
        try:
            stored = events.append(
                [NewEvent.of(fixed, stream=stream, week_id=week_id, run_id=run_id)], expected_versions={stream: 0}
            )
        except ConcurrencyError:  # another job of the week fixed it first: theirs stands
            stored = events.read_stream(stream)
    return UniverseFixed.from_event(stored[0])


def week_config(config: Config, events: EventStore, week_id: date, run_id: str) -> Config:
    """`config` with assets.universe replaced by the week's fixed universe (unchanged in static mode)."""
    fixed = fix_universe(config, events, week_id, run_id)
    if fixed is None:
        return config
    universe = [
        Instrument(symbol=i.symbol, asset_class=AssetClass(i.asset_class), name=i.name, shortable=i.shortable)
        for i in fixed.instruments
    ]
    return config.model_copy(update={"assets": config.assets.model_copy(update={"universe": universe})})


def held_symbols(events: EventStore) -> set[str]:
    """Symbols some account holds now by its recorded fills (net quantity not zero)."""
    net: dict[tuple[str, str], int] = {}
    for event in events.read(type=OrderFilled.event_type()):
        fill = OrderFilled.from_event(event).fill
        key = (fill.account_id, fill.symbol)
        net[key] = net.get(key, 0) + signed_qty(fill)
    return {symbol for (_, symbol), qty in net.items() if qty}


def priced_symbols(config: Config, events: EventStore) -> list[str]:
    """What a read (status, positions) prices: the universe, and with discovery feeding the committee also
    every held symbol discovery knows (a watchlist symbol of an earlier week); static mode: the universe."""
    if config.assets.discovery.universe_mode == "static":
        return config.assets.symbols
    known = {c.symbol for c in packaged_candidates()}
    return list(dict.fromkeys([*config.assets.symbols, *sorted(held_symbols(events) & known)]))


def _build(config: Config, events: EventStore) -> UniverseFixed:
    settings = config.assets.discovery
    watchlist = current(events)
    entries = watchlist.effective(settings.watchlist_size)
    static = [
        UniverseInstrument(symbol=i.symbol, asset_class=i.asset_class.value, name=i.name, shortable=i.shortable)
        for i in config.assets.universe
    ]
    if not entries:  # no discovery run yet: the static universe stands in rather than SPY alone
        return UniverseFixed(mode=settings.universe_mode, instruments=static)
    packaged = {c.symbol: c for c in packaged_candidates()}
    keep = static if settings.universe_mode == "both" else [i for i in static if i.symbol == BENCHMARK]
    taken = {i.symbol for i in keep}
    for entry in entries:
        if entry.symbol in taken:
            continue
        known = packaged.get(entry.symbol)
        keep.append(
            UniverseInstrument(
                symbol=entry.symbol,
                asset_class=entry.asset_class,
                name=known.name if known else "",
                shortable=known.shortable if known else True,
                discovered=True,
            )
        )
        taken.add(entry.symbol)
    # What an account still holds stays tradable (to close or resize) and priced, though it left the watchlist.
    for symbol in sorted(held_symbols(events) - taken):
        known = packaged.get(symbol)
        if known is not None:
            keep.append(
                UniverseInstrument(
                    symbol=symbol,
                    asset_class=known.asset_class.value,
                    name=known.name,
                    shortable=known.shortable,
                    discovered=True,
                    held=True,
                )
            )
    return UniverseFixed(
        mode=settings.universe_mode,
        instruments=keep,
        watchlist_asof=watchlist.latest.asof if watchlist.latest else None,
    )
