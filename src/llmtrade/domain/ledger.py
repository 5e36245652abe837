"""Average-cost accounting, once: positions, cash and realised P/L folded from fills.

Every place that needs a position's cost or a trade's P/L (the paper broker's balances, the
circuit breaker's loss streak, the hit rate in `status`, the postmortem) folds fills through this
module, so they cannot disagree about what a trade made.

Convention (average cost, as most brokers report it): adding to a position moves its average
price to the quantity-weighted mean; reducing it realises (price - average) per share closed,
signed by the side closed, and leaves the remaining shares at their old average; a fill that
crosses zero closes the old position and opens the remainder at the fill price. Commissions are
cash paid and count against realised P/L.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from llmtrade.domain.trading import Fill, Position, Side


class Ledger(BaseModel):
    """Cash, positions (signed whole shares) and realised P/L net of commissions, in account currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cash: float
    positions: dict[str, Position]
    realized_pnl: float


def apply_fill(qty: int, avg: float, signed: int, price: float) -> tuple[int, float]:
    """New (quantity, average price) after a fill of `signed` shares (buy > 0, sell < 0) at `price`."""
    new_qty = qty + signed
    if qty == 0 or (qty > 0) == (signed > 0):
        return new_qty, (abs(qty) * avg + abs(signed) * price) / abs(new_qty)
    if new_qty == 0:
        return 0, 0.0
    if (new_qty > 0) == (qty > 0):
        return new_qty, avg  # reduced: the remaining shares keep their cost
    return new_qty, price  # crossed through zero: the remainder opened at this price


def signed_qty(fill: Fill) -> int:
    return fill.qty if fill.side is Side.BUY else -fill.qty


def fold(fills: Iterable[Fill], starting_cash: float) -> Ledger:
    """The account after `fills`, in the order given (fill order)."""
    cash = starting_cash
    realized = 0.0
    held: dict[str, tuple[int, float]] = {}
    for fill in fills:
        signed = signed_qty(fill)
        cash -= signed * fill.price + fill.commission
        qty, avg = held.get(fill.symbol, (0, 0.0))
        closed = min(abs(qty), abs(signed)) if qty and (qty > 0) != (signed > 0) else 0
        realized += closed * (fill.price - avg) * (1 if qty > 0 else -1) - fill.commission
        held[fill.symbol] = apply_fill(qty, avg, signed, fill.price)
    positions = {s: Position(symbol=s, qty=q, avg_price=round(a, 4)) for s, (q, a) in held.items() if q != 0}
    return Ledger(cash=cash, positions=positions, realized_pnl=realized)


def closed_trade_pnls(fills: Iterable[Fill]) -> list[float]:
    """Realised P/L of each fill that reduces, closes or flips a position, in fill order.

    A reducing fill realises (price - average cost) per share closed, signed by the side it
    closes, less the fill's whole commission. A fill that crosses through zero closes the old
    position (one P/L) and opens the remainder at its price. Fills that only open or add realise
    nothing here.

    Positions are tracked per account and symbol, so fills of several accounts can be passed
    together. Amounts are rounded to cents: average costs come from a division, and float noise
    of a millionth of a cent must not turn an even trade into a win or a loss.
    """
    held: dict[tuple[str, str], tuple[int, float]] = {}
    pnls: list[float] = []
    for fill in fills:
        key = (fill.account_id, fill.symbol)
        signed = signed_qty(fill)
        qty, avg = held.get(key, (0, 0.0))
        if qty != 0 and (qty > 0) != (signed > 0):
            closed = min(abs(qty), abs(signed))
            direction = 1 if qty > 0 else -1  # a long gains when the price rose, a short when it fell
            pnl = closed * (fill.price - avg) * direction - fill.commission
            pnls.append(round(pnl, 2) + 0.0)  # + 0.0 turns a rounded -0.0 into 0.0
        held[key] = apply_fill(qty, avg, signed, fill.price)
    return pnls
