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
from llmtrade.risk import breaker
from llmtrade.storage.event_store import EventStore


def trading_enabled(events: EventStore) -> tuple[bool, str]:
    found = events.read(stream=KILL_SWITCH)
    if not found or found[-1].type == TradingEnabled.event_type():
        return True, ""
    return False, TradingDisabled.from_event(found[-1]).reason


def set_trading(events: EventStore, enabled: bool, reason: str) -> None:
    payload: EventPayload = TradingEnabled(reason=reason) if enabled else TradingDisabled(reason=reason)
    events.append([NewEvent.of(payload, stream=KILL_SWITCH)])


def breaker_state(events: EventStore, account_id: str, starting_equity: float) -> tuple[BreakerState, int]:
    found = events.read(stream=breaker_stream(account_id), type=BreakerUpdated.event_type())
    if not found:
        return breaker.initial_state(account_id, starting_equity), 0
    last = BreakerUpdated.from_event(found[-1])
    return last.state, last.trades_seen


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
    """Fold new closed trades and the current equity into the breaker; record changes and transitions."""
    state, seen = breaker_state(events, account_id, starting_equity)
    before = state
    payloads: list[EventPayload] = []
    pnls = closed_trade_pnls(fills)
    for pnl in pnls[seen:]:
        state, transition = breaker.observe_trade(state, pnl, config)
        payloads += _transition(account_id, transition)
    state, transition = breaker.observe_equity(state, equity, config)
    payloads += _transition(account_id, transition)
    if state != before or len(pnls) != seen:
        payloads.insert(0, BreakerUpdated(state=state, trades_seen=len(pnls)))
    if payloads:
        events.append(
            [
                NewEvent.of(p, stream=breaker_stream(account_id), account_id=account_id, week_id=week_id, run_id=run_id)
                for p in payloads
            ]
        )
    return state


def reset_breaker(events: EventStore, account_id: str, *, starting_equity: float, equity: float) -> BreakerState:
    state, seen = breaker_state(events, account_id, starting_equity)
    state, transition = breaker.manual_reset(state, equity)
    events.append(
        [
            NewEvent.of(p, stream=breaker_stream(account_id), account_id=account_id)
            for p in (BreakerUpdated(state=state, trades_seen=seen), *_transition(account_id, transition))
        ]
    )
    return state


def _transition(account_id: str, transition: breaker.Transition | None) -> list[EventPayload]:
    if transition is None:
        return []
    if transition.kind == "halted":
        return [AccountHalted(account_id=account_id, reason=transition.reason)]
    return [AccountResumed(account_id=account_id, reason=transition.reason)]
