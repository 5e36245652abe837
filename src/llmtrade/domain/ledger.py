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

A split (`Split`, from a SplitDetected) is folded in time order with the fills, never as fills (it trades nothing,
so it counts no trade, no turnover, no commission): a position held at the ex-day's open becomes `ratio` times as
many shares at its average cost divided by `ratio`, so its cost and value are unchanged. The shares are whole: a
fraction left over (3-for-2 on 5 shares: 7.5) is paid in cash at the split's price, the ex-day's open as restated,
and realises (price - cost) on that fraction, as brokers pay "cash in lieu" of fractional shares after a split or a
reverse split (Alpaca's Mandatory Corporate Actions FAQ: the quantity "updated according to the SPLIT ratio"). A
reverse split that leaves less than one share closes the position, and its trade, at the ex-day.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from fractions import Fraction
from math import log, prod, trunc
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from llmtrade.domain.market import SplitDetected
from llmtrade.domain.records import Record
from llmtrade.domain.trading import Fill, Position, Side


class Ledger(BaseModel):
    """Cash, positions (signed whole shares) and realised P/L net of commissions, in account currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cash: float
    positions: dict[str, Position]
    realized_pnl: float


Q = TypeVar("Q", int, Fraction)  # a share count: whole (llmtrade's books) or exact (a fill by hand)


def apply_fill(qty: Q, avg: float, signed: Q, price: float) -> tuple[Q, float]:
    """New (quantity, average price) after a fill of `signed` shares (buy > 0, sell < 0) at `price`. Whole shares (int)
    for llmtrade's books; exact ones (Fraction) for a person's fills by hand (domain/hand_fills.py): a Fraction meets
    the floats as float(Fraction), so the same doubles either way."""
    if signed == 0:
        return qty, avg  # under one share, by hand (`Fill.exact`): no whole share moved (domain/hand_fills.py)
    new_qty = qty + signed
    if qty == 0 or (qty > 0) == (signed > 0):
        return new_qty, (abs(qty) * avg + abs(signed) * price) / abs(new_qty)
    if new_qty == 0:
        return 0, 0.0
    if (new_qty > 0) == (qty > 0):
        return new_qty, avg  # reduced: the remaining shares keep their cost
    return new_qty, price  # crossed through zero: the remainder opened at this price


@dataclass(frozen=True)
class BooksReset:
    """The broker's books of an account began again (a paper account reset, domain/trading.py BrokerAccountReset):
    found at `at`, at a `balance` of cash (USD) and no positions; `last_equity`, the account's last valuation before
    it (None: none). A fold of the account's fills ends a stretch there and begins the next from `balance`."""

    at: datetime
    balance: float
    last_equity: float | None
    missing: frozenset[str] = frozenset()  # the client_order_ids of ours the broker no longer listed then
    # What the broker named the account from then, and whether that name replaced another (BrokerAccountReset): a
    # reset found by the name alone misses no order of ours when nothing was traded since the last one.
    broker_account: str | None = None
    renamed: bool = False


@dataclass(frozen=True)
class Split:
    """A split as the folds apply it: at `at` (the ex-day's midnight in New York, before any fill of its session)
    each position in `symbol` becomes `ratio` times as many whole shares, a fraction left over paid at `price`."""

    symbol: str
    at: datetime
    ratio: Fraction
    price: float
    # When it was recorded: an order taken before then was sized without it (brokers/paper_book.py `crossing`).
    known_at: datetime | None = None
    # The last session it may have come on, when its ex-day is uncertain (SplitDetected.latest): a price of a session
    # before it may still be in the old shares (brokers/split_positions.py `in_new_shares`).
    latest: date | None = None

    @classmethod
    def of(cls, split: SplitDetected, known_at: datetime | None = None) -> Split:
        at = datetime.combine(split.ex_day, time(0), _NEW_YORK)
        ratio = Fraction(split.ratio).limit_denominator(1000)
        return cls(split.symbol, at, ratio, split.price, known_at, split.latest)

    def named(self) -> str:
        return f"{self.ratio.numerator}-for-{self.ratio.denominator}"

    def restated(self, before: float) -> bool:
        """Whether `before`, a price from before the split, is in the shares after it (restated, as a history a
        provider adjusted is): nearer the split's `price` than that price times its ratio (the old shares' level)."""
        return abs(log(before / self.price)) < abs(log(before / (self.price * float(self.ratio))))

    def applied(self, qty: int | Fraction, avg: float) -> tuple[int, float, float, float]:
        """(whole shares, their average cost, the fraction of a share paid in cash (signed as `qty`), the P/L that
        fraction realises) of a position of `qty` shares at `avg` through this split."""
        scaled = qty * self.ratio
        whole = trunc(scaled)
        fraction = float(scaled - whole)
        cost = avg / float(self.ratio)
        return whole, cost if whole else 0.0, fraction, fraction * (self.price - cost)


_NEW_YORK = ZoneInfo("America/New_York")


def split_since(splits: Iterable[Split], symbol: str, day: date, read_at: datetime, until: datetime) -> float:
    """How many shares of `until` one share of `symbol` was in a price of `day` read at `read_at` (a pitch's levels, a
    week's opening close): the product of the ratios of its splits with an ex-day after `day`, recorded after
    `read_at` (one recorded by then had restated that price already) and come by `until`; 1.0 when none."""
    return prod(
        float(s.ratio)
        for s in splits
        if s.symbol == symbol and s.at.date() > day and s.at <= until and (s.known_at is None or s.known_at > read_at)
    )


Event = Fill | Split  # what the folds take, in time order


def with_splits(fills: Iterable[Fill], splits: Sequence[Split]) -> list[Event]:
    """`fills` (in fill order) with the splits of their symbols merged in by time, each before the fills at its
    instant. A split before a symbol's first fill changes nothing and is left out."""
    ordered = list(fills)
    if not splits:
        return list(ordered)
    first: dict[str, datetime] = {}
    for fill in ordered:
        first.setdefault(fill.symbol, fill.filled_at)
    wanted = sorted((s for s in splits if s.symbol in first and first[s.symbol] < s.at), key=lambda s: s.at)
    merged: list[Event] = []
    i = 0
    for fill in ordered:
        while i < len(wanted) and wanted[i].at <= fill.filled_at:
            merged.append(wanted[i])
            i += 1
        merged.append(fill)
    merged.extend(wanted[i:])
    return merged


def signed_qty(fill: Fill) -> int:
    return fill.qty if fill.side is Side.BUY else -fill.qty


def fold(fills: Iterable[Event], starting_cash: float) -> Ledger:
    """The account after `fills` (and splits: `with_splits`), in the order given (fill order)."""
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

    def advance(self, fills: Iterable[Event]) -> Folding:
        """This fold carried on over `fills` (in fill order, splits merged in); self is left as it was."""
        cash = self.cash
        realized = self.realized
        held = dict(self.held)
        for fill in fills:
            if type(fill) is Split:
                qty, avg = held.get(fill.symbol, (0, 0.0))
                if qty:
                    whole, cost, fraction, gain = fill.applied(qty, avg)
                    cash += fraction * fill.price
                    realized += gain
                    held[fill.symbol] = (whole, cost)
                continue
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


def round_trips(fills: Iterable[Event]) -> list[RoundTrip]:
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

    def __init__(self, splits: Sequence[Split] = ()) -> None:
        self.held: dict[tuple[str, str], tuple[int, float]] = {}
        self.open_trips: dict[tuple[str, str], _Trip] = {}
        self.done: list[RoundTrip] = []
        # Splits (by time) applied as the fills pass them, each before the first fill at or after it: one the fills
        # have not passed yet waits (a reverse split to nothing closes its trade at the next fill of the account).
        self._splits = sorted(splits, key=lambda s: s.at)
        self._next = 0

    def add(self, fills: Iterable[Event]) -> None:
        held, open_trips, done = self.held, self.open_trips, self.done
        for fill in fills:
            if type(fill) is Split:
                self._split(fill)
                continue
            while self._next < len(self._splits) and self._splits[self._next].at <= fill.filled_at:
                self._split(self._splits[self._next])
                self._next += 1
            key = (fill.account_id, fill.symbol)
            signed = signed_qty(fill)
            if not signed:
                continue  # under one share, by hand (`Fill.exact`): no trade of whole shares, neither opened nor closed
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
                    done.append(trip.close(fill.account_id, fill.symbol, fill.filled_at))
                    del open_trips[key]
                    if abs(signed) > abs(qty):  # crossed: the remainder opens the next trade
                        reopened = open_trips[key] = _Trip(opened_at=fill.filled_at, long=signed > 0)
                        reopened.add(0.0, fill.commission - share)
            else:
                trip.add(0.0, fill.commission)
            held[key] = apply_fill(qty, avg, signed, fill.price)

    def _split(self, split: Split) -> None:
        """Every open position in the split's symbol through it: the trade goes on (a fraction paid in cash realises
        its part), or closes at the ex-day when less than a share is left."""
        for key in [k for k, (qty, _) in self.held.items() if k[1] == split.symbol and qty]:
            whole, cost, _, gain = split.applied(*self.held[key])
            trip = self.open_trips[key]
            trip.gross += gain
            self.held[key] = (whole, cost)
            if whole == 0:
                self.done.append(trip.close(key[0], key[1], split.at))
                del self.open_trips[key]


def closed_trade_pnls(fills: Iterable[Event]) -> list[float]:
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

    def close(self, account_id: str, symbol: str, closed_at: datetime) -> RoundTrip:
        return RoundTrip(
            account_id=account_id,
            symbol=symbol,
            direction="LONG" if self.long else "SHORT",
            opened_at=self.opened_at,
            closed_at=closed_at,
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
