"""Daily equity curves: an account's from its fills, and the baselines' from prices alone (pure).

Every curve is marked at each session's close, oldest first, and starts at the starting cash. Money in
USD; exposure as a fraction of equity.

An account's positions and cash come from `domain/ledger.py` (`fold`, the one accounting; each session's
new fills are folded and added, so the cost is linear in fills and sessions) and its trades from
`round_trips`. A position is marked at the session's close; a symbol with no close that day keeps its
last close, and before its first close its last fill price. Fills after the last close are not seen.

The baselines' tracks, from prices alone, are in `analytics/baseline_tracks.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from llmtrade.analytics.records import Curve
from llmtrade.domain.ledger import BooksReset, RoundTrip, Split, fold, round_trips, with_splits
from llmtrade.domain.records import Record
from llmtrade.domain.trading import Fill, Side

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
    slippage, and apart `bought_usd[i]` / `sold_usd[i]` the notional of the buys and of the sells, for turnover (the
    lesser of the two: standings.turnover). An account's fill counts at the first close at or after it; a
    baseline's order at a close counts at the next one (the first whose value it changes).

    An account's `opened[i]` / `opened_wins[i]` count the same round trips by when they opened (those that closed by
    the last close and opened by close i): `between(..., by_opening=True)` counts a trade in the span it opened in.
    None for a baseline, whose orders are counted when made."""

    curve: Curve
    trades: tuple[int, ...]
    wins: tuple[int, ...]
    costs_usd: tuple[float, ...]
    traded_usd: tuple[float, ...]
    bought_usd: tuple[float, ...]
    sold_usd: tuple[float, ...]
    # The slippage its fills paid, in basis points of the traded notional, when known (the paper broker's
    # setting); None for fills of a broker that does not say.
    slippage_bps: float | None = None
    # What the reader of its figures must know: a baseline's rebalances that left a symbol out (no close that day).
    notes: tuple[str, ...] = ()
    # An account whose broker books began again (`account_track`'s resets): the curve's dollars per dollar of the books
    # in each stretch, the first before any reset (1.0), one more for each reset, those after the last close included.
    scales: tuple[float, ...] = (1.0,)
    opened: tuple[int, ...] | None = None
    opened_wins: tuple[int, ...] | None = None

    def between(self, first: int, last: int, *, by_opening: bool = False) -> Track:
        """The track from curve point `first` to `last`, both included, its activity counted after `first`.

        `by_opening` (the knowledge-cutoff periods): its trades and wins are those that opened in the span, wherever
        they closed, so a trade opened before a cutoff and closed after it is not taken as evidence from after it
        (issue: it was counted after). Its costs and notional stay with the session each fill was paid in, as its
        returns do. From point 0, a trade opened at it counts too: no span before it holds it."""
        c = self.curve
        span = slice(first, last + 1)
        curve = c.model_copy(
            update={"sessions": c.sessions[span], "equity": c.equity[span], "gross_exposure": c.gross_exposure[span]}
        )

        def cut(values: tuple, kind: type) -> tuple:
            return tuple(kind(v - values[first]) for v in values[span])

        def opened(values: tuple[int, ...]) -> tuple[int, ...]:
            base = values[first] if first else 0
            return tuple(v - base for v in values[span])

        if by_opening and self.opened is not None and self.opened_wins is not None:
            trades, wins = opened(self.opened), opened(self.opened_wins)
        else:
            trades, wins = cut(self.trades, int), cut(self.wins, int)
        return Track(
            curve=curve,
            trades=trades,
            wins=wins,
            costs_usd=cut(self.costs_usd, float),
            traded_usd=cut(self.traded_usd, float),
            bought_usd=cut(self.bought_usd, float),
            sold_usd=cut(self.sold_usd, float),
            slippage_bps=self.slippage_bps,
            notes=self.notes,
            scales=self.scales,
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
    def bought(self) -> float:
        return self.bought_usd[-1] if self.bought_usd else 0.0

    @property
    def sold(self) -> float:
        return self.sold_usd[-1] if self.sold_usd else 0.0

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
    resets: Sequence[BooksReset] = (),
) -> Track:
    """The account's curve at each session's close (`closes_at[i]` is when `sessions[i]` closed, tz-aware)
    from its fills in fill-time order; fills after the last close are left out. `slippage_bps`: what its
    fills paid (see Track), None when unknown. `splits` (recorded, domain/ledger.py): each applied to the
    positions before the first close at or after it; the account is marked at the prices it traded at, so a
    close before a split's ex-day (restated by the provider) is taken at `ratio` times. Raises ValueError when
    sessions and closes_at differ in length; MissingClose when a held symbol has no close at a session and no fill
    price, or (`require_closes`: closes known to be incomplete, not carried over) no close at all.

    `resets` (recorded, in order): the broker's books began again at each (a paper account reset wipes the positions
    and sets a new balance). The stretch before one ends there, its positions dropped at their last mark (the last
    close, or a fill since), and the next begins from its balance, scaled to go on from that equity: the curve is
    chained across it, so the reset is neither a loss nor a gain, and what the next stretch's fills do counts at the
    size they were traded at against that balance. Its trades, costs and notional are in the curve's dollars too, and
    a round trip never spans a reset (the positions it wiped closed no trade)."""
    if len(sessions) != len(closes_at):
        raise ValueError(f"{len(sessions)} sessions but {len(closes_at)} closing times")
    ordered = sorted(fills, key=lambda f: f.filled_at)  # stable: fills at the same instant keep their order
    used = [f for f in ordered if closes_at and f.filled_at <= closes_at[-1]]
    splits = [s for s in with_splits(used, splits) if type(s) is Split]
    closes = as_traded(closes, splits)
    resets = sorted(resets, key=lambda r: r.at)
    closed = _closed_trades(used, splits, resets)
    by_opening = sorted((at, won) for at, _, won in closed)  # the same trips, by when they opened
    cash = starting_cash
    scale = 1.0  # the curve's dollars per dollar of the books' stretch since the last reset
    scales = [scale]
    held: dict[str, int] = {}
    last_price: dict[str, float] = {}
    equity: list[float] = []
    exposure: list[float | None] = []  # None: positions held on equity at or below 0
    trades: list[int] = []
    wins: list[int] = []
    costs: list[float] = []
    traded: list[float] = []
    bought: list[float] = []
    sold: list[float] = []
    seen = trips = won = began_trips = began_won = 0
    opened: list[int] = []
    opened_wins: list[int] = []
    paid = notional = buys = sells = 0.0
    applied = began = 0
    for day, closed_at in zip(sessions, closes_at, strict=True):
        while applied < len(splits) and splits[applied].at <= closed_at:
            cash += _split(splits[applied], held, last_price)
            applied += 1
        while True:
            due = began < len(resets) and resets[began].at <= closed_at
            new: list[Fill] = []
            while seen < len(used) and used[seen].filled_at <= closed_at:
                if due and used[seen].filled_at >= resets[began].at:
                    break  # after the reset: a fill at its very instant too (it is found before a run's orders)
                new.append(used[seen])
                seen += 1
            if new:
                # The change in each position, and the cash folded on from the cash before them: in the order and by
                # the sums the broker's own fold makes (brokers/paper.py), so each close's equity is the valuation's to
                # the bit and rounds to the same cent (a batch's change folded from 0 and added after could land on
                # the other side of a half cent: a week's P/L from the curve a cent off the postmortem's).
                change = fold(new, cash)
                cash = change.cash
                for fill in new:
                    held.setdefault(fill.symbol, 0)
                    last_price[fill.symbol] = fill.price
                    paid += fill.commission * scale
                    notional += fill.qty * fill.price * scale
                    if fill.side is Side.BUY:
                        buys += fill.qty * fill.price * scale
                    else:
                        sells += fill.qty * fill.price * scale
                for symbol in {f.symbol for f in new}:
                    moved = change.positions.get(symbol)
                    held[symbol] += moved.qty if moved else 0
            if not due:
                break
            # The books began again: the stretch ends at its last marks, the next goes on from that equity.
            scale, cash, held = _begin_again(resets[began], scale, cash, held, last_price)
            scales.append(scale)
            began += 1
        while trips < len(closed) and closed[trips][1] <= closed_at:
            won += closed[trips][2]
            trips += 1
        while began_trips < len(by_opening) and by_opening[began_trips][0] <= closed_at:
            began_won += by_opening[began_trips][1]
            began_trips += 1
        value, gross = mark(held, day, closes, last_price, skip_flat=True, strict=require_closes)
        # In dollars and cents, as the books value the account at a close (the paper broker's equity, AccountValued,
        # the postmortem's start and end equity, whose difference is its week P/L): a week's P/L read off the curve
        # is the postmortem's and `status`'s to the cent, and so is the total return.
        equity.append(scale * round(cash + value, 2))
        # A position held on equity at or below 0 (a short on a rising price) is no fraction of it: None, not the 0.0
        # that read as holding nothing (Curve.gross_exposure).
        exposure.append(gross / (cash + value) if cash + value > 0 else (0.0 if gross == 0 else None))
        trades.append(trips)
        wins.append(won)
        opened.append(began_trips)
        opened_wins.append(began_won)
        costs.append(paid)
        traded.append(notional)
        bought.append(buys)
        sold.append(sells)
    for reset in resets[began:]:  # after the last close: no point of the curve, but the books now are in its dollars
        scale, cash, held = _begin_again(reset, scale, cash, held, last_price)
        scales.append(scale)
    curve = Curve(
        name=name, kind="account", sessions=tuple(sessions), equity=tuple(equity), gross_exposure=tuple(exposure)
    )
    return Track(
        curve=curve,
        trades=tuple(trades),
        wins=tuple(wins),
        costs_usd=tuple(costs),
        traded_usd=tuple(traded),
        bought_usd=tuple(bought),
        sold_usd=tuple(sold),
        slippage_bps=slippage_bps,
        scales=tuple(scales),
        opened=tuple(opened),
        opened_wins=tuple(opened_wins),
    )


