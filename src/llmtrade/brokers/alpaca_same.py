"""Whether the order Alpaca holds under an order's client_order_id is that order (brokers/alpaca.py `_same_order`):
after a POST answered "client_order_id must be unique", or a lookup after a POST whose answer was lost.

llmtrade makes each client_order_id itself, unique (week, account, symbol, intent: brokers/order_plan.py), so the id
with its symbol and side is the order. Its qty is not: Alpaca scales an open order's qty by a split's ratio (and keeps
its prices: alpacahq/alpaca-py #469), so a DAY order queued over a split's ex-day is found for 40 shares where llmtrade
sent 10. Comparing the qty recorded such an order refused while Alpaca held it and filled it.

Only a split recorded explains it (storage/splits.py: SplitDetected, from the broker's position or a provider's
restated history), of the order's symbol and one it may have been open at (overfills.py `scales`). llmtrade never
sends a client_order_id again with another qty, so a qty that merely equals the sent one times some announced ratio,
no such split recorded, was taken for the order on a guess: it is no order llmtrade can explain, an error of the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from llmtrade.brokers.overfills import scales
from llmtrade.domain.ledger import Split
from llmtrade.domain.trading import Order

_EVER = datetime.max.replace(tzinfo=UTC)  # whatever its ex-day: a split recorded is one Alpaca has applied


def scaled_note(order: Order, held: Decimal | None, sent_at: datetime | None, splits: Sequence[Split]) -> str | None:
    """The empty string when Alpaca holds `order` for the shares sent; what to say when it holds `held` shares, the sent
    ones scaled by the recorded splits (`splits`) that may have scaled it (overfills.py `scales`, the one rule: of its
    symbol, in its week, and it perhaps open at the split, `sent_at` being Alpaca's submitted_at), within a share
    (Alpaca may round a fraction away); None when nothing recorded explains the difference, which is no order llmtrade
    can take for its own. No ex-day is too late (`_EVER`): a split seen in the broker's position the evening before
    is recorded with the next session's. A rule of its own here (only an ex-day after submitted_at) refused an order
    scaled by a split of uncertain ex-day that came after it was sent, held by Alpaca and perhaps filled."""
    if held is None or held <= 0:
        return None
    if held == order.qty:
        return ""
    since_sent = [s for s in splits if scales(s, order, _EVER, sent_at)]
    ratio = Fraction(1)
    for split in since_sent:
        ratio *= split.ratio
    if not since_sent or abs(Fraction(held) - order.qty * ratio) >= 1:
        return None
    named = ", ".join(f"{s.named()} (ex-day {s.at.date()})" for s in since_sent)
    return (
        f"alpaca holds it for {held.normalize():f} shares, {order.qty} sent: the {named} split of {order.symbol} "
        "recorded since it was sent, as Alpaca scales an open order at a split (its fill is checked against the sent "
        "qty in the new shares)"
    )
