"""The controls every order passes before it is sent: the global kill switch and each account's
circuit breaker. Both live in events, so their history is as auditable as the trades.

A halted account's breaker stream also holds its shadow trades (`record_shadow`) and the queued
opening orders its halt canceled (risk/halt_cancels.py `cancel_opening_orders`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime

from llmtrade.config.models import CircuitBreaker
from llmtrade.domain.account_events import AccountHalted, AccountResumed, BrokerAccountReset
from llmtrade.domain.breaker import BreakerState, BreakerUpdated
from llmtrade.domain.checkpoints import TradingDisabled, TradingEnabled
from llmtrade.domain.events import EventPayload, NewEvent, StoredEvent
from llmtrade.domain.ledger import Split, TripCounting, carried, closed_trade_pnls, fold, with_splits
from llmtrade.domain.resets import is_new_reset
from llmtrade.domain.streams import KILL_SWITCH, breaker_stream
from llmtrade.domain.trading import Fill, RiskVerdict, ShadowTraded
from llmtrade.errors import ConcurrencyError
from llmtrade.risk import breaker
from llmtrade.risk.breaker_head import appended, breaker_head
from llmtrade.risk.shadow import shadow_fills
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits

# Each lost race means another writer made progress; this many in a row is a livelock, not bad luck.
_ATTEMPTS = 5

# "How many trades has the breaker seen" for a state written when trades were counted per reducing
# fill: unknown in round trips, so the next evaluation takes every trade closed so far as seen.
UNCOUNTED = -1


class _ClosedTrades:
    """Each account's closed-trade P/Ls as of the fills last asked about, carried on over the fills added
    since: an account's fills only grow at their end (a late fill that sorts earlier changes the prefix,
    and the count starts again), so a look costs the new fills, not the account's history."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, tuple[Split, ...]], tuple[tuple[Fill, ...], TripCounting, tuple[float, ...]]] = {}

    def pnls(self, account_id: str, fills: Sequence[Fill], splits: tuple[Split, ...] = ()) -> tuple[float, ...]:
        """`closed_trade_pnls(fills)` for the account's `fills` (in fill order) through `splits`, as a tuple: shared,
        never copied. A split recorded since the last look counts the account's trades again."""
        with self._lock:
            key = (account_id, splits)
            kept = self._kept.get(key)
            if kept is None:
                self._kept = {k: v for k, v in self._kept.items() if k[0] != account_id}
            if kept is not None and fills is kept[0]:
                return kept[2]  # the very tuple asked about last time (a paper account's usual look)
            stands = "other" if kept is None else carried(kept[0], fills)
            if stands == "same":
                return kept[2]  # the very fills asked about last time, listed anew: nothing to count
            if stands == "extended":
                seen, counting, pnls = kept
                counting.add(fills[len(seen) :])
            else:
                counting, pnls = TripCounting(splits), ()
                counting.add(fills)
            # Only the trips closed since are looked at; the tuple is copied whole (at C speed) once per new fill.
            pnls = (*pnls, *(trip.pnl for trip in counting.done[len(pnls) :]))
            # A tuple is kept as it is (it cannot change, so the next look may know it by identity); a list is copied.
            self._kept[key] = (fills if type(fills) is tuple else tuple(fills), counting, pnls)
            return pnls


_CLOSED_TRADES = _ClosedTrades()


def trading_enabled(events: EventStore) -> tuple[bool, str]:
    switched = switched_off(events)
    return (True, "") if switched is None else (False, TradingDisabled.from_event(switched).reason)


def switched_off(events: EventStore) -> StoredEvent | None:
    """The TradingDisabled in force (the kill switch's last event, when it turned trading off), else None: an order it
    blocks is blocked for that cause, recorded once however many runs meet it (workflows/execution.py)."""
    found = events.read(stream=KILL_SWITCH)
    if not found or found[-1].type == TradingEnabled.event_type():
        return None
    return found[-1]


def set_trading(events: EventStore, enabled: bool, reason: str) -> None:
    payload: EventPayload = TradingEnabled(reason=reason) if enabled else TradingDisabled(reason=reason)
    events.append([NewEvent.of(payload, stream=KILL_SWITCH)])


def breaker_state(events: EventStore, account_id: str, starting_equity: float) -> tuple[BreakerState, int]:
    """The account's breaker state and how many closed trades it has seen (the initial state, 0, if none)."""
    state, seen, _ = read_breaker(events, account_id, starting_equity)
    return state, seen


def read_breaker(events: EventStore, account_id: str, starting_equity: float) -> tuple[BreakerState, int, int]:
    """breaker_state, plus the breaker stream's version when it was read: a write made from this state
    is appended at that version, so two evaluators of the same account cannot both record a change.
    The count is UNCOUNTED for a state recorded when trades were counted per reducing fill."""
    head = breaker_head(events, account_id)  # what is new since the last read, not the stream's history
    if head.latest_update is None:
        return breaker.initial_state(account_id, starting_equity), 0, head.version
    last = events.payload(BreakerUpdated, head.latest_update)  # read at every valuation: parsed once
    return last.state, last.trades_seen if last.round_trips else UNCOUNTED, head.version