def _begin_again(
    reset: BooksReset, scale: float, cash: float, held: dict[str, int], last_price: Mapping[str, float]
) -> tuple[float, float, dict[str, int]]:
    """(scale, cash, held) once the books began again at `reset`: the stretch ended at its last marks (in the curve's
    dollars), the next starts from the balance with nothing held, scaled to go on from that equity. A balance or an
    ended equity that is not positive cannot be chained: the scale stays as it was."""
    ended = scale * (cash + sum(q * last_price[s] for s, q in held.items() if q))
    balance = reset.balance
    return (ended / balance if balance > 0 and ended > 0 else scale), balance, dict.fromkeys(held, 0)


def _closed_trades(fills: Sequence[Fill], splits: Sequence[Split], resets: Sequence[BooksReset]) -> list:
    """(opened_at, closed_at, won) of each round trip (`stretch_round_trips`), in close order."""
    return [(t.opened_at, t.closed_at, t.pnl > 0) for t in stretch_round_trips(fills, splits, resets)]


def stretch_round_trips(
    fills: Sequence[Fill], splits: Sequence[Split], resets: Sequence[BooksReset]
) -> list[RoundTrip]:
    """The round trips of `fills` (any order) in close order, each stretch of the books between `resets` on its own: a
    position a reset wiped closed no trade, and a fill after it opens a new one rather than closing that. What the
    leaderboard's curve and `status`'s hit rate count, from llmtrade's own fills (the broker lists none from before a
    reset)."""
    bounds = sorted(r.at for r in resets)
    stretches: list[list[Fill]] = [[] for _ in range(len(bounds) + 1)]
    for fill in sorted(fills, key=lambda f: f.filled_at):
        stretches[sum(1 for at in bounds if at <= fill.filled_at)].append(fill)
    trips = [t for part in stretches if part for t in round_trips(with_splits(part, splits))]
    return sorted(trips, key=lambda t: t.closed_at)


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


def mark(
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
