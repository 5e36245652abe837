"""Trading records: what the risk gate decides, the orders it lets through, fills and positions."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, model_validator

from llmtrade.domain.events import EventPayload
from llmtrade.domain.market import Quote
from llmtrade.domain.records import Direction, Record


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Position(Record):
    symbol: str
    qty: int  # signed: positive long, negative short
    avg_price: float = Field(gt=0)


class AccountSnapshot(Record):
    """An account as its broker reports it, valued at the given prices."""

    account_id: str
    cash: float
    equity: float
    buying_power: float
    positions: dict[str, Position]
    # Known to the paper broker from its ledger; brokers that do not report them leave None.
    realized_pnl: float | None = None
    unrealized_pnl: float | None = None
    # Held symbols the prices given did not price, so valued at their average cost: that equity is no market value.
    at_cost: list[str] = Field(default_factory=list)
    # Symbol -> the signed fraction of a share held beyond the whole shares in `positions` (Alpaca: 10.5 after a
    # 3-for-2 split of 7): whole-share orders cannot trade it; reconciliation reports it.
    fractions: dict[str, float] = Field(default_factory=dict)
    # Symbol -> the broker's own unrealised P/L of the whole position (USD), where the broker marks its positions
    # (Alpaca's `unrealized_pl`; an option contract is 100 shares' worth): what a position llmtrade cannot price (an
    # option, a coin, a stock outside its data) made. Left out of the record when empty (the paper broker's).
    broker_pnl: dict[str, float] = Field(default_factory=dict, exclude_if=lambda marks: not marks)
    # What names the account at its broker (Alpaca: its id, account_number and created_at); a paper account reset from
    # Alpaca's dashboard is a new account for the same keys, so a new name. None: the broker has no such name (paper).
    broker_account: str | None = Field(default=None, exclude_if=lambda name: name is None)


class TradeIntent(Record):
    """What an account's owner wants this week, before the risk gate: one instrument, a conviction."""

    account_id: str
    instrument: str
    direction: Direction
    conviction: int = Field(ge=-2, le=2)
    source: str  # "pitch:<idea_id>", "decision:<decision_id>", "checkpoint:<id>"


class RiskAdjustment(Record):
    rule: str  # e.g. max_position_pct, max_asset_class_pct, cash, whole_shares
    detail: str
    before_qty: int
    after_qty: int


class RiskVerdict(Record):
    """The gate's answer: the signed share count the account should hold in the instrument."""

    account_id: str
    instrument: str
    target_qty: int
    approved: bool
    reason: str
    price: float
    adjustments: list[RiskAdjustment]
    # Set only for a halted account: the target the gate would have approved without the halt (None
    # when it would have refused too). Its shadow trades are valued from it, never sent.
    shadow_qty: int | None = None


class Order(Record):
    client_order_id: str = Field(max_length=48)
    account_id: str
    week_id: date
    symbol: str
    side: Side
    qty: int = Field(gt=0)
    intent: str  # open | close | resize | exit | flip | reduce


class OrderStatus(StrEnum):
    ACCEPTED = "accepted"  # queued (e.g. for the next open) or working: may still fill
    FILLED = "filled"
    REJECTED = "rejected"  # refused, or ended by the broker (expired) without our asking
    CANCELED = "canceled"  # ended by our cancel; any shares filled before it stay filled


class OrderResult(Record):
    client_order_id: str
    status: OrderStatus
    broker_order_id: str | None = None
    filled_qty: int = 0
    fill_price: float | None = None
    message: str = ""
    # Why the broker takes the order as working though it lists it among no open orders, nothing of it shown working
    # (Alpaca: ended "replaced" by an order it does not show): a condition to say once (brokers/order_ends.py), not an
    # end. "" otherwise, and then left out of the record, as results stored before it were written.
    unlisted: str = Field(default="", exclude_if=lambda said: not said)
    # When the broker took the order, as it says (Alpaca's submitted_at): the order's sent time for the split rule
    # when a rerun records it late (`OrderSubmitted.sent_at`). None where the broker does not say (the paper broker),
    # and then left out of the record, as results stored before it were written.
    submitted_at: datetime | None = Field(default=None, exclude_if=lambda at: at is None)