def halted(events: EventStore, account_id: str) -> tuple[bool, str]:
    """Whether the account's circuit breaker holds it now, and why: its latest recorded state."""
    latest = breaker_head(events, account_id).latest_update
    if latest is None:
        return False, ""
    state = events.payload(BreakerUpdated, latest).state
    return state.halted, state.reason if state.halted else ""


def shadow_symbols(events: EventStore, account_id: str) -> set[str]:
    """The symbols the halted account's shadow book holds now (none for a running account). The week's roll closes
    the whole shadow book at the week's prices (risk/shadow.py), so each is to be priced then, in the universe or not:
    one that had left it, held by no account, was priced by nothing and kept for good, its bet never counted."""
    if not halted(events, account_id)[0]:
        return set()
    book = fold([s.fill for s in _shadow_book(events.read_stream(breaker_stream(account_id)))], 0.0)
    return {symbol for symbol, position in book.positions.items() if position.qty}


def evaluate_breaker(
    events: EventStore,
    account_id: str,
    *,
    starting_equity: float,
    equity: float,
    fills: Sequence[Fill],
    config: CircuitBreaker,
    week_id: date | None,
    run_id: str | None,
    reset: BrokerAccountReset | None = None,
) -> BreakerState:
    """Fold new closed trades and the current equity into the breaker; record changes and transitions.

    Safe to run from several processes at once (a checkpoint, a breaker reset, a second run): the
    change is appended at the version it was computed from, and a writer that lost the race folds
    the same observation into the winner's state instead, so a halt is recorded once, not twice."""

    def change() -> _Change:
        return breaker_change(
            events, account_id, starting_equity=starting_equity, equity=equity, fills=fills, config=config, reset=reset
        )

    return _recorded(events, account_id, change, week_id=week_id, run_id=run_id)


def breaker_change(
    events: EventStore,
    account_id: str,
    *,
    starting_equity: float,
    equity: float,
    fills: Sequence[Fill],
    config: CircuitBreaker,
    reset: BrokerAccountReset | None = None,
) -> tuple[BreakerState, list[EventPayload], int]:
    """What `evaluate_breaker` would record now: (the new state, its events on the breaker stream, the
    stream's version they must be appended at). No events when nothing changed. A read.

    `reset`: the broker's books of the account began again (workflows/account_reset.py); unless the stream holds
    it already, it is recorded and the breaker starts again from its equity, as a new account's."""
    pnls = _CLOSED_TRADES.pnls(account_id, fills, recorded_splits(events))
    state, seen, version = read_breaker(events, account_id, starting_equity)
    before = state
    recount = seen == UNCOUNTED
    if recount:
        seen = len(pnls)  # counted the old way: from here on, trades are round trips
    payloads: list[EventPayload] = []
    if reset is not None and _new_reset(events, account_id, reset):
        payloads.append(reset)
        if state.halted:
            payloads.append(AccountResumed(account_id=account_id, reason=_reset_reason(reset)))
        state = breaker.rebase(state, reset.equity).model_copy(update={"reason": _reset_reason(reset)})
        # The trades before it were closed in books that are gone: the broker's fills now are the new books' only.
        seen, recount = len(pnls), True
    for pnl in pnls[seen:]:
        state, transition = breaker.observe_trade(state, pnl, config)
        payloads += _transition(account_id, transition)
    state, transition = breaker.observe_equity(state, equity, config)
    payloads += _transition(account_id, transition)
    if recount or (state is not before and state != before) or len(pnls) != seen:
        payloads.insert(0, BreakerUpdated(state=state, trades_seen=len(pnls)))
    return state, payloads, version


def _new_reset(events: EventStore, account_id: str, reset: BrokerAccountReset) -> bool:
    """Whether `reset` is none of the resets recorded on the account's stream (domain/resets.py, the one rule)."""
    kind = BrokerAccountReset.event_type()
    recorded = [
        events.payload(BrokerAccountReset, e) for e in events.read_stream(breaker_stream(account_id)) if e.type == kind
    ]
    return is_new_reset(reset, recorded)


def _reset_reason(reset: BrokerAccountReset) -> str:
    before = "" if reset.last_equity is None else f" from {reset.last_equity:,.2f}"
    if reset.replaced is not None:  # found by the account's new name: it may miss no order of ours
        return (
            f"the broker's account began again at {reset.equity:,.2f}{before} (a paper account reset: the keys now "
            "name a new account); not a trade: peak and streaks start again"
        )
    if not reset.missing:
        return (
            f"the broker's account held {reset.equity:,.2f} when llmtrade first valued it, not accounts.yaml's "
            "starting_cash: the books begin there, as at a reset (no trade: peak and streaks start there)"
        )
    return (
        f"the broker's account began again at {reset.equity:,.2f}{before} (a paper account reset: "
        f"{len(reset.missing)} filled order(s) of ours no longer listed); not a trade: peak and streaks start again"
    )


