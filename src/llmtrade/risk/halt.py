"""What a halted account may still do: reduce or close risk, never open or add (DESIGN.md section 7).

Pure code, like the gate: the callers pass the position (and the orders the broker still holds for
it) and get a verdict; nothing here reads a broker or the event store. A halt exists to stop new
bets, not to trap the account in the one that lost: an EXIT, a REDUCE and the week roll's close all
go out; an open, an add or the opening leg of a side change do not. A symbol the week's universe keeps only
because it is held is cut the same way (`held_only`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from llmtrade.domain.trading import BrokerOrder, Order, OrderStatus, Position, RiskAdjustment, RiskVerdict, Side

# What a dollar order may fill toward opening: no bound known.
_UNBOUNDED = Decimal("Infinity")

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


def reduces(side: Side, qty: int | Decimal, position: int | Decimal) -> bool:
    """Whether an order of `qty` shares on `side` only moves `position` (signed) toward zero, not past it."""
    signed = qty if side is Side.BUY else -qty
    return position != 0 and (position > 0) != (signed > 0) and abs(signed) <= abs(position)


def may_send(order: Order, position: int | PendingPosition) -> bool:
    """Whether a halted account may send `order`, holding `position` signed shares of its symbol, or, counting what
    the orders already at the broker may do to it, `pending_position`'s range: judged at its worst for the order."""
    held = position if isinstance(position, int) else position.worst_for(order.side)
    return reduces(order.side, order.qty, held)


@dataclass(frozen=True)
class PendingPosition:
    """Where one symbol's signed position may end once the orders still at the broker are done: `low` to `high`.

    The one rule for pending exposure (`pending_position`, `opening_orders`; the halt's checks in
    workflows/execution.py): an order working at the broker is counted as filling what remains of it. An order whose
    cancel is under way (`BrokerOrder.canceling`: Alpaca's pending_cancel, for seconds, until the next open outside
    market hours, or until it fills when the venue cannot cancel it) usually ends canceled, but may fill any part of
    what remains before the cancel lands: it is counted as filling none of it and as filling all of it, which is what
    widens `low`..`high`. A check that bounds risk judges an order at the end of the range worst for it
    (`worst_for`): a sell is judged against the least the account may hold, a buy against the most, so a halted
    account's close still reduces whichever way a pending cancel turns out, and never crosses zero when it fills (an
    add canceled and still pending counted as filled let a sell larger than what is held pass as a close). Nothing
    plans on top of such an order: a week's gate and a checkpoint wait while any order of llmtrade's is still at the
    broker, a pending cancel included (workflows/execution.py `queued_order_ids`), so a plan is sized only from what
    the account holds."""

    low: Decimal
    high: Decimal

    def worst_for(self, side: Side) -> Decimal:
        """The position an order on `side` is judged against: for a sell the least it may be, for a buy the most
        (a reduction is judged where it reduces least, or where it would cross zero soonest)."""
        return self.low if side is Side.SELL else self.high

    def after(self, order: BrokerOrder) -> PendingPosition:
        """The range once `order` (working at the broker) is done: all of what remains of it filled, or, its cancel
        under way, anywhere between none and all of it. One in dollars (a notional order placed by hand) may fill any
        number of shares: on its side toward flat at most to flat (Alpaca neither shorts nor turns a position in
        dollars), else without bound."""
        if order.in_dollars():
            if order.side is Side.BUY:
                return PendingPosition(self.low, Decimal(0) if self.high < 0 else _UNBOUNDED)
            return PendingPosition(Decimal(0) if self.low > 0 else -_UNBOUNDED, self.high)
        remaining = order.shares() - order.filled_qty
        signed = remaining if order.side is Side.BUY else -remaining
        if not order.canceling:
            return PendingPosition(self.low + signed, self.high + signed)
        return PendingPosition(self.low + min(signed, 0), self.high + max(signed, 0))


def pending_position(
    positions: Mapping[str, Position],
    queued: Iterable[BrokerOrder],
    symbol: str,
    fractions: Mapping[str, float] | None = None,
) -> PendingPosition:
    """Where the account's position in `symbol` may end once the orders still working at the broker are done
    (`PendingPosition`: one with its cancel under way may fill or not), in exact shares: the whole shares held, the
    fraction beyond them (`fractions`, as AccountSnapshot.fractions), and each order's exact size (a by-hand sell of
    0.5 of 10.5 held leaves 10: rounded up to 1 and set against 10, it left 9 and blocked a halted account's close).

    Two closes queued for the same open must not both pass as reducing a position only one of them closes."""
    held = _held(positions, fractions or {}, symbol)
    pending = PendingPosition(held, held)
    for order in queued:
        if order.symbol == symbol and _working(order):
            pending = pending.after(order)
    return pending


def _working(order: BrokerOrder) -> bool:
    """Whether `order` may still fill: working, with shares left, or in dollars (listed with no shares: a notional
    order was skipped as done, so a halt left a by-hand "buy $5,000 of QQQ" working)."""
    return order.status is OrderStatus.ACCEPTED and (order.in_dollars() or order.qty > order.filled_qty)


def _reduces(order: BrokerOrder, pending: PendingPosition) -> bool:
    """Whether `order` only reduces the position at its worst (`PendingPosition.worst_for`). One in dollars, of no
    known size, reduces when its side moves toward flat: Alpaca fills it only up to what is held."""
    held = pending.worst_for(order.side)
    if order.in_dollars():
        return held < 0 if order.side is Side.BUY else held > 0
    return reduces(order.side, order.shares() - order.filled_qty, held)


def _held(positions: Mapping[str, Position], fractions: Mapping[str, float], symbol: str) -> Decimal:
    """The signed shares held of `symbol`, exactly: whole shares and the fraction beyond them."""
    whole = positions[symbol].qty if symbol in positions else 0
    return whole + Decimal(repr(fractions.get(symbol, 0.0)))


def opening_orders(
    positions: Mapping[str, Position], queued: Sequence[BrokerOrder], fractions: Mapping[str, float] | None = None
) -> list[BrokerOrder]:
    """The queued orders a halt cancels: those that would open or add, taken oldest first, each judged against the
    position as the orders before it leave it (a close queued ahead stays), at its worst (`PendingPosition`). An order
    whose cancel is under way is not listed (it is asked once, by whoever asked it) but may still fill: the orders
    after it are judged whichever way it ends."""
    held: dict[str, PendingPosition] = {}
    cancel: list[BrokerOrder] = []
    for order in queued:
        if not _working(order):
            continue
        exact = _held(positions, fractions or {}, order.symbol)
        pending = held.get(order.symbol, PendingPosition(exact, exact))
        # One whose cancel is under way is asked no more, but widens what the orders after it are judged against.
        if order.canceling or _reduces(order, pending):
            held[order.symbol] = pending.after(order)
        else:
            cancel.append(order)
    return cancel
