"""Average-cost accounting, once: positions, cash and realised P/L folded from fills.

Every place that needs a position's cost or a trade's P/L (the paper broker's balances, the
circuit breaker's loss streak, the hit rate in `status`, the postmortem) folds fills through this
module, so they cannot disagree about what a trade made.

Convention (average cost, as most brokers report it): adding to a position moves its average
price to the quantity-weighted mean; reducing it realises (price - average) per share closed,
signed by the side closed, and leaves the remaining shares at their old average; a fill that
crosses zero closes the old position and opens the remainder at the fill price. Commissions are
cash paid and count against realised P/L.

A trade (`round_trips`: what the breaker's streaks and the hit rate count) is a position from open
to flat or to a side change, net of all its commissions; adding to it or trimming it is not a trade.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from llmtrade.domain.records import Record
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
    return Folding.start(starting_cash).advance(fills).ledger()


@dataclass(frozen=True)
class Folding:
    """A fold of fills part done: `advance` by later fills gives what `fold` over all of them gives, to the
    bit (the same sums in the same order), so a running account costs its new fills, not its history.

    Average prices are kept unrounded (rounding happens in `ledger`); `held` is never changed in place."""

    cash: float
    realized: float
    held: Mapping[str, tuple[int, float]]

    @classmethod
    def start(cls, starting_cash: float) -> Folding:
        return cls(cash=starting_cash, realized=0.0, held={})

    def advance(self, fills: Iterable[Fill]) -> Folding:
        """This fold carried on over `fills` (in fill order); self is left as it was."""
        cash = self.cash
        realized = self.realized
        held = dict(self.held)
        for fill in fills:
            signed = signed_qty(fill)
            cash -= signed * fill.price + fill.commission
            qty, avg = held.get(fill.symbol, (0, 0.0))
            closed = min(abs(qty), abs(signed)) if qty and (qty > 0) != (signed > 0) else 0
            realized += closed * (fill.price - avg) * (1 if qty > 0 else -1) - fill.commission
            held[fill.symbol] = apply_fill(qty, avg, signed, fill.price)
        return Folding(cash=cash, realized=realized, held=held)

    def ledger(self) -> Ledger:
        positions = {s: Position(symbol=s, qty=q, avg_price=round(a, 4)) for s, (q, a) in self.held.items() if q != 0}
        return Ledger(cash=self.cash, positions=positions, realized_pnl=self.realized)


class RoundTrip(Record):
    """One trade: a position from open to flat (or to the fill that changed its side).

    `pnl` is in account currency, net of every fill's commission (the entry's too) and of slippage
    (which is in the fill prices); resizes in between are part of the trade, not trades of their own.
    """

    account_id: str
    symbol: str
    direction: Literal["LONG", "SHORT"]
    opened_at: datetime
    closed_at: datetime
    fills: int  # how many fills made it, the opening and closing ones included
    commissions: float
    pnl: float


def round_trips(fills: Iterable[Fill]) -> list[RoundTrip]:
    """Every trade the fills closed, in the order they closed (open trades are left out).

    A fill that crosses through zero closes the trade (its commission shared by shares between the
    closing and the opening part) and opens the next one at its price. Positions are tracked per
    account and symbol, so fills of several accounts can be passed together. P/L is rounded to
    cents: average costs come from a division, and float noise of a millionth of a cent must not
    turn an even trade into a win or a loss.
    """
    counting = TripCounting()
    counting.add(fills)
    return counting.done


class TripCounting:
    """`round_trips` a batch of fills at a time: after `add(a)` then `add(b)`, `done` is `round_trips(a + b)`.
    Mutable, for one owner (risk/controls.py keeps one per account so a look costs its new fills)."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], tuple[int, float]] = {}
        self.open_trips: dict[tuple[str, str], _Trip] = {}
        self.done: list[RoundTrip] = []

    def add(self, fills: Iterable[Fill]) -> None:
        held, open_trips, done = self.held, self.open_trips, self.done
        for fill in fills:
            key = (fill.account_id, fill.symbol)
            signed = signed_qty(fill)
            qty, avg = held.get(key, (0, 0.0))
            trip = open_trips.get(key)
            if qty == 0 or trip is None:
                trip = open_trips[key] = _Trip(opened_at=fill.filled_at, long=signed > 0)
            if qty != 0 and (qty > 0) != (signed > 0):
                closed = min(abs(qty), abs(signed))
                direction = 1 if qty > 0 else -1  # a long gains when the price rose, a short when it fell
                share = fill.commission * closed / abs(signed)
                trip.add(closed * (fill.price - avg) * direction, share)
                if abs(signed) >= abs(qty):
                    done.append(trip.close(fill))
                    del open_trips[key]
                    if abs(signed) > abs(qty):  # crossed: the remainder opens the next trade
                        reopened = open_trips[key] = _Trip(opened_at=fill.filled_at, long=signed > 0)
                        reopened.add(0.0, fill.commission - share)
            else:
                trip.add(0.0, fill.commission)
            held[key] = apply_fill(qty, avg, signed, fill.price)


def closed_trade_pnls(fills: Iterable[Fill]) -> list[float]:
    """Each closed trade's P/L (see `round_trips`), in the order the trades closed."""
    return [trip.pnl for trip in round_trips(fills)]


class _Trip:
    """A trade still open: what it has realised so far and what it has paid."""

    def __init__(self, *, opened_at: datetime, long: bool) -> None:
        self.opened_at = opened_at
        self.long = long
        self.gross = 0.0
        self.commissions = 0.0
        self.fills = 0

    def add(self, realised: float, commission: float) -> None:
        self.gross += realised
        self.commissions += commission
        self.fills += 1

    def close(self, fill: Fill) -> RoundTrip:
        return RoundTrip(
            account_id=fill.account_id,
            symbol=fill.symbol,
            direction="LONG" if self.long else "SHORT",
            opened_at=self.opened_at,
            closed_at=fill.filled_at,
            fills=self.fills,
            commissions=round(self.commissions, 2) + 0.0,
            pnl=round(self.gross - self.commissions, 2) + 0.0,  # + 0.0 turns a rounded -0.0 into 0.0
        )


def carried(kept: Sequence[Fill], fills: Sequence[Fill]) -> Literal["same", "extended", "other"]:
    """How an account's list of `fills` (in fill order) stands to the list `kept` from an earlier look, for a
    keeper that carries its work on (brokers/fill_view.py's split, risk/controls.py's closed-trade P/Ls):
    "same", the very fill objects again; "extended", the kept fills (equal by value) and any number after them;
    "other", anything else (a late fill that sorts earlier changes the start: the keeper starts again). A list
    that is `kept` itself is "same"; a keeper checks that first, at no cost, where it can."""
    n = len(kept)
    if len(fills) == n and all(map(operator.is_, fills, kept)):
        return "same"
    if len(fills) >= n and tuple(fills[:n]) == tuple(kept):
        return "extended"
    return "other"