class BrokerOrder(Record):
    """An order a broker holds, as `Broker.open_orders()` lists it. Quantities are whole shares: an order in a fraction
    of a share or in dollars (Alpaca's fractional trading; llmtrade sends neither, a person may) has `qty` the whole
    shares it may fill at most (its fraction rounded up; 0 for dollars, whose shares are known only as it fills) and
    `ordered` what it was given in."""

    client_order_id: str
    symbol: str
    side: Side
    qty: int = Field(ge=0)
    status: OrderStatus
    filled_qty: int = Field(default=0, ge=0)  # shares filled so far (a partial fill of a working order)
    broker_order_id: str | None = None
    submitted_at: datetime | None = None
    # A cancel of it (asked by anyone) is under way and not done yet (Alpaca's pending_cancel): still working, it may
    # fill yet, and nothing asks to cancel it again.
    canceling: bool = False
    # Its size as the broker gave it when not whole shares ("0.5", "$500.00 of"); "" for whole shares (`qty`).
    ordered: str = ""
    # The client_order_id of the multi-leg order (an options spread placed by hand) it is a leg of; "" for an order of
    # its own. The broker cancels a spread as one, by its parent: a leg is not canceled by its own id.
    parent: str = ""
    # The broker is done executing it for the day (Alpaca's done_for_day: "will not receive further updates until the
    # next trading day"; a DAY order, as llmtrade sends, so ends expired): it exists, so it is never sent again, but it
    # cannot fill now, so nothing waits for it (workflows/execution.py `queued_order_ids`). Left out of the record when
    # False, as orders stored before it were written.
    done_for_day: bool = Field(default=False, exclude_if=lambda done: not done)

    def size(self) -> str:
        """The order's size as said to a person: "10", "0.5" (shares) or "$500.00 of" (dollars)."""
        return self.ordered or str(self.qty)

    def shares(self) -> Decimal:
        """The shares it is for, exactly: a fraction as the broker gave it ("0.5"), not rounded up to `qty`, so it is
        judged against a position's fraction as the position holds it (`AccountSnapshot.fractions`). Of no use for one
        in dollars (`in_dollars`)."""
        return Decimal(self.ordered) if self.ordered and not self.in_dollars() else Decimal(self.qty)

    def in_dollars(self) -> bool:
        """Whether it is for an amount of money (Alpaca's notional order): its shares are known only as it fills."""
        return self.ordered.startswith("$")


class Fill(Record):
    """An order's execution. `qty` is whole shares; a fill in a fraction of a share (Alpaca's fractional trading: never
    llmtrade's, a person's by hand) has `exact`, the quantity the broker filled, and `qty` its whole shares (0: under
    one)."""

    client_order_id: str
    account_id: str
    symbol: str
    side: Side
    qty: int = Field(ge=0)
    price: float = Field(gt=0)
    commission: float = 0.0
    filled_at: datetime
    # Where the price came from, e.g. "synthetic path" or "csv open" (paper); "" when the broker does not say.
    price_source: str = ""
    # As the broker wrote it ("0.5", "2.25"); "" for whole shares, and then left out of the record (as every fill was
    # before): the user's P/L by hand is figured from it (domain/hand_fills.py), whole shares left 0.25 of 2.25 in ours.
    exact: str = Field(default="", pattern=r"^(0|[1-9]\d*)\.\d*[1-9]$|^$", exclude_if=lambda text: not text)
    # The broker's order(s) that replaced this one outside llmtrade and filled in its place (Alpaca's `replaced_by`:
    # brokers/alpaca_chains.py), as the broker names them; "" for an order filled as sent, and then left out of the
    # record (as every fill was before), so a run says the replacement once, as it records the fill.
    replaced_by: str = Field(default="", exclude_if=lambda text: not text)

    @model_validator(mode="after")
    def _whole_shares_of_exact(self) -> Fill:
        if self.exact and int(Decimal(self.exact)) != self.qty:
            raise ValueError(f"qty {self.qty} is not the whole shares of {self.exact}")
        if not self.exact and self.qty == 0:
            raise ValueError("qty must be greater than 0")
        return self

    def shares(self) -> Decimal:
        """The shares filled, exactly: `exact` when a fraction, else `qty`."""
        return Decimal(self.exact) if self.exact else Decimal(self.qty)


