"""What every broker offers. Implementations: the local paper broker and Alpaca (paper by default).

`submit` must be idempotent by client_order_id: submitting an order whose id the broker already
knows returns that order, never a second one. That is what makes reruns, retries and crash
recovery safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from llmtrade.domain.trading import AccountSnapshot, Order, OrderResult


class Broker(Protocol):
    name: str

    def account(self, prices: Mapping[str, float]) -> AccountSnapshot:
        """Cash, equity, buying power and positions; `prices` values positions the broker cannot."""
        ...

    def submit(self, order: Order) -> OrderResult:
        """Send a market order (or return the existing one with the same client_order_id)."""
        ...

    def find(self, client_order_id: str) -> OrderResult | None:
        """The order with this client_order_id, or None when the broker never received it."""
        ...

    def is_shortable(self, symbol: str) -> bool: ...
