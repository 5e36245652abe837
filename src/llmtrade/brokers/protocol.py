"""What every broker offers. Implementations: the local paper broker and Alpaca (paper by default).

This docstring and the methods' are the contract; tests/test_broker_contract.py checks it against every
broker. Units: quantities are whole shares (signed only in `Position.qty`: negative is short), money
is in the account's currency, instants are timezone-aware datetimes.

Errors: a broker that cannot be reached or answers 429/5xx raises BrokerUnavailable (temporary: a rerun
may succeed); a broker that refuses a request raises BrokerRejected (operational: stop and explain);
an answer in a shape we cannot read raises OperationalError. Nothing else escapes a broker.

Idempotency: `submit` is idempotent by client_order_id (submitting an id the broker already knows
returns that order, never a second one), which is what makes reruns, retries and crash recovery
safe; `cancel` is idempotent too. Reads (`account`, `look_at`, `find`, `open_orders`, `fills`, `is_shortable`)
write nothing: no events, no HTTP writes. Recording fills in the audit log is an explicit write of
its own (brokers/fills.py `record_new_fills`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from llmtrade.domain.trading import AccountSnapshot, BrokerOrder, Fill, Order, OrderResult

if TYPE_CHECKING:
    from llmtrade.brokers.fills import Observed
    from llmtrade.domain.market import Quote


@dataclass(frozen=True)
class CancelAnswer:
    """What `Broker.cancel` did: the order's state after the call, and whether this call asked the broker to cancel it.

    `asked` False: the order was found filled or ended already, or with a cancel under way that someone else asked
    for (Alpaca's pending_cancel), or it ended between the call's look and its request (Alpaca's 422): nothing of its
    end is this call's. The circuit breaker credits only an end it asked for (risk/halt_cancels.py)."""

    result: OrderResult
    asked: bool


class Broker(Protocol):
    name: str  # the registry's name for this kind of broker: "paper", "alpaca"
    account_id: str  # our id of the account (accounts.yaml), not the broker's
    # True: every order the broker ends unfilled is recorded by the broker itself (the paper broker: `record_canceled`
    # writes a split's cancel on its ledger and the order's stream together), so brokers/order_ends.py must leave its
    # orders alone. False: the broker's ends are only its order statuses, which order_ends.py records (Alpaca).
    records_own_ends: bool
    # True: `settle` closes a position at a price handed to it (the paper broker, whose books are llmtrade's own);
    # False: the broker holds the positions and only a trade there closes one (Alpaca).
    settles_at_price: bool

    def account(self, prices: Mapping[str, float]) -> AccountSnapshot:
        """Cash, equity, buying power and positions now.

        `prices` (symbol -> price) values positions the broker cannot value itself; a broker that
        knows its own marks may ignore it. A read: writes nothing.
        """
        ...

    def look_at(self, prices: Mapping[str, float]) -> tuple[AccountSnapshot, Observed] | None:
        """`account(prices)` and what brokers/fills.py `observe` reads (open orders, fills) from one read of the
        broker's books, the look's `version` naming them; None when the broker has no such single look (its reads
        are then made one by one: brokers/fills.py `look_at`). A read: writes nothing.
        """
        ...

    def record_canceled(self, *, run_id: str | None) -> list[str]:
        """Record, once, each order the broker canceled that only a read derives (the paper broker: a queued order a
        split came between; paper_book.py `split_cancels`); [] from a broker whose cancels are its own records, read
        back as order statuses (Alpaca: brokers/order_ends.py records them). A write, made where a job records the
        account's fills (brokers/fills.py), `run_id` the run that noticed; a rerun writes nothing more. The client
        order ids canceled now.
        """
        ...

    def submit(self, order: Order) -> OrderResult:
        """Send a market order; return the broker's order (or the existing one with the same client_order_id).

        The result is ACCEPTED (queued or working), FILLED, or REJECTED. A refusal raises BrokerRejected;
        an answer that leaves unknown whether the order landed is settled by looking it up, never by
        sending it twice.
        """
        ...

    def settle(self, order: Order, quote: Quote) -> OrderResult:
        """Fill `order` now at `quote` (a held symbol whose prices ended: no open will ever fill it); idempotent by its
        client_order_id as `submit` is. Only a broker that `settles_at_price`; another raises UsageError."""
        ...

    def find(self, client_order_id: str) -> OrderResult | None:
        """The order with this client_order_id as it is now, or None when the broker never received it."""
        ...

    def open_orders(self) -> list[BrokerOrder]:
        """Orders accepted but neither fully filled nor dead (canceled, expired, rejected), oldest first.

        A partially filled order that is still working is listed, with its `filled_qty`.
        """
        ...

    def fills(self, since: datetime | None = None) -> list[Fill]:
        """Executions, one per order that has filled shares, in fill order (oldest first).

        A Fill carries the order's filled quantity so far and its average price, net of nothing
        (commission apart). `since` keeps only fills with `filled_at >= since`. A read: it derives or
        fetches fills, it does not record them.
        """
        ...

    def cancel(self, client_order_id: str) -> CancelAnswer | None:
        """Cancel an open order and return its state afterwards, and whether this call asked for the cancel.

        None when the broker never had the order. Canceling an order that is already filled or dead, or whose cancel
        is under way, is not an error: its state is returned unchanged, not asked (idempotent: a second cancel answers
        like the first, but asks nothing). A broker that cancels asynchronously may answer ACCEPTED while the cancel
        is pending. A raise says the cancel was not made, as far as is known (risk/halt_cancels.py takes the breaker's
        request back then); once the broker took it, a failure to read the order's state afterwards is no raise.
        """
        ...

    def is_shortable(self, symbol: str) -> bool:
        """Whether `symbol` may be sold short on this account now; an unknown symbol is not shortable."""
        ...
