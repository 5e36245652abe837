"""Daily equity curves: an account's from its fills, and the baselines' from prices alone (pure).

Every curve is marked at each session's close, oldest first, and starts at the starting cash. Money in
USD; exposure as a fraction of equity.

An account's positions and cash come from `domain/ledger.py` (`fold`, the one accounting; each session's
new fills are folded and added, so the cost is linear in fills and sessions) and its trades from
`round_trips`. A position is marked at the session's close; a symbol with no close that day keeps its
last close, and before its first close its last fill price. Fills after the last close are not seen.

Baselines (no account needed), each a simulated paper account with the paper broker's costs (slippage
in basis points against the price, a commission per order) and whole shares:
- FLAT: cash, constant.
- SPY: buy-and-hold, bought at the first session's close.
- EQUAL_WEIGHT: the universe in equal weights, bought at the first session's close and rebalanced to
  equal weights at the close of each week's first session (weeks as llmtrade names them: Wednesday to
  Tuesday, `domain/weeks.py`), so it trades on the day the committee's week begins. A rebalance weighs the
  symbols with a close that day: one not listed yet (an ETF launched mid-range), delisted, or missing from its
  file that day is left out and said in the track's notes; a holding without a close is kept at its last close,
  as a fund cannot trade what has no price. A real index fund holds what trades, not a symbol yet to exist. With
  weekly universes (watchlist modes), each rebalance weighs its week's own list and sells what left it.
A baseline's `equity[i]` is its value at close i before that close's trades: a purchase's slippage and
commission show in the next session's return, so `equity[0]` is the starting cash, as an account's is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from llmtrade.analytics.records import Curve
from llmtrade.domain.ledger import Split, fold, round_trips, with_splits
from llmtrade.domain.records import Record
from llmtrade.domain.trading import Fill, Side
from llmtrade.domain.weeks import week_id_for

FLAT = "FLAT"
SPY = "SPY"
EQUAL_WEIGHT = "EQUAL_WEIGHT"
BASELINES = (FLAT, SPY, EQUAL_WEIGHT)

Closes = Mapping[str, Mapping[date, float]]  # symbol -> session -> close


class MissingClose(ValueError):
    """A held symbol has no close at a session it is marked at (no fill price either, or closes were required)."""

    def __init__(self, symbol: str, day: date, message: str):
        super().__init__(message)
        self.symbol, self.day = symbol, day


class Track(Record):
    """A curve and what its trading did over it (a baseline's trades are its rebalancing orders).

    Activity is cumulative, one entry per curve point, so any span of sessions can be cut out
    (`between`): `trades[i]` round trips closed (domain/ledger.py) by then, `wins[i]` those with P/L > 0,
    `costs_usd[i]` commissions paid, `traded_usd[i]` the notional of every fill (shares x price), for
    turnover. An account's fill counts at the first close at or after it; a baseline's order at a
    close counts at the next one (the first whose value it changes)."""

    curve: Curve
    trades: tuple[int, ...]
    wins: tuple[int, ...]
    costs_usd: tuple[float, ...]
    traded_usd: tuple[float, ...]
    # The slippage its fills paid, in basis points of the traded notional, when known (the paper broker's
    # setting); None for fills of a broker that does not say.
    slippage_bps: float | None = None
    # What the reader of its figures must know: a baseline's rebalances that left a symbol out (no close that day).
    notes: tuple[str, ...] = ()

    def between(self, first: int, last: int) -> Track:
        """The track from curve point `first` to `last`, both included, its activity counted after `first`."""
        c = self.curve
        span = slice(first, last + 1)
        curve = c.model_copy(
            update={"sessions": c.sessions[span], "equity": c.equity[span], "gross_exposure": c.gross_exposure[span]}
        )

        def cut(values: tuple, kind: type) -> tuple:
            return tuple(kind(v - values[first]) for v in values[span])

        return Track(
            curve=curve,
            trades=cut(self.trades, int),
            wins=cut(self.wins, int),
            costs_usd=cut(self.costs_usd, float),
            traded_usd=cut(self.traded_usd, float),
            slippage_bps=self.slippage_bps,
            notes=self.notes,
        )

    @property
    def trade_count(self) -> int:
        return self.trades[-1] if self.trades else 0

    @property
    def hit_rate(self) -> float | None:
        trades = self.trade_count
        return self.wins[-1] / trades if trades else None

    @property
    def costs(self) -> float:
        return self.costs_usd[-1] if self.costs_usd else 0.0

    @property
    def traded(self) -> float:
        return self.traded_usd[-1] if self.traded_usd else 0.0

    @property
    def slippage(self) -> float | None:
        """Slippage paid, estimated as traded notional x `slippage_bps` (USD); None when the rate is unknown."""
        return None if self.slippage_bps is None else self.traded * self.slippage_bps / 10_000


class Costs(Record):
    """The paper broker's costs: `slippage_bps` against the price (buys pay more), `commission` per order."""

    slippage_bps: float = 0.0
    commission: float = 0.0


def account_track(
    name: str,
    fills: Sequence[Fill],
    *,
    starting_cash: float,
    sessions: Sequence[date],
    closes_at: Sequence[datetime],
    closes: Closes,
    slippage_bps: float | None = None,
    splits: Sequence[Split] = (),
    require_closes: bool = False,
) -> Track:
    """The account's curve at each session's close (`closes_at[i]` is when `sessions[i]` closed, tz-aware)
    from its fills in fill-time order; fills after the last close are left out. `slippage_bps`: what its
    fills paid (see Track), None when unknown. `splits` (recorded, domain/ledger.py): each applied to the
    positions before the first close at or after it; the account is marked at the prices it traded at, so a
    close before a split's ex-day (restated by the provider) is taken at `ratio` times. Raises ValueError when
    sessions and closes_at differ in length; MissingClose when a held symbol has no close at a session and no fill
    price, or (`require_closes`: closes known to be incomplete, not carried over) no close at all."""
    if len(sessions) != len(closes_at):
        raise ValueError(f"{len(sessions)} sessions but {len(closes_at)} closing times")
    ordered = sorted(fills, key=lambda f: f.filled_at)  # stable: fills at the same instant keep their order
    used = [f for f in ordered if closes_at and f.filled_at <= closes_at[-1]]
    splits = [s for s in with_splits(used, splits) if type(s) is Split]
    closes = as_traded(closes, splits)
    closed = [(t.closed_at, t.pnl > 0) for t in round_trips(with_splits(used, splits))]
    cash = starting_cash
    held: dict[str, int] = {}
    last_price: dict[str, float] = {}
    equity: list[float] = []
    exposure: list[float] = []
    trades: list[int] = []
    wins: list[int] = []
    costs: list[float] = []
    traded: list[float] = []
    seen = trips = won = 0
    paid = notional = 0.0
    applied = 0
    for day, closed_at in zip(sessions, closes_at, strict=True):
        while applied < len(splits) and splits[applied].at <= closed_at:
            cash += _split(splits[applied], held, last_price)
            applied += 1
        new: list[Fill] = []
        while seen < len(used) and used[seen].filled_at <= closed_at:
            new.append(used[seen])
            seen += 1
        if new:
            # Folding only the new fills from zero gives the change in cash and in each position.
            change = fold(new, 0.0)
            cash += change.cash
            for fill in new:
                held.setdefault(fill.symbol, 0)
                last_price[fill.symbol] = fill.price
                paid += fill.commission
                notional += fill.qty * fill.price
            for symbol in {f.symbol for f in new}:
                moved = change.positions.get(symbol)
                held[symbol] += moved.qty if moved else 0
        while trips < len(closed) and closed[trips][0] <= closed_at:
            won += closed[trips][1]
            trips += 1
        value, gross = _mark(held, day, closes, last_price, skip_flat=True, strict=require_closes)
        equity.append(cash + value)
        exposure.append(gross / (cash + value) if cash + value > 0 else 0.0)
        trades.append(trips)
        wins.append(won)
        costs.append(paid)
        traded.append(notional)
    curve = Curve(
        name=name, kind="account", sessions=tuple(sessions), equity=tuple(equity), gross_exposure=tuple(exposure)
    )
    return Track(
        curve=curve,
        trades=tuple(trades),
        wins=tuple(wins),
        costs_usd=tuple(costs),
        traded_usd=tuple(traded),
        slippage_bps=slippage_bps,
    )


def _split(split: Split, held: dict[str, int], last_price: dict[str, float]) -> float:
    """Apply `split` to the account's `held` shares (and its last price); the cash it pays in lieu of a fraction."""
    qty = held.get(split.symbol, 0)
    if split.symbol in last_price:
        last_price[split.symbol] /= float(split.ratio)
    if not qty:
        return 0.0
    whole, _, fraction, _ = split.applied(qty, 0.0)
    held[split.symbol] = whole
    return fraction * split.price


def as_traded(closes: Closes, splits: Sequence[Split]) -> Closes:
    """`closes` (restated by their provider for every split since) as traded: before each split's ex-day, `ratio`
    times the close. Unchanged (the same mapping) without splits, as for every backtest."""
    if not splits:
        return closes
    out = dict(closes)
    for split in splits:
        ex_day = split.at.date()
        series = out.get(split.symbol, {})
        out[split.symbol] = {d: c * float(split.ratio) if d < ex_day else c for d, c in series.items()}
    return out


def flat_track(sessions: Sequence[date], starting_cash: float) -> Track:
    """FLAT: the starting cash, every session."""
    n = len(sessions)
    curve = Curve(
        name=FLAT, kind="baseline", sessions=tuple(sessions), equity=(starting_cash,) * n, gross_exposure=(0.0,) * n
    )
    zeros = (0.0,) * n
    return Track(curve=curve, trades=(0,) * n, wins=(0,) * n, costs_usd=zeros, traded_usd=zeros, slippage_bps=0.0)


def buy_and_hold_track(
    symbol: str, sessions: Sequence[date], closes: Closes, starting_cash: float, costs: Costs, *, name: str = SPY
) -> Track:
    """`symbol` bought with all the cash it can (whole shares, after costs) at the first session's close
    and held. Raises ValueError when the symbol has no close on the first session."""
    return _rebalanced(name, [symbol], sessions, closes, starting_cash, costs, rebalance=lambda i: i == 0)


def equal_weight_track(
    symbols: Sequence[str],
    sessions: Sequence[date],
    closes: Closes,
    starting_cash: float,
    costs: Costs,
    weekly: Mapping[date, Sequence[str]] | None = None,
) -> Track:
    """EQUAL_WEIGHT: `symbols` in equal weights from the first session's close, rebalanced at the close of
    each week's first session among the symbols with a close that day (see the module docstring); the track's
    notes name every symbol left out of a rebalance and when. `weekly`: each week's own symbols by week id (a week
    not in it holds `symbols`)."""
    weeks, weekly = [week_id_for(day) for day in sessions], weekly or {}

    def rebalance(i: int) -> bool:
        return i == 0 or weeks[i] != weeks[i - 1]

    every = list(dict.fromkeys([*symbols, *(s for week in weekly.values() for s in week)]))
    members = (lambda i: weekly.get(weeks[i], symbols)) if weekly else None
    return _rebalanced(
        EQUAL_WEIGHT, every, sessions, closes, starting_cash, costs, rebalance=rebalance, partial=True, members=members
    )


def _rebalanced(
    name: str,
    symbols: list[str],
    sessions: Sequence[date],
    closes: Closes,
    starting_cash: float,
    costs: Costs,
    *,
    rebalance: Callable[[int], bool],
    partial: bool = False,
    members: Callable[[int], Sequence[str]] | None = None,
) -> Track:
    """`partial`: a rebalance trades the symbols with a close that day and keeps the rest as held (else a
    symbol without one is a ValueError: a buy-and-hold of one symbol has nothing else to hold). `members`: the
    symbols rebalance i weighs (default all); a holding outside them is sold where it has a close."""
    slip, cash, held = costs.slippage_bps / 10_000, starting_cash, dict.fromkeys(symbols, 0)
    last_price: dict[str, float] = {}
    equity: list[float] = []
    exposure: list[float] = []
    orders: list[tuple[str, int, float]] = []  # (symbol, signed shares, price paid), for round trips
    done: list[int] = []  # orders placed before each curve point
    spent: list[float] = []
    traded: list[float] = []
    paid = notional = 0.0
    left_out: dict[str, list[date]] = {}
    for i, day in enumerate(sessions):
        value, gross = _mark(held, day, closes, last_price)
        total = cash + value
        equity.append(total)
        exposure.append(gross / total if total > 0 else 0.0)
        done.append(len(orders))
        spent.append(paid)
        traded.append(notional)
        if not rebalance(i):
            continue
        prices = {s: closes.get(s, {}).get(day) for s in symbols}
        wanted = set(members(i)) if members is not None else set(symbols)
        missing = [s for s, p in prices.items() if p is None and s in wanted]
        if missing and not partial:
            raise ValueError(f"{name}: no close of {', '.join(missing)} on {day} to trade at")
        for symbol in missing:
            left_out.setdefault(symbol, []).append(day)
        tradable = [s for s in symbols if prices[s] is not None and s in wanted]
        leaving = [s for s in symbols if prices[s] is not None and s not in wanted and held[s]]
        if not tradable and not leaving:
            continue
        # What cannot trade today stays held at its last close; the rest of the value is spread over what can.
        kept = math.fsum(held[s] * last_price[s] for s in symbols if held[s] and prices[s] is None)
        budget = total - kept - costs.commission * (len(tradable) + len(leaving))
        for symbol in [*leaving, *tradable]:
            price = prices[symbol]
            assert price is not None
            share = 0.0 if symbol in leaving else budget / len(tradable)
            target = max(0, math.floor(share / (price * (1 + slip))))
            change = target - held[symbol]
            if change == 0:
                continue
            fill_price = price * (1 + slip) if change > 0 else price * (1 - slip)
            cash -= change * fill_price + costs.commission
            held[symbol] = target
            paid += costs.commission
            notional += abs(change) * fill_price
            orders.append((symbol, change, fill_price))
    closed_after = _trips(orders, costs.commission)  # (order index closing it, won)
    trades = tuple(sum(1 for at, _ in closed_after if at < placed) for placed in done)
    wins = tuple(sum(1 for at, won in closed_after if at < placed and won) for placed in done)
    curve = Curve(
        name=name, kind="baseline", sessions=tuple(sessions), equity=tuple(equity), gross_exposure=tuple(exposure)
    )
    return Track(
        curve=curve,
        trades=trades,
        wins=wins,
        costs_usd=tuple(spent),
        traded_usd=tuple(traded),
        slippage_bps=costs.slippage_bps,
        notes=_left_out_notes(name, left_out, sum(1 for i in range(len(sessions)) if rebalance(i))),
    )


def _left_out_notes(name: str, left_out: Mapping[str, list[date]], rebalances: int) -> tuple[str, ...]:
    """One note per symbol a rebalance left out: how many of the rebalances, the first and last such day."""
    notes = []
    for symbol, days in sorted(left_out.items()):
        span = f"on {days[0]}" if len(days) == 1 else f"from {days[0]} to {days[-1]}"
        notes.append(
            f"{name} left {symbol} out of {len(days)} of its {rebalances} rebalances ({span}): no close that day "
            "(not listed yet, delisted, or a day missing from its prices); it weighed the symbols that had one with "
            f"the rest of its value, and kept any shares of {symbol} it held, valued at their last close"
        )
    return tuple(notes)


def _trips(orders: list[tuple[str, int, float]], commission: float) -> list[tuple[int, bool]]:
    """The round trips of a baseline's orders (long only: a position sold down to zero), each as the index
    of the order that closed it and whether it made money."""
    # round_trips reads fills in order; the order's index stands in for its time.
    as_fills = [
        Fill(
            client_order_id=f"baseline-{i}",
            account_id="baseline",
            symbol=symbol,
            side=Side.BUY if change > 0 else Side.SELL,
            qty=abs(change),
            price=price,
            commission=commission,
            filled_at=_EPOCH + timedelta(seconds=i),
        )
        for i, (symbol, change, price) in enumerate(orders)
    ]
    return [(int(t.closed_at.timestamp() - _EPOCH.timestamp()), t.pnl > 0) for t in round_trips(as_fills)]


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _mark(
    held: Mapping[str, int],
    day: date,
    closes: Closes,
    last_price: dict[str, float],
    *,
    skip_flat: bool = False,
    strict: bool = False,
) -> tuple[float, float]:
    """(net value, gross value) of the positions at `day`'s close; updates `last_price` with the closes seen.

    `skip_flat`: a symbol held at zero is not looked at, its last price left as it was: for an account, whose every
    fill sets its symbol's last price before the session's mark, a flat symbol's last price is never read before its
    next fill sets it again (a baseline's orders set none: its marks need every close)."""
    value = gross = 0.0
    for symbol, qty in held.items():
        if skip_flat and qty == 0:
            continue
        close = closes.get(symbol, {}).get(day)
        if close is not None:
            last_price[symbol] = close
        if qty == 0:
            continue
        if strict and close is None:
            raise MissingClose(symbol, day, f"{symbol}: held on {day} with no close to mark it at")
        price = last_price.get(symbol)
        if price is None:
            raise MissingClose(symbol, day, f"{symbol}: held on {day} with no close and no fill price to mark it at")
        value += qty * price
        gross += abs(qty) * price
    return value, gross