def reset_breaker(events: EventStore, account_id: str, *, starting_equity: float, equity: float) -> BreakerState:
    """Resume the account by hand, on top of whatever state a concurrent evaluation just recorded."""

    def change() -> _Change:
        state, seen, version = read_breaker(events, account_id, starting_equity)
        state, transition = breaker.manual_reset(state, equity)
        return state, [_updated(state, seen), *_transition(account_id, transition)], version

    return _recorded(events, account_id, change, week_id=None, run_id=None)


def record_shadow(
    events: EventStore,
    verdict: RiskVerdict,
    *,
    starting_equity: float,
    config: CircuitBreaker,
    prices: Mapping[str, float],
    roll: bool,
    source: str,
    at: datetime,
    slippage_bps: float = 0.0,
    commission: float = 0.0,
    week_id: date | None,
    run_id: str | None,
) -> BreakerState:
    """Record what the halted account would have traded on `verdict` (its `shadow_qty`), and count
    the shadow trades that closes toward resuming the halt. Returns the breaker state after it.

    Nothing is recorded for a running account, for a drawdown halt (only recovery lifts it, so
    shadow losses would only pad the next loss streak) or for a `source` already recorded since the
    halt (a rerun of the same decision). Written at the breaker stream's version, like evaluations."""
    account_id = verdict.account_id

    def change() -> _Change:
        state, seen, version = read_breaker(events, account_id, starting_equity)
        if not state.halted or state.halted_for == breaker.DRAWDOWN:
            return state, [], version
        book = _shadow_book(events.read_stream(breaker_stream(account_id)))
        if any(s.source == source for s in book):
            return state, [], version
        before = [s.fill for s in book]
        splits = recorded_splits(events)
        new = shadow_fills(
            account_id,
            before,
            instrument=verdict.instrument,
            target=verdict.shadow_qty,
            prices=prices,
            roll=roll,
            source=source,
            at=at,
            slippage_bps=slippage_bps,
            commission=commission,
            splits=splits,
        )
        if not new:
            return state, [], version
        payloads: list[EventPayload] = [ShadowTraded(fill=f, source=source) for f in new]
        transitions: list[EventPayload] = []
        closed = closed_trade_pnls(with_splits([*before, *new], splits))
        for pnl in closed[len(closed_trade_pnls(with_splits(before, splits))) :]:
            state, transition = breaker.observe_trade(state, pnl, config, shadow=True)
            transitions += _transition(account_id, transition)
        return state, [*payloads, _updated(state, seen), *transitions], version

    return _recorded(events, account_id, change, week_id=week_id, run_id=run_id)


def _updated(state: BreakerState, seen: int) -> BreakerUpdated:
    """A new state that keeps the trade count as it was read (an old-style count stays marked as one)."""
    return BreakerUpdated(state=state, trades_seen=max(seen, 0), round_trips=seen != UNCOUNTED)


def _shadow_book(found: list[StoredEvent]) -> list[ShadowTraded]:
    """The shadow fills since the account's latest halt: each halt starts a flat shadow book."""
    halts = [n for n, e in enumerate(found) if e.type == AccountHalted.event_type()]
    since = found[halts[-1] + 1 :] if halts else found
    return [ShadowTraded.from_event(e) for e in since if e.type == ShadowTraded.event_type()]


# One try at a breaker change: the state after it, what to append for it (nothing: nothing to write) and the stream
# version it was worked out from.
_Change = tuple[BreakerState, list[EventPayload], int]


def _recorded(
    events: EventStore, account_id: str, change: Callable[[], _Change], *, week_id: date | None, run_id: str | None
) -> BreakerState:
    """`change()`'s events appended at the version it was worked out from, and its state. When another writer
    appended first, `change` is worked out again on top of what that writer recorded, up to _ATTEMPTS times."""
    for _ in range(_ATTEMPTS):
        state, payloads, version = change()
        if not payloads:
            return state
        try:
            _append_at(events, account_id, version, payloads, week_id=week_id, run_id=run_id)
        except ConcurrencyError:
            continue
        return state
    raise ConcurrencyError(breaker_stream(account_id), version + 1)


def _append_at(
    events: EventStore,
    account_id: str,
    version: int,
    payloads: list[EventPayload],
    *,
    week_id: date | None,
    run_id: str | None,
) -> None:
    stored = events.append(
        breaker_events(account_id, payloads, week_id=week_id, run_id=run_id),
        expected_versions={breaker_stream(account_id): version},
    )
    appended(events, account_id, stored)  # the next read of the head reads nothing back


def breaker_events(
    account_id: str, payloads: list[EventPayload], *, week_id: date | None, run_id: str | None
) -> list[NewEvent]:
    """`payloads` as events of the account's breaker stream (appended at the version they were computed from)."""
    stream = breaker_stream(account_id)
    return [NewEvent.of(p, stream=stream, account_id=account_id, week_id=week_id, run_id=run_id) for p in payloads]


def _transition(account_id: str, transition: breaker.Transition | None) -> list[EventPayload]:
    if transition is None:
        return []
    if transition.kind == "halted":
        return [AccountHalted(account_id=account_id, reason=transition.reason)]
    return [AccountResumed(account_id=account_id, reason=transition.reason)]
