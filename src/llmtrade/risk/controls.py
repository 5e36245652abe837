"""The controls every order passes before it is sent: the global kill switch and each account's
circuit breaker. Both live in events, so their history is as auditable as the trades."""

from __future__ import annotations

from datetime import date

from llmtrade.config.models import CircuitBreaker
from llmtrade.domain.checkpoints import TradingDisabled, TradingEnabled
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.ledger import closed_trade_pnls
from llmtrade.domain.streams import KILL_SWITCH, breaker_stream
from llmtrade.domain.trading import AccountHalted, AccountResumed, BreakerState, BreakerUpdated, Fill
from llmtrade.errors import ConcurrencyError
from llmtrade.risk import breaker
from llmtrade.storage.event_store import EventStore

# Each lost race means another writer made progress; this many in a row is a livelock, not bad luck.
_ATTEMPTS = 5


def trading_enabled(events: EventStore) -> tuple[bool, str]:
    found = events.read(stream=KILL_SWITCH)
    if not found or found[-1].type == TradingEnabled.event_type():
        return True, ""
    return False, TradingDisabled.from_event(found[-1]).reason


def set_trading(events: EventStore, enabled: bool, reason: str) -> None:
    payload: EventPayload = TradingEnabled(reason=reason) if enabled else TradingDisabled(reason=reason)
    events.append([NewEvent.of(payload, stream=KILL_SWITCH)])


def breaker_state(events: EventStore, account_id: str, starting_equity: float) -> tuple[BreakerState, int]:
    """The account's breaker state and how many closed trades it has seen (the initial state, 0, if none)."""
    state, seen, _ = read_breaker(events, account_id, starting_equity)
    return state, seen


def read_breaker(events: EventStore, account_id: str, starting_equity: float) -> tuple[BreakerState, int, int]:
    """breaker_state, plus the breaker stream's version when it was read: a write made from this state
    is appended at that version, so two evaluators of the same account cannot both record a change."""
    found = events.read_stream(breaker_stream(account_id))
    version = found[-1].version if found else 0
    updates = [e for e in found if e.type == BreakerUpdated.event_type()]
    if not updates:
        return breaker.initial_state(account_id, starting_equity), 0, version
    last = BreakerUpdated.from_event(updates[-1])
    return last.state, last.trades_seen, version


def halted(events: EventStore, account_id: str) -> tuple[bool, str]:
    """Whether the account's circuit breaker holds it now, and why: its latest recorded state."""
    found = events.read(stream=breaker_stream(account_id), type=BreakerUpdated.event_type())
    if not found:
        return False, ""
    state = BreakerUpdated.from_event(found[-1]).state
    return state.halted, state.reason if state.halted else ""


def evaluate_breaker(
    events: EventStore,
    account_id: str,
    *,
    starting_equity: float,
    equity: float,
    fills: list[Fill],
    config: CircuitBreaker,
    week_id: date | None,
    run_id: str | None,
) -> BreakerState:
    """Fold new closed trades and the current equity into the breaker; record changes and transitions.

    Safe to run from several processes at once (a checkpoint, a breaker reset, a second run): the
    change is appended at the version it was computed from, and a writer that lost the race folds
    the same observation into the winner's state instead, so a halt is recorded once, not twice."""
    pnls = closed_trade_pnls(fills)
    for _ in range(_ATTEMPTS):
        state, seen, version = read_breaker(events, account_id, starting_equity)
        before = state
        payloads: list[EventPayload] = []
        for pnl in pnls[seen:]:
            state, transition = breaker.observe_trade(state, pnl, config)
            payloads += _transition(account_id, transition)
        state, transition = breaker.observe_equity(state, equity, config)
        payloads += _transition(account_id, transition)
        if state != before or len(pnls) != seen:
            payloads.insert(0, BreakerUpdated(state=state, trades_seen=len(pnls)))
        if not payloads:
            return state
        try:
            _append_at(events, account_id, version, payloads, week_id=week_id, run_id=run_id)
        except ConcurrencyError:
            continue  # another evaluator wrote first: start again from its state
        return state
    raise ConcurrencyError(breaker_stream(account_id), version + 1)


def reset_breaker(events: EventStore, account_id: str, *, starting_equity: float, equity: float) -> BreakerState:
    """Resume the account by hand, on top of whatever state a concurrent evaluation just recorded."""
    for _ in range(_ATTEMPTS):
        state, seen, version = read_breaker(events, account_id, starting_equity)
        state, transition = breaker.manual_reset(state, equity)
        payloads = [BreakerUpdated(state=state, trades_seen=seen), *_transition(account_id, transition)]
        try:
            _append_at(events, account_id, version, payloads, week_id=None, run_id=None)
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
    stream = breaker_stream(account_id)
    events.append(
        [NewEvent.of(p, stream=stream, account_id=account_id, week_id=week_id, run_id=run_id) for p in payloads],
        expected_versions={stream: version},
    )


def _transition(account_id: str, transition: breaker.Transition | None) -> list[EventPayload]:
    if transition is None:
        return []
    if transition.kind == "halted":
        return [AccountHalted(account_id=account_id, reason=transition.reason)]
    return [AccountResumed(account_id=account_id, reason=transition.reason)]