# ---------------------------------------------------------------- events


class TradeIntended(EventPayload):
    intent: TradeIntent


class RiskChecked(EventPayload):
    verdict: RiskVerdict


class OrderSubmitted(EventPayload):
    order: Order
    broker: str
    result: OrderResult

    def sent_at(self, recorded: datetime) -> datetime:
        """When the order was sent, its record being stored at `recorded`: the split rule's time (a split recorded
        before then never scaled it: brokers/overfills.py `scales`). A rerun records an order a killed run got to its
        broker late (workflows/plan_recovery.py `recover_orders`), after a split Alpaca scaled it at perhaps: its
        broker's time then (`OrderResult.submitted_at`). Never after its record (the broker's clock ahead of ours)."""
        taken = self.result.submitted_at
        return recorded if taken is None else min(taken, recorded)


class OrderRejected(EventPayload):
    """The broker refused `order`, in its words (`reason`).

    `lasting`: a refusal the broker's adapter knows will not change by sending the order again this week
    (errors.BrokerRejected); a PlanAbandoned giving the order up is written with it. Left out of the event when False,
    as every refusal recorded before the field was (a refusal is resent while it is still valid)."""

    order: Order
    broker: str
    reason: str
    lasting: bool = Field(default=False, exclude_if=lambda lasting: not lasting)


class LegHeldBack(EventPayload):
    """A plan's opening leg not sent yet: it waits for `waiting_for` (the close of the same symbol) to fill.

    On the orders stream, once per order; the same or a later run (rerun, checkpoint) sends it when the
    close has filled. Never both legs of a side change at the broker at once."""

    order: Order
    waiting_for: str  # the client_order_id of the close


class OrderFilled(EventPayload):
    fill: Fill
    broker: str


class PaperOrderAccepted(EventPayload):
    """The paper broker took an order; it fills at `fill_after` (the next open when the market is closed).

    `quote` is the price at `fill_after` for an order taken in session (before slippage): a fill is
    re-derived on every read, and a price "now" cannot be asked again for a past instant. None for an
    order queued for the next open (priced by that session's opening price) and for events of schema 1.
    `at_close`: taken in session where the price now was no traded one (Quote.tradable), it fills at `fill_after`,
    the session's close, at the closing price (left out of the event when False)."""

    schema_version: ClassVar[int] = 2

    order: Order
    fill_after: datetime
    quote: Quote | None = None
    at_close: bool = Field(default=False, exclude_if=lambda at: not at)

    @staticmethod
    def upcast_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
        # Schema 1 orders filled at their fill day's open: no quote was taken.
        return {**payload, "quote": None}


class PaperOrderCanceled(EventPayload):
    """The paper broker canceled a queued order before its fill time; it never fills."""

    client_order_id: str
    canceled_at: datetime


class OrdersPlanned(EventPayload):
    """The account's orders for the week, frozen before any is sent (a resume sends this plan)."""

    account_id: str
    broker: str
    orders: list[Order]
    positions_before: dict[str, Position]


