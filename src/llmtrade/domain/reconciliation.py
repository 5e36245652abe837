"""Reconciliation: the broker's account against llmtrade's own records, and what llmtrade manages.

llmtrade manages only what it opened (fills of its own orders) and what the user adopted by hand
(`llmtrade positions adopt`). Everything else at the broker (a position bought in the broker's web
page, an order llmtrade never sent) is reported as a difference and left alone: it is never sold by
the week's roll, never resized, and counts in neither sizing nor performance.

The ledger's quantity of a symbol is additive, so it does not depend on the order in which fills and
adoptions happened: (net shares of llmtrade's own fills) + (shares adopted) - (shares released).
The managed quantity is that, clipped to what the broker actually holds on the same side (llmtrade
cannot trade shares that are not there).

Everything here is pure: broker views and ledger views in, differences and snapshots out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal

from pydantic import Field

from llmtrade.domain.events import EventPayload
from llmtrade.domain.hand_fills import realized_by_hand
from llmtrade.domain.ledger import Split, signed_qty, with_splits
from llmtrade.domain.records import Record
from llmtrade.domain.trading import AccountSnapshot, BrokerOrder, Fill, Position

# The prefix of every client_order_id llmtrade sends (brokers/order_plan.py `client_order_id`).
OUR_ORDER_PREFIX = "lt-"

DifferenceKind = Literal[
    "unmanaged_position",  # the broker holds shares llmtrade never opened nor adopted
    "quantity_mismatch",  # both hold the symbol, in different quantities
    "position_missing",  # llmtrade's records hold shares the broker does not have
    "unknown_order",  # an open order at the broker that llmtrade never sent
    "unknown_fill",  # an execution at the broker of an order llmtrade never sent
    "partial_fill",  # an order of llmtrade's still working with part of it filled
    "fractional_shares",  # the broker holds a fraction of a share beyond the whole ones (a split, a by-hand buy)
]


class Difference(Record):
    """One way the broker's account differs from llmtrade's records. Quantities are signed whole shares
    (negative: short) for positions; for orders and fills they are the order's unsigned share counts (whole shares:
    a fill in a fraction of a share, by hand, says its exact quantity in `detail`).

    `broker_qty`/`ledger_qty`: what each side holds of `symbol` (positions). `filled_qty` and
    `remaining_qty`: an order's shares filled so far and still to fill (orders and fills)."""

    kind: DifferenceKind
    symbol: str
    broker_qty: int = 0
    ledger_qty: int = 0
    client_order_id: str | None = None
    filled_qty: int = 0
    remaining_qty: int = 0
    detail: str = ""

    def key(self) -> str:
        """Identity of this difference: the same difference observed again has the same key, a changed
        one (another quantity, another partial fill) a new one. Short and safe for a stream name."""
        raw = "|".join(
            str(v)
            for v in (
                self.kind,
                self.symbol,
                self.broker_qty,
                self.ledger_qty,
                self.client_order_id,
                self.filled_qty,
                self.remaining_qty,
            )
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


class LedgerView(Record):
    """What llmtrade's records say an account holds: per symbol, shares from its own fills, adopted and released."""

    own: dict[str, int] = Field(default_factory=dict)
    adopted: dict[str, int] = Field(default_factory=dict)
    released: dict[str, int] = Field(default_factory=dict)
    # Per symbol, the P/L adopted shares had made before they were adopted (account currency): not the
    # PM's, whether the shares are still held (unrealised) or sold since (realised). Dropped on release,
    # when the shares are nobody's business but the user's again.
    adopted_pnl: dict[str, float] = Field(default_factory=dict)
    # What trades made by hand at the broker closed (their realised P/L, account currency): in the broker's cash and
    # equity, and the user's, not the PM's (a position bought by hand and sold at a profit is no return of llmtrade's).
    hands_realized: float = 0.0

    def qty(self, symbol: str) -> int:
        return self.own.get(symbol, 0) + self.adopted.get(symbol, 0) - self.released.get(symbol, 0)

    def symbols(self) -> set[str]:
        return {s for s in {*self.own, *self.adopted, *self.released} if self.qty(s) != 0}


# ---------------------------------------------------------------- events


class ReconciliationDifferenceFound(EventPayload):
    """A difference between the broker and llmtrade's records, recorded once (per account and `key`)
    the first time a run or checkpoint saw it; `occasion` says which ("week start", "checkpoint ...")."""

    account_id: str
    difference: Difference
    occasion: str


class PositionAdopted(EventPayload):
    """The user handed llmtrade `qty` signed shares of `symbol` it did not open: from now on they are managed.

    `avg_price` is the broker's average cost of the shares, `price` the market price at adoption; the
    P/L between the two was made before llmtrade held them and is never credited to the account."""

    account_id: str
    symbol: str
    qty: int
    avg_price: float = Field(gt=0)
    price: float = Field(gt=0)

    def prior_pnl(self) -> float:
        return self.qty * (self.price - self.avg_price)


class PositionReleased(EventPayload):
    """The user took `qty` signed shares of `symbol` back from llmtrade: they are left alone from now on."""

    account_id: str
    symbol: str
    qty: int


# ---------------------------------------------------------------- pure functions


def is_ours(client_order_id: str, planned: Collection[str] = ()) -> bool:
    """Whether llmtrade sent this order: one of its planned (or sent) ids, or an id in its own format."""
    return client_order_id.startswith(OUR_ORDER_PREFIX) or client_order_id in planned


def _id_set(planned: Iterable[str]) -> Collection[str]:
    # A set given (our_order_ids' frozenset) is used as it is: copying it would cost every order ever planned.
    return planned if isinstance(planned, (set, frozenset)) else set(planned)


def own_shares(fills: Iterable[Fill], planned: Iterable[str]) -> dict[str, int]:
    """Signed shares per symbol (in order of first appearance) of the fills of llmtrade's own orders."""
    planned_ids = _id_set(planned)
    own: dict[str, int] = {}
    for fill in fills:
        if is_ours(fill.client_order_id, planned_ids):
            own[fill.symbol] = own.get(fill.symbol, 0) + signed_qty(fill)
    return own


def ledger_view(
    fills: Iterable[Fill], planned: Iterable[str], changes: Iterable[PositionAdopted | PositionReleased] = ()
) -> LedgerView:
    """The ledger from the broker's fills (only llmtrade's own orders count) and the user's adoptions and
    releases, in the order they were recorded."""
    return ledger_from(own_shares(fills, planned), changes)


def ledger_from(own: dict[str, int], changes: Iterable[PositionAdopted | PositionReleased] = ()) -> LedgerView:
    """The ledger from `own` (`own_shares` of the broker's fills) and the user's adoptions and releases."""
    took: dict[str, int] = {}
    gave: dict[str, int] = {}
    prior: dict[str, float] = {}
    for change in changes:
        if isinstance(change, PositionAdopted):
            took[change.symbol] = took.get(change.symbol, 0) + change.qty
            prior[change.symbol] = prior.get(change.symbol, 0.0) + change.prior_pnl()
        else:
            gave[change.symbol] = gave.get(change.symbol, 0) + change.qty
            prior.pop(change.symbol, None)
    return LedgerView(own=own, adopted=took, released=gave, adopted_pnl=prior)


def split_changes(
    changes: Iterable[tuple[PositionAdopted | PositionReleased, datetime]], splits: Sequence[Split]
) -> list[PositionAdopted | PositionReleased]:
    """The user's adoptions and releases (each with when it was recorded) through the splits after it, as the folds
    apply them to fills (domain/ledger.py `Split.applied`): 10 shares adopted before a 4-for-1 split are the 40 the
    broker holds after it, at a quarter of the cost and price; a release scales alike, so what it took back stays
    taken. A split before a change is in its shares already."""
    if not splits:
        return [change for change, _ in changes]
    scaled: list[PositionAdopted | PositionReleased] = []
    for change, at in changes:
        for split in splits:
            if split.symbol != change.symbol or split.at <= at:
                continue
            qty = split.applied(change.qty, 1.0)[0]
            if isinstance(change, PositionAdopted):
                ratio = float(split.ratio)
                update = {"qty": qty, "avg_price": change.avg_price / ratio, "price": change.price / ratio}
                change = change.model_copy(update=update)
            else:
                change = change.model_copy(update={"qty": qty})
        scaled.append(change)
    return scaled


def managed_qty(broker_qty: int, ledger_qty: int) -> int:
    """The shares llmtrade manages: its ledger's, but never more than the broker holds on that side."""
    if broker_qty == 0 or ledger_qty == 0 or (broker_qty > 0) != (ledger_qty > 0):
        return 0
    return ledger_qty if abs(ledger_qty) <= abs(broker_qty) else broker_qty


def reconcile(
    positions: Mapping[str, Position],
    open_orders: Iterable[BrokerOrder],
    fills: Iterable[Fill],
    ledger: LedgerView,
    planned: Iterable[str] = (),
) -> list[Difference]:
    """Every difference between the broker (positions, open orders, fills) and the ledger, symbols sorted.

    Positions: each symbol where the broker's signed quantity is not the ledger's. Orders: each open
    order llmtrade did not send, and each of its own working orders with part filled (tracked with
    filled and remaining shares). Fills: each execution of an order llmtrade did not send (a caller may
    pass only the fills outside llmtrade's id format: the others are its own whatever was planned)."""
    planned_ids = _id_set(planned)
    found: list[Difference] = []
    held = {s: p.qty for s, p in positions.items() if p.qty != 0}
    for symbol in sorted({*held, *ledger.symbols()}):
        broker, mine = held.get(symbol, 0), ledger.qty(symbol)
        if broker == mine:
            continue
        if mine == 0:
            kind: DifferenceKind = "unmanaged_position"
            detail = f"the broker holds {broker} {symbol} that llmtrade did not open: left alone"
        elif broker == 0:
            kind, detail = "position_missing", f"llmtrade's records hold {mine} {symbol}; the broker holds none"
        else:
            kind = "quantity_mismatch"
            detail = (
                f"the broker holds {broker} {symbol}, llmtrade's records {mine}; it manages {managed_qty(broker, mine)}"
            )
        found.append(Difference(kind=kind, symbol=symbol, broker_qty=broker, ledger_qty=mine, detail=detail))
    for order in open_orders:
        remaining = max(order.qty - order.filled_qty, 0)
        if not is_ours(order.client_order_id, planned_ids):
            found.append(
                Difference(
                    kind="unknown_order",
                    symbol=order.symbol,
                    client_order_id=order.client_order_id,
                    filled_qty=order.filled_qty,
                    remaining_qty=remaining,
                    detail=f"open order {order.side.value} {order.size()} {order.symbol} not sent by llmtrade",
                )
            )
        elif order.filled_qty > 0:
            found.append(
                Difference(
                    kind="partial_fill",
                    symbol=order.symbol,
                    client_order_id=order.client_order_id,
                    filled_qty=order.filled_qty,
                    remaining_qty=remaining,
                    detail=f"{order.side.value} {order.qty} {order.symbol}: {order.filled_qty} filled, "
                    f"{remaining} working",
                )
            )
    for fill in fills:
        if not is_ours(fill.client_order_id, planned_ids):
            found.append(
                Difference(
                    kind="unknown_fill",
                    symbol=fill.symbol,
                    client_order_id=fill.client_order_id,
                    filled_qty=fill.qty,
                    detail=f"{fill.side.value} {fill.exact or fill.qty} {fill.symbol} at {fill.price:.2f} not sent by "
                    "llmtrade",
                )
            )
    return found


def managed_view(account: AccountSnapshot, ledger: LedgerView, prices: Mapping[str, float]) -> AccountSnapshot:
    """The account as llmtrade manages it: only managed shares, and equity without the others' P/L.

    Shares llmtrade does not manage (and a fraction of a share beyond the whole ones, `AccountSnapshot.fractions`) are
    left out of `positions`; their unrealised P/L (at `prices`, else as the
    broker marks them, `AccountSnapshot.broker_pnl`: an option or a coin bought by hand, which llmtrade's data does not
    price; else at the broker's average cost) is taken out of equity, and so is what adopted shares made before
    their adoption, and what trades made by hand closed (`ledger.hands_realized`), so neither sizing, a
    return nor the breaker's drawdown credits the account with a trade its owner never made. Their cost
    stays in equity, as the cash that bought them came from the account. Cash and buying power are the
    broker's: they bound what can be spent."""
    positions: dict[str, Position] = {}
    foreign_pnl = 0.0
    for symbol, position in account.positions.items():
        mine = managed_qty(position.qty, ledger.qty(symbol))
        if mine:
            # All of it managed (the usual case): the broker's own position, no copy to build and compare.
            positions[symbol] = position if mine == position.qty else position.model_copy(update={"qty": mine})
        # A fraction of a share beyond the whole ones is never llmtrade's (it trades whole shares: 0.25 of 2.25 bought
        # by hand): its P/L is taken out with the whole shares not managed.
        part = account.fractions.get(symbol, 0.0)
        other = position.qty - mine + part
        if symbol not in prices and symbol in account.broker_pnl:
            foreign_pnl += account.broker_pnl[symbol] * other / (position.qty + part)
        else:
            foreign_pnl += other * (prices.get(symbol, position.avg_price) - position.avg_price)
    # A holding under one whole unit (0.05 BTC bought by hand) is no position, only the broker's mark of it: no share
    # of it is llmtrade's, so all of its P/L is taken out.
    foreign_pnl += sum(pnl for symbol, pnl in account.broker_pnl.items() if symbol not in account.positions)
    if positions == account.positions and not foreign_pnl and not ledger.adopted_pnl and not ledger.hands_realized:
        return account
    unrealized = None if account.unrealized_pnl is None else round(account.unrealized_pnl - foreign_pnl, 2)
    not_ours = foreign_pnl + sum(ledger.adopted_pnl.values()) + ledger.hands_realized
    # What is valued at cost is only what llmtrade manages: a released symbol with no price is no longer the managed
    # equity's to lack (a breaker reset refused for it for good, the account halted).
    at_cost = [s for s in account.at_cost if s in positions]
    update = {"positions": positions, "equity": round(account.equity - not_ours, 2), "unrealized_pnl": unrealized}
    return account.model_copy(update=update | {"at_cost": at_cost})


def with_hands(
    ledger: LedgerView, others: Iterable[Fill], planned: Collection[str], splits: Sequence[Split]
) -> LedgerView:
    """`ledger` with what the broker's trades made by hand closed: the realised P/L of `others` (fills whose id is not
    in llmtrade's format) that llmtrade did not send (`planned`), through the recorded splits; the user's, kept out of
    the managed equity (`managed_view`). A position still open by hand is not in it: its unrealised P/L is."""
    hands = [_per_share(f) for f in others if not is_ours(f.client_order_id, planned)]
    if not hands:
        return ledger
    # On the shares the broker filled, fractions of a share too (a person's orders may be in fractions; llmtrade's not).
    realized = round(realized_by_hand(with_splits(hands, splits)), 2)
    return ledger.model_copy(update={"hands_realized": realized}) if realized else ledger


# An OCC option symbol (Alpaca's form for a contract: root, expiry YYMMDD, C or P, strike x 1000 in 8 digits).
_OPTION_SYMBOL = re.compile(r"[A-Z][A-Z0-9.]{0,5}\d{6}[CP]\d{8}")
# Shares one US equity option contract is for: its price is per share, its cash 100 times it.
OPTION_MULTIPLIER = 100


def _per_share(fill: Fill) -> Fill:
    """`fill` priced in the cash it moved per unit: an option contract's fill at 100 times its quoted price, so what a
    contract bought at 5.00 and sold at 9.00 by hand made is 400, as Alpaca's cash says (the fold read 4: 99% of the
    user's option gains stayed in the managed equity)."""
    if not _OPTION_SYMBOL.fullmatch(fill.symbol):
        return fill
    return fill.model_copy(update={"price": fill.price * OPTION_MULTIPLIER})
