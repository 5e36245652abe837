"""What a halted account may still do: reduce or close risk, never open or add (DESIGN.md section 7).

Pure code, like the gate: the callers pass the position (and the orders the broker still holds for
it) and get a verdict; nothing here reads a broker or the event store. A halt exists to stop new
bets, not to trap the account in the one that lost: an EXIT, a REDUCE and the week roll's close all
go out; an open, an add or the opening leg of a side change do not. A symbol the week's universe keeps only
because it is held is cut the same way (`held_only`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from llmtrade.domain.trading import BrokerOrder, Order, OrderStatus, Position, RiskAdjustment, RiskVerdict, Side

# The gate's rule (risk/gate.py) for a symbol in the week's universe only because an account holds it.
HELD_ONLY = "held_only"


def reducing_target(current: int, target: int) -> int:
    """The part of going from `current` to `target` (signed shares) that only reduces risk.

    A target on the same side and no larger is kept; a larger one stops at `current` (no add); a
    target of zero or on the other side stops at zero (the close of a side change, without its open).
    From flat nothing reduces, so the answer is 0.
    """
    if current == 0 or target == 0 or (current > 0) != (target > 0):
        return 0
    return target if abs(target) <= abs(current) else current


def held_only(free: RiskVerdict, current: int) -> RiskVerdict:
    """`free` (the verdict the symbol would get were it in the universe on its own account) cut to what only reduces
    the position held, `current` signed shares: the universe keeps a symbol off the watchlist while it is held, to
    close or cut it, not to trade it up. The cut is recorded as the gate records its other clamps."""
    allowed = reducing_target(current, free.target_qty)
    # A halted account's shadow book (what it would have traded) obeys the same rule: the halt's cost is measured
    # against trades the gate would have allowed (review L).
    shadow = None if free.shadow_qty is None else reducing_target(current, free.shadow_qty)
    if allowed == free.target_qty and shadow == free.shadow_qty:
        return free  # a close, a cut, or no change: nothing here to refuse
    if allowed == free.target_qty:
        return free.model_copy(update={"shadow_qty": shadow})
    why = (
        f"{free.instrument} is in the universe only because it is held ({current:+d}): it may be closed or cut"
        if current
        else f"{free.instrument} is in the universe only because another account holds it: it may not be opened"
    )
    done = f"held at {current:+d}, not added to" if allowed == current else f"closed (from {current:+d})"
    return cut_to_reducing(
        free,
        current,
        allowed,
        rule=HELD_ONLY,
        shadow=shadow,
        refused=f"{HELD_ONLY}: {why} ({free.target_qty:+d} wanted); position unchanged at 0",
        detail=f"{why}, not added to or turned; {current:+d} -> {allowed:+d}, not {free.target_qty:+d}",
        reason=f"{HELD_ONLY}: {why}: {done} (wanted {free.target_qty:+d})",
    )


def cut_to_reducing(
    free: RiskVerdict,
    current: int,
    allowed: int,
    *,
    rule: str,
    shadow: int | None,
    refused: str,
    detail: str,
    reason: str,
) -> RiskVerdict:
    """`free` cut to `allowed` (its risk-reducing part of `current`, signed shares: `reducing_target`) by `rule`: from
    flat refused with `refused`, else approved at `allowed` with `reason` and the clamp recorded (`detail`), as the
    gate records its others. `shadow`: the halted account's shadow quantity to carry."""
    if current == 0:
        return free.model_copy(update={"approved": False, "target_qty": 0, "shadow_qty": shadow, "reason": refused})
    cut = RiskAdjustment(rule=rule, detail=detail, before_qty=abs(free.target_qty), after_qty=abs(allowed))
    return free.model_copy(
        update={
            "approved": True,
            "target_qty": allowed,
            "shadow_qty": shadow,
            "reason": reason,
            "adjustments": [*free.adjustments, cut],
        }
    )


def reduces(side: Side, qty: int, position: int) -> bool:
    """Whether an order of `qty` shares on `side` only moves `position` (signed) toward zero, not past it."""
    signed = qty if side is Side.BUY else -qty
    return position != 0 and (position > 0) != (signed > 0) and abs(signed) <= abs(position)


def may_send(order: Order, position: int) -> bool:
    """Whether a halted account may send `order`, holding `position` signed shares of its symbol
    (counting what orders already queued at the broker will do to it, see `pending_position`)."""
    return reduces(order.side, order.qty, position)


def pending_position(positions: Mapping[str, Position], queued: Iterable[BrokerOrder], symbol: str) -> int:
    """Signed shares of `symbol` once the orders still working at the broker have filled.

    Two closes queued for the same open must not both pass as reducing a position only one of them closes."""
    held = positions[symbol].qty if symbol in positions else 0
    for order in queued:
        if order.symbol == symbol and order.status is OrderStatus.ACCEPTED:
            remaining = order.qty - order.filled_qty
            held += remaining if order.side is Side.BUY else -remaining
    return held


def opening_orders(positions: Mapping[str, Position], queued: Sequence[BrokerOrder]) -> list[BrokerOrder]:
    """The queued orders a halt cancels: those that would open or add, taken oldest first, each
    judged against the position as the orders before it leave it (a close queued ahead stays)."""
    held = {symbol: position.qty for symbol, position in positions.items()}
    cancel: list[BrokerOrder] = []
    for order in queued:
        if order.status is not OrderStatus.ACCEPTED:
            continue
        remaining = order.qty - order.filled_qty
        if remaining <= 0:
            continue
        position = held.get(order.symbol, 0)
        if reduces(order.side, remaining, position):
            held[order.symbol] = position + (remaining if order.side is Side.BUY else -remaining)
        else:
            cancel.append(order)
    return cancel
