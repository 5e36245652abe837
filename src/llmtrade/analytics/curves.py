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
  Tuesday, `domain/weeks.py`), so it trades on the day the committee's week begins.
A baseline's `equity[i]` is its value at close i before that close's trades: a purchase's slippage and
commission show in the next session's return, so `equity[0]` is the starting cash, as an account's is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime

from llmtrade.analytics.records import Curve
from llmtrade.domain.ledger import fold, round_trips
from llmtrade.domain.records import Record
from llmtrade.domain.trading import Fill, Side
from llmtrade.domain.weeks import week_id_for

FLAT = "FLAT"
SPY = "SPY"
EQUAL_WEIGHT = "EQUAL_WEIGHT"
BASELINES = (FLAT, SPY, EQUAL_WEIGHT)

Closes = Mapping[str, Mapping[date, float]]  # symbol -> session -> close


class Track(Record):
    """A curve and what its trading did over it (a baseline's trades are its rebalancing orders).

    `trades`: round trips closed (domain/ledger.py); `wins`: those with P/L > 0; `costs_usd`: commissions
    paid; `traded_usd`: the notional of every fill (shares x price), for turnover."""

    curve: Curve
    trades: int = 0
    wins: int = 0
    costs_usd: float = 0.0
    traded_usd: float = 0.0

    @property
    def hit_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None


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
) -> Track:
    """The account's curve at each session's close (`closes_at[i]` is when `sessions[i]` closed, tz-aware)
    from its fills in fill-time order; fills after the last close are left out. Raises ValueError when
    sessions and closes_at differ in length."""
    if len(sessions) != len(closes_at):
        raise ValueError(f"{len(sessions)} sessions but {len(closes_at)} closing times")
    ordered = sorted(fills, key=lambda f: f.filled_at)  # stable: fills at the same instant keep their order
    cash = starting_cash
    held: dict[str, int] = {}
    last_price: dict[str, float] = {}
    equity: list[float] = []
    exposure: list[float] = []
    seen = 0
    for day, closed_at in zip(sessions, closes_at, strict=True):
        new: list[Fill] = []
        while seen < len(ordered) and ordered[seen].filled_at <= closed_at:
            new.append(ordered[seen])
            seen += 1
        if new:
            # Folding only the new fills from zero gives the change in cash and in each position.
            change = fold(new, 0.0)
            cash += change.cash
            for fill in new:
                held.setdefault(fill.symbol, 0)
                last_price[fill.symbol] = fill.price
            for symbol in {f.symbol for f in new}:
                moved = change.positions.get(symbol)
                held[symbol] += moved.qty if moved else 0
        value, gross = _mark(held, day, closes, last_price)
        equity.append(cash + value)
        exposure.append(gross / (cash + value) if cash + value > 0 else 0.0)
    used = ordered[:seen]
    trips = round_trips(used)
    return Track(
        curve=Curve(
            name=name, kind="account", sessions=tuple(sessions), equity=tuple(equity), gross_exposure=tuple(exposure)
        ),
        trades=len(trips),
        wins=sum(1 for t in trips if t.pnl > 0),
        costs_usd=math.fsum(f.commission for f in used),
        traded_usd=math.fsum(f.qty * f.price for f in used),
    )


def flat_track(sessions: Sequence[date], starting_cash: float) -> Track:
    """FLAT: the starting cash, every session."""
    n = len(sessions)
    curve = Curve(
        name=FLAT, kind="baseline", sessions=tuple(sessions), equity=(starting_cash,) * n, gross_exposure=(0.0,) * n
    )
    return Track(curve=curve)


def buy_and_hold_track(
    symbol: str, sessions: Sequence[date], closes: Closes, starting_cash: float, costs: Costs, *, name: str = SPY
) -> Track:
    """`symbol` bought with all the cash it can (whole shares, after costs) at the first session's close
    and held. Raises ValueError when the symbol has no close on the first session."""
    return _rebalanced(name, [symbol], sessions, closes, starting_cash, costs, rebalance=lambda i: i == 0)


