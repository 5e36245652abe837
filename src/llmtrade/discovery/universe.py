"""The week's universe: what the committee may trade, by the configured mode (static | watchlist | both).

static: assets.yaml's universe, nothing recorded (the config is the record). watchlist: the
benchmark (every reader of the snapshot needs it) plus the watchlist the committee sees; both: the
universe plus the watchlist. The list is fixed by the week's first job on the week's write-once
`universe` stream and read back by every later job of the week, so a rerun or a checkpoint after a
new discovery run still sees the list the week started with.
"""

from __future__ import annotations

import threading
import weakref
from datetime import date

from llmtrade.config.candidates import packaged_candidates
from llmtrade.config.models import BENCHMARK, AssetClass, Config, Instrument
from llmtrade.discovery.watchlist import current
from llmtrade.domain.discovery import UniverseFixed, UniverseInstrument
from llmtrade.domain.events import NewEvent
from llmtrade.domain.ledger import signed_qty
from llmtrade.domain.reconciliation import PositionAdopted, PositionReleased, is_ours
from llmtrade.domain.streams import UNIVERSE, week_stream
from llmtrade.domain.trading import (
    OrderFilled,
    OrderStatus,
    OrderSubmitted,
    PaperOrderCanceled,
    QueuedOrderCanceled,
)
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
    return config if fixed is None else _with_universe(config, fixed)


def universe_now(config: Config, events: EventStore, week_id: date) -> Config:
    """`config` with the universe the committee sees in week `week_id`: the week's fixed one, or, before any job of
    the week fixed it, the one its first job would fix (nothing recorded: for commands that only read)."""
    if config.assets.discovery.universe_mode == "static":
        return config
    stored = events.read_stream(week_stream(week_id, UNIVERSE))
    return _with_universe(config, UniverseFixed.from_event(stored[0]) if stored else _build(config, events))


def _with_universe(config: Config, fixed: UniverseFixed) -> Config:
    universe = [
        Instrument(
            symbol=i.symbol,
            asset_class=AssetClass(i.asset_class),
            name=i.name,
            shortable=i.shortable,
            held_only=i.held,  # reduce-only at the gate (risk/halt.py `held_only`)
        )
        for i in fixed.instruments
    ]
    return config.model_copy(update={"assets": config.assets.model_copy(update={"universe": universe})})


def held_symbols(events: EventStore) -> set[str]:
    """Symbols some account holds now by its recorded fills (net quantity not zero)."""
    return _HELD.held(events)


def held_outside(config: Config, events: EventStore) -> list[str]:
    """The symbols some account may hold that `config`'s universe lacks, sorted: held by the ledger (llmtrade's own
    recorded fills and the shares the user adopted, less those released), or sent in an order whose fill is not
    recorded yet (a paper fill is recorded by the next valuation, not when it happens,
    so a read in between holds a symbol no recorded fill names)."""
    return sorted(_HELD.symbols(events) - set(config.assets.symbols))


def in_play(events: EventStore) -> set[str]:
    """Every symbol some account may hold, in the universe or not (see `held_outside`)."""
    return _HELD.symbols(events)


class _Holdings:
    """What the ledger and the orders say may be held: each account's net quantity by symbol as the ledger has it
    (domain/reconciliation.py: llmtrade's own fills, plus shares adopted, less shares released; a fill of an order
    typed in by hand counts only once adopted), and the orders sent whose fill is not recorded yet. Asked at every
    checkpoint (ten thousand times in a 520-week backtest), so a store holding its own appends (a backtest's: one
    writer, ids in order) is read once and then only for what is new (`after_id`); any other store, whose concurrent
    writers may commit a lower id later, is read whole each time."""

    _TYPES = (
        OrderFilled.event_type(),
        OrderSubmitted.event_type(),
        PaperOrderCanceled.event_type(),
        QueuedOrderCanceled.event_type(),
        PositionAdopted.event_type(),
        PositionReleased.event_type(),
    )
    # Ended without (more) fills: such an order kept its symbol "held" for ever, priced by every read (review S).
    _ENDED = frozenset({OrderStatus.REJECTED, OrderStatus.CANCELED})

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store: weakref.ref[EventStore] | None = None
        self._last = 0
        self._net: dict[tuple[str, str], int] = {}
        self._sent: dict[str, str] = {}  # client order id -> symbol, until its fill is recorded
        # Orders whose fill is recorded: a rerun records an order the broker filled (recover_orders) after a
        # valuation recorded its fill; it is not pending then.
        self._filled: set[str] = set()

    def held(self, events: EventStore) -> set[str]:
        """Symbols some account holds by its recorded fills (net quantity not zero)."""
        with self._lock:
            self._update(events)
            return {symbol for (_, symbol), qty in self._net.items() if qty}

    def symbols(self, events: EventStore) -> set[str]:
        """`held`, and those of the orders sent whose fill is not recorded yet."""
        with self._lock:
            self._update(events)
            return {symbol for (_, symbol), qty in self._net.items() if qty} | set(self._sent.values())

    def _update(self, events: EventStore) -> None:
        """Read what is new in `events` (all of it for a store other than the last, or one not holding its appends);
        the caller holds the lock."""
        if not events.holds_appends or self._store is None or self._store() is not events:
            self._store, self._last, self._net, self._sent = weakref.ref(events), 0, {}, {}
            self._filled = set()
        new = events.read(type=self._TYPES, after_id=self._last or None)
        for event in new:
            if event.type == OrderFilled.event_type():
                fill = OrderFilled.from_event(event).fill
                if is_ours(fill.client_order_id):
                    self._add(fill.account_id, fill.symbol, signed_qty(fill))
                self._sent.pop(fill.client_order_id, None)
                self._filled.add(fill.client_order_id)
            elif event.type == PositionAdopted.event_type():
                # Without it an adopted symbol out of the universe was valued at the broker's cost for good.
                adopted = events.payload(PositionAdopted, event)
                self._add(adopted.account_id, adopted.symbol, adopted.qty)
            elif event.type == PositionReleased.event_type():
                released = events.payload(PositionReleased, event)
                self._add(released.account_id, released.symbol, -released.qty)
            elif event.type == OrderSubmitted.event_type():
                submitted = OrderSubmitted.from_event(event)
                cid = submitted.order.client_order_id
                if cid not in self._filled and submitted.result.status not in self._ENDED:
                    self._sent[cid] = submitted.order.symbol
            elif event.payload.get("status") != OrderStatus.FILLED.value:  # canceled while queued: never fills
                self._sent.pop(str(event.payload["client_order_id"]), None)
        if new:
            self._last = new[-1].id

    def _add(self, account_id: str, symbol: str, qty: int) -> None:
        self._net[account_id, symbol] = self._net.get((account_id, symbol), 0) + qty


_HELD = _Holdings()


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