class PlanAbandoned(EventPayload):
    """A frozen plan that will not be sent, for a reason a person can act on; on the orders stream.

    Written once per plan (its `client_order_ids` identify it): a rerun reports it again and sends none of the orders
    it gives up (`whole_plan`: all of the plan's, or those named alone). Positions are whole shares by symbol (negative
    is short), as the plan assumed them (`planned_positions`) and as the broker holds them now (`actual_positions`)."""

    account_id: str
    broker: str
    reason: str
    client_order_ids: list[str]
    planned_positions: dict[str, int]
    actual_positions: dict[str, int]
    # False: only the orders named are given up (a side change's opening leg whose close ended unfilled:
    # workflows/ended_close.py; an order a checkpoint found no longer valid or sized before a split: workflows/legs.py;
    # a delisted symbol's orders: app/backtest_delisting.py); the plan's other orders are sent as ever, a rerun sending
    # what it has not (each once: it asks the broker first). True: the whole plan.
    whole_plan: bool = True

    schema_version: ClassVar[int] = 2

    @staticmethod
    def upcast_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
        # Schema 1 took the whole plan as abandoned unless told otherwise: a leg abandoned for its ended close was
        # written without the field before it existed, and the checkpoints' and the delistings' abandonments of single
        # orders were written with its default, True. Each named its orders alone (every later run gave up only
        # those) and each is told by the reason its build wrote; any other (a plan that no longer fits, one
        # superseded by a newer plan) was the whole plan's.
        if any(pattern.fullmatch(payload.get("reason", "")) for pattern in _V1_ONE_ORDER_REASONS):
            return {**payload, "whole_plan": False}
        return payload


# The reasons schema-1 builds gave an abandonment of the orders named alone, as they wrote them (never to change: they
# read events already stored).
_V1_ONE_ORDER_REASONS = tuple(
    re.compile(pattern, re.DOTALL)
    for pattern in (
        r"no longer valid for what the account holds",
        r"planned before a split of its symbol, in the shares before it",
        r"\S+ delisted: its last session has closed, nothing in it can be traded",
        r"its close \S+ ended at \S+ before filling whole \(.*\), so \S+ is still held \(-?\d+ shares\) "
        r"and the opening leg (buy|sell) \d+ \S+ \(\S+\) was not sent",
    )
)


class ShadowTraded(EventPayload):
    """A fill a halted account would have had (its gate's uncut verdict), valued but never sent.

    Kept on the account's breaker stream after the halt it belongs to; its round trips count toward
    the wins that resume a loss-streak halt. `source` names the decision (a week, a checkpoint)."""

    fill: Fill
    source: str


class QueuedOrderCanceled(EventPayload):
    """An order queued at the broker canceled: one that would open or add, because the account halted (on its breaker
    stream); or a paper order a split came between (`reason` 'split: ...', on the order's write-once fill stream)."""

    account_id: str
    client_order_id: str
    reason: str
    status: OrderStatus | None  # the order's state after the cancel (None: the broker never had it)


class OrderNotShown(EventPayload):
    """An order of llmtrade's the broker takes as working but shows nowhere working (`OrderResult.unlisted`: Alpaca
    ended it "replaced" by an order it does not show), found by a look: recorded once per order, on its write-once
    stream (domain/streams.py `unlisted_stream`), and said by the run that recorded it. Not an end: the order stays
    working in llmtrade's books, nothing sent again, nothing booked, until the broker shows what became of it."""

    account_id: str
    client_order_id: str
    broker: str
    note: str  # the broker's words: what it shows, what llmtrade does meanwhile, what to do


class OrderOverfilled(EventPayload):
    """An order of llmtrade's whose fill, as its broker reports it, is more shares than llmtrade sent it for: its chain
    (the order and its replacements outside llmtrade, brokers/alpaca_chains.py) filled more, as Alpaca's replacement
    of a part filled order is for a quantity of its own, not what was left (alpacahq/Alpaca-API #165), or the broker
    reported a single order filled beyond its quantity (a malformed answer). Recorded once
    per order, with its fill, on its write-once stream (domain/streams.py `overfill_stream`), and said by the run that
    recorded it (brokers/overfills.py). The fill stands as booked (what happened); nothing is sent to undo it."""

    account_id: str
    client_order_id: str
    broker: str
    symbol: str
    side: Side
    meant: int  # the shares llmtrade sent the order for
    filled: str  # the shares the broker filled for it, exactly ("14", "10.5")
    note: str  # what happened, that the position differs from the plan, that nothing is sent, and what to do
    # The fill against the order in the shares of the splits recorded since it was sent, when one changed its qty
    # (brokers/overfills.py `part_filled`: "56 of 40 filled, 10 sent before the 4-for-1 split"), as the run decided
    # it; left out with no split ("14 of 10 filled" is `meant` and `filled`).
    part: str = Field(default="", exclude_if=lambda said: not said)
