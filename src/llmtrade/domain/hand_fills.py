"""What the trades a person made by hand at the broker realised, in the quantities the broker filled.

llmtrade's own fills are whole shares and fold through domain/ledger.py. A fill by hand may be a fraction of a share
(Alpaca's fractional trading, `Fill.exact`: "0.5", "2.25"), and what it realised is the user's, taken out of the
managed equity (domain/reconciliation.py `with_hands`): folded in whole shares, a 0.5-share round trip realised nothing
and 2.25 shares realised 2 shares' worth, the rest left in the equity llmtrade calls the account's. So the user's trades
fold here on their exact shares (Fractions: no float noise in a share count), by the ledger's convention: adding to a
holding moves its average cost, reducing it realises (price - average) per share closed, a fill through zero opens the
remainder at its price, commissions count against it, and a split scales a holding as `Split.applied` says. On whole
shares it gives what `domain.ledger.fold(...).realized_pnl` gives, to the bit (the same float operations in order).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from llmtrade.domain.ledger import Event, Split, apply_fill
from llmtrade.domain.trading import Side


def realized_by_hand(fills: Iterable[Event]) -> float:
    """The realised P/L of `fills` (a person's, in fill order, splits merged in: `domain.ledger.with_splits`), net of
    commissions, on the exact shares each filled (`Fill.shares`)."""
    held: dict[str, tuple[Fraction, float]] = {}
    realized = 0.0
    for fill in fills:
        if type(fill) is Split:
            qty, avg = held.get(fill.symbol, (Fraction(0), 0.0))
            if qty:
                whole, cost, _, gain = fill.applied(qty, avg)
                realized += gain
                held[fill.symbol] = (Fraction(whole), cost)
            continue
        shares = Fraction(fill.shares())
        signed = shares if fill.side is Side.BUY else -shares
        qty, avg = held.get(fill.symbol, (Fraction(0), 0.0))
        closed = min(abs(qty), shares) if qty and (qty > 0) != (signed > 0) else Fraction(0)
        realized += float(closed) * (fill.price - avg) * (1 if qty > 0 else -1) - fill.commission
        held[fill.symbol] = apply_fill(qty, avg, signed, fill.price)
    return realized
