"""A paper order's fill, derived from its acceptance: at the quote it was taken at, else at its session's open (or
close, brokers/paper_opens.py), moved against the trader by the slippage, with the commission of an order.

Every look at the paper broker's book derives the fills of its pending orders again (brokers/paper.py `_derived`). The
fill last derived for each is kept with the acceptance and price it came from, and handed out again while they are the
same: the same Fill object each time lets what compares the lists (fill_view, the breaker's trades) match by identity.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from llmtrade.brokers.paper_opens import SessionOpens
from llmtrade.domain.ledger import Split
from llmtrade.domain.trading import Fill, PaperOrderAccepted, Side
from llmtrade.market.calendar import new_york_date

# Kept fills past which those of orders no longer pending (recorded or canceled since: their fills are booked) go.
KEPT = 64


class PendingFills:
    """The fills of `account_id`'s pending orders; `slippage` a fraction of the price (5 bps: 0.0005), `commission`
    USD an order."""

    def __init__(self, account_id: str, *, slippage: float, commission: float):
        self.account_id = account_id
        self._slippage = slippage
        self._commission = commission
        self._kept: dict[str, tuple[PaperOrderAccepted, float, str, Fill]] = {}

    def keep_only(self, pending: Collection[str]) -> None:
        """Forget the fills of orders not in `pending` (client order ids), once more than KEPT are kept."""
        if len(self._kept) > KEPT:
            self._kept = {cid: kept for cid, kept in self._kept.items() if cid in pending}

    def of(
        self, pending: PaperOrderAccepted, accepted_at: datetime, splits: tuple[Split, ...], opens: SessionOpens
    ) -> Fill | None:
        """The fill of the accepted order `pending` (recorded at `accepted_at`) through `splits`, an open or close
        priced by `opens`; None while its price is not known yet."""
        order = pending.order
        if pending.quote is not None:
            price: float | None = pending.quote.price
            source = pending.quote.source
        else:
            day = new_york_date(pending.fill_after)
            price = opens.at(order.symbol, day, splits, close=pending.at_close)
            source = "daily close" if pending.at_close else "daily open"
        if price is None:
            return None  # no price yet: the order stays queued until the data has it
        kept = self._kept.get(order.client_order_id)
        if kept is not None and kept[0] is pending and kept[1] == price and kept[2] == source:
            return kept[3]
        slipped = price * (1 + self._slippage) if order.side is Side.BUY else price * (1 - self._slippage)
        fill = Fill(
            client_order_id=order.client_order_id,
            account_id=self.account_id,
            symbol=order.symbol,
            side=order.side,
            qty=order.qty,
            price=round(slipped, 4),
            commission=self._commission,
            # Never before the order's own record: one filled at once (in session at its quote, or settled) has its
            # `fill_after` read from the clock before the store stamps the acceptance, microseconds later on the
            # machine's clock. A chosen clock reads the same instant twice; a queued order fills after it anyway.
            filled_at=max(pending.fill_after, accepted_at),
            price_source=source,
        )
        self._kept[order.client_order_id] = (pending, price, source, fill)
        return fill