def equal_weight_track(
    symbols: Sequence[str], sessions: Sequence[date], closes: Closes, starting_cash: float, costs: Costs
) -> Track:
    """EQUAL_WEIGHT: `symbols` in equal weights from the first session's close, rebalanced at the close of
    each week's first session (see the module docstring). Raises ValueError when a symbol has no close on
    a rebalancing session."""
    weeks = [week_id_for(day) for day in sessions]

    def rebalance(i: int) -> bool:
        return i == 0 or weeks[i] != weeks[i - 1]

    return _rebalanced(EQUAL_WEIGHT, list(symbols), sessions, closes, starting_cash, costs, rebalance=rebalance)


def _rebalanced(
    name: str,
    symbols: list[str],
    sessions: Sequence[date],
    closes: Closes,
    starting_cash: float,
    costs: Costs,
    *,
    rebalance: Callable[[int], bool],
) -> Track:
    slip = costs.slippage_bps / 10_000
    cash = starting_cash
    held: dict[str, int] = dict.fromkeys(symbols, 0)
    last_price: dict[str, float] = {}
    equity: list[float] = []
    exposure: list[float] = []
    fills: list[tuple[str, int, float]] = []  # (symbol, signed shares, price) for round trips
    spent = traded = 0.0
    for i, day in enumerate(sessions):
        value, gross = _mark(held, day, closes, last_price)
        total = cash + value
        equity.append(total)
        exposure.append(gross / total if total > 0 else 0.0)
        if not rebalance(i):
            continue
        prices = {s: closes.get(s, {}).get(day) for s in symbols}
        missing = [s for s, p in prices.items() if p is None]
        if missing:
            raise ValueError(f"{name}: no close of {', '.join(missing)} on {day} to trade at")
        budget = total - costs.commission * len(symbols)
        for symbol in symbols:
            price = prices[symbol]
            assert price is not None
            target = max(0, math.floor(budget / len(symbols) / (price * (1 + slip))))
            change = target - held[symbol]
            if change == 0:
                continue
            paid = price * (1 + slip) if change > 0 else price * (1 - slip)
            cash -= change * paid + costs.commission
            held[symbol] = target
            spent += costs.commission
            traded += abs(change) * paid
            fills.append((symbol, change, paid))
    trips, wins = _trips(fills, costs.commission)
    curve = Curve(
        name=name, kind="baseline", sessions=tuple(sessions), equity=tuple(equity), gross_exposure=tuple(exposure)
    )
    return Track(curve=curve, trades=trips, wins=wins, costs_usd=spent, traded_usd=traded)


def _trips(fills: list[tuple[str, int, float]], commission: float) -> tuple[int, int]:
    """Round trips of a baseline's orders (long only: a position sold down to zero), and the winners."""
    at = datetime(2000, 1, 1, tzinfo=UTC)  # order matters, not time: round_trips reads fills in order
    as_fills = [
        Fill(
            client_order_id=f"baseline-{i}",
            account_id="baseline",
            symbol=symbol,
            side=Side.BUY if change > 0 else Side.SELL,
            qty=abs(change),
            price=price,
            commission=commission,
            filled_at=at,
        )
        for i, (symbol, change, price) in enumerate(fills)
    ]
    trips = round_trips(as_fills)
    return len(trips), sum(1 for t in trips if t.pnl > 0)


def _mark(held: Mapping[str, int], day: date, closes: Closes, last_price: dict[str, float]) -> tuple[float, float]:
    """(net value, gross value) of the positions at `day`'s close; updates `last_price` with the closes seen."""
    value = gross = 0.0
    for symbol, qty in held.items():
        close = closes.get(symbol, {}).get(day)
        if close is not None:
            last_price[symbol] = close
        if qty == 0:
            continue
        price = last_price.get(symbol)
        if price is None:
            raise ValueError(f"{symbol}: held on {day} with no close and no fill price to mark it at")
        value += qty * price
        gross += abs(qty) * price
    return value, gross
