"""What the breaker counts as a trade, the old way (every reducing fill) and now (round trips).

Each Wednesday for 26 weeks an account targets 20% of equity in SPY (conviction 2) on the synthetic
market and resizes to it at the open with 5 bp slippage, going flat every 13th week (its pick went
elsewhere). Prints, per seed, the trades, losing trades and longest losing streak both ways: the old
count made every trim a trade, so resizes alone built loss streaks.

    python benchmarks/trade_counting.py [--seeds 6]
"""

from __future__ import annotations

import argparse
import math
from datetime import UTC, date, datetime

from llmtrade.domain.ledger import apply_fill, fold, round_trips, signed_qty
from llmtrade.domain.trading import Fill, Side
from llmtrade.market.synthetic import SyntheticMarket

SLIPPAGE = 0.0005


def week_fills(seed: int) -> list[Fill]:
    bars = SyntheticMarket({"SPY": "equity"}, seed=seed).daily_bars(["SPY"], date(2025, 6, 1), date(2025, 12, 31))
    wednesdays = [b for b in bars["SPY"] if b.day.weekday() == 2][:26]
    fills: list[Fill] = []
    qty = 0
    for n, bar in enumerate(wednesdays):
        equity = fold(fills, 100_000).cash + qty * bar.open
        target = 0 if n % 13 == 12 else math.floor(0.2 * equity / bar.open)
        delta = target - qty
        if not delta:
            continue
        fills.append(
            Fill(
                client_order_id=f"o{n}",
                account_id="a",
                symbol="SPY",
                side=Side.BUY if delta > 0 else Side.SELL,
                qty=abs(delta),
                price=bar.open * (1 + SLIPPAGE if delta > 0 else 1 - SLIPPAGE),
                filled_at=datetime(bar.day.year, bar.day.month, bar.day.day, 14, 30, tzinfo=UTC),
            )
        )
        qty = target
    return fills


def per_reducing_fill(fills: list[Fill]) -> list[float]:
    """The old count: every fill that reduced a position was a trade, net of its own commission only."""
    held: dict[str, tuple[int, float]] = {}
    pnls = []
    for fill in fills:
        signed = signed_qty(fill)
        qty, avg = held.get(fill.symbol, (0, 0.0))
        if qty and (qty > 0) != (signed > 0):
            closed = min(abs(qty), abs(signed))
            pnls.append(round(closed * (fill.price - avg) * (1 if qty > 0 else -1) - fill.commission, 2))
        held[fill.symbol] = apply_fill(qty, avg, signed, fill.price)
    return pnls


def longest_losing_streak(pnls: list[float]) -> int:
    best = run = 0
    for pnl in pnls:
        if pnl < 0:
            run += 1
            best = max(best, run)
        elif pnl > 0:
            run = 0
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    print("seed  fills  old: trades losing streak   new: trades losing streak")
    for seed in range(1, args.seeds + 1):
        fills = week_fills(seed)
        old = per_reducing_fill(fills)
        new = [t.pnl for t in round_trips(fills)]
        print(
            f"{seed:>4}  {len(fills):>5}  {len(old):>11} {sum(p < 0 for p in old):>6} {longest_losing_streak(old):>6}"
            f"   {len(new):>11} {sum(p < 0 for p in new):>6} {longest_losing_streak(new):>6}"
        )


if __name__ == "__main__":
    main()
