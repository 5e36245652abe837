"""The circuit breaker's records and events (risk/breaker.py decides, risk/halt_cancels.py cancels): its state between
observations (BreakerState, in BreakerUpdated), and the cancels of a halted account's opening orders it asks for and
what came of them."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from llmtrade.domain.events import EventPayload
from llmtrade.domain.records import Record


class BreakerCancelRequested(EventPayload):
    """The circuit breaker is about to cancel a halted account's queued order that would open or add (on its breaker
    stream), recorded before the cancel reaches a broker that does not record its own ends (Alpaca). Whoever then finds
    the order canceled and records its end first (risk/halt_cancels.py `cancel_opening_orders`, or another process's
    brokers/order_ends.py) records it with this `reason`: the halt's cancel, not the broker's own end. A failed cancel
    takes it back (BreakerCancelFailed), and so does an AccountResumed after it (an end found then is the broker's),
    unless the broker took the cancel (BreakerCancelTaken). One a killed process left unanswered is settled from the
    order as the broker has it before the breaker's next change, a resume by hand's too (risk/halt_cancels.py
    `settle_unanswered`): taken if its cancel is under way or done, else failed."""

    account_id: str
    client_order_id: str
    reason: str


class BreakerCancelFailed(EventPayload):
    """The circuit breaker's cancel of an order it asked for (BreakerCancelRequested) was not made, on the account's
    breaker stream: it failed at the broker (no answer, an error: the order as it was, as far as anyone knows), it was
    not asked (the order already canceled or canceling by another hand), or a killed process never sent it (settled
    later from the order: risk/halt_cancels.py `settle_unanswered`). It takes the request back: an end found later
    (canceled by hand, Alpaca's own) is the broker's, not the halt's, and the breaker's next look at the halted
    account asks again for an order still working."""

    account_id: str
    client_order_id: str
    reason: str  # the broker's failure


class BreakerCancelTaken(EventPayload):
    """The broker took the circuit breaker's cancel (BreakerCancelRequested, just before) of an order still working,
    its cancel under way (Alpaca's pending_cancel: until the venue takes it, at the next open outside market hours), on
    the account's breaker stream. The order's end, when it comes, is that halt's cancel even if the account resumed
    in between (a resume takes back only requests never taken: brokers/order_ends.py)."""

    account_id: str
    client_order_id: str


HaltCause = Literal["drawdown", "losses"]


class BreakerState(Record):
    """One account's breaker between observations.

    `reason` is the latest transition's reason ("" before any). `manual` is true while the latest
    transition is a reset by hand. `halted_for` names the rule that halted the account, and so the
    rule that may resume it; None on a halted state means the cause is unknown (a state rebuilt
    from an old event), and then either rule may resume it.
    """

    account_id: str
    halted: bool
    reason: str
    peak_equity: float
    consecutive_losses: int
    consecutive_wins: int
    manual: bool = False
    halted_for: HaltCause | None = None


class BreakerUpdated(EventPayload):
    """The breaker's state after an observation that changed it (the latest one is current).

    `trades_seen` counts closed trades as round trips (domain/ledger.py). Version 1 counted every
    reducing fill instead; such a state reads with `round_trips` False, and its count means nothing now."""

    schema_version: ClassVar[int] = 2

    state: BreakerState
    trades_seen: int
    round_trips: bool = True

    @staticmethod
    def upcast_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "round_trips": False}
