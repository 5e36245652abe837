"""The baselines' daily equity curves, from prices alone (pure; the accounts' are in `analytics/curves.py`).

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

from llmtrade.analytics.curves import EQUAL_WEIGHT, FLAT, SPY, Closes, Costs, Track, mark
from llmtrade.analytics.records import Curve
from llmtrade.domain.ledger import round_trips
from llmtrade.domain.trading import Fill, Side
from llmtrade.domain.weeks import week_id_for


def flat_track(sessions: Sequence[date], starting_cash: float) -> Track:
    """FLAT: the starting cash, every session."""
    n = len(sessions)
    curve = Curve(
        name=FLAT, kind="baseline", sessions=tuple(sessions), equity=(starting_cash,) * n, gross_exposure=(0.0,) * n
    )
    zeros = (0.0,) * n
    return Track(
        curve=curve,
        trades=(0,) * n,
        wins=(0,) * n,
        costs_usd=zeros,
        traded_usd=zeros,
        bought_usd=zeros,
        sold_usd=zeros,
        slippage_bps=0.0,
    )


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
    bought: list[float] = []
    sold: list[float] = []
    paid = notional = buys = sells = 0.0
    left_out: dict[str, list[date]] = {}
    for i, day in enumerate(sessions):
        value, gross = mark(held, day, closes, last_price)
        total = cash + value
        equity.append(total)
        exposure.append(gross / total if total > 0 else 0.0)
        done.append(len(orders))
        spent.append(paid)
        traded.append(notional)
        bought.append(buys)
        sold.append(sells)
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
            if change > 0:
                buys += change * fill_price
            else:
                sells += -change * fill_price
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
        bought_usd=tuple(bought),
        sold_usd=tuple(sold),
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
