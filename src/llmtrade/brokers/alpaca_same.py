"""Whether the order Alpaca holds under an order's client_order_id is that order (brokers/alpaca.py `_same_order`):
after a POST answered "client_order_id must be unique", or a lookup after a POST whose answer was lost.

llmtrade makes each client_order_id itself, unique (week, account, symbol, intent: brokers/order_plan.py), so the id
with its symbol and side is the order. Its qty is not: Alpaca scales an open order's qty by a split's ratio (and keeps
its prices: alpacahq/alpaca-py #469), so a DAY order queued over a split's ex-day is found for 40 shares where llmtrade
sent 10. Comparing the qty recorded such an order refused while Alpaca held it and filled it.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from llmtrade.market.splits import RATIOS


def scaled_note(sent: int, held: Decimal | None) -> str | None:
    """The empty string when Alpaca holds the order for the `sent` shares; what to say when it holds `held` shares,
    the `sent` ones scaled by an announced split's ratio (within a share: Alpaca may round a fraction away); None when
    nothing explains the difference, which is no order llmtrade can take for its own."""
    if held is None or held <= 0:
        return None
    if held == sent:
        return ""
    scaled = [r for r in RATIOS if abs(Fraction(held) - sent * r) < 1]
    if not scaled:
        return None
    ratio = min(scaled, key=lambda r: abs(Fraction(held) - sent * r))
    return (
        f"alpaca holds it for {held.normalize():f} shares, {sent} sent: a {ratio.numerator}-for-{ratio.denominator} "
        "split's ratio apart, as Alpaca scales an open order at a split (its fill is checked against the sent qty)"
    )
