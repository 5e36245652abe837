"""How often the in-session bad-print rule (market/quote_checks.py `suspect`) would refuse a real price.

Every real session of a folder of daily bars (default: the seven ETFs of ../shared/data/etf, 2018 to mid-2026,
March 2020 and April 2020's oil crash included) is replayed as four in-session prints, the session's open,
high, low and close, each looked at as the quote service looks at one: against the bars before that day, no
split recorded, no other print of the day seen (the strictest case: the first checkpoint of the day, one
provider). A real print refused is a false alarm: that checkpoint's account waits for the next one (exit 75).

Prints the prints looked at, those refused (each with symbol, day and its move), and the largest real moves
against the rule's limits (a price 1.5x or more the last close, or 1/1.5 or less). Daily bars bound every
price a session traded at (its high and low), so no intraday price of these sessions moved further.

    python benchmarks/bad_print_rule.py [--csv DIR]
"""

from __future__ import annotations

import argparse
import csv
import math
from datetime import date, datetime, time
from pathlib import Path

from llmtrade.domain.market import Bar, Quote
from llmtrade.market.calendar import NEW_YORK
from llmtrade.market.quote_checks import FAR, suspect

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "etf"
# When in the session each print is taken to be seen: open, high and low somewhere in the day, the close at 15:59.
AT = {"open": time(9, 31), "high": time(12, 0), "low": time(12, 0), "close": time(15, 59)}


def read(path: Path) -> list[Bar]:
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    return [
        Bar(
            symbol=row["Ticker"],
            day=date.fromisoformat(row["Date"]),
            open=float(row["Open"]),
            high=float(row["High"]),
            low=float(row["Low"]),
            close=float(row["Close"]),
            volume=float(row["Volume"]),
            source="csv",
        )
        for row in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT, help="a folder of SYMBOL.csv (Date,Ticker,O,H,L,C,V)")
    args = parser.parse_args()
    looked = 0
    refused: list[str] = []
    widest: list[tuple[float, str]] = []
    for path in sorted(args.csv.glob("*.csv")):
        bars = read(path)
        for i in range(1, len(bars)):
            before, today = bars[max(0, i - 10) : i], bars[i]
            for kind, at in AT.items():
                price = getattr(today, kind)
                seen = datetime.combine(today.day, at, tzinfo=NEW_YORK)
                quote = Quote(symbol=today.symbol, price=price, as_of=seen, provider="csv", kind="trade")
                looked += 1
                move = math.log(price / before[-1].close)
                widest.append((abs(move), f"{today.symbol} {today.day} {kind} {math.exp(move):.3f}x"))
                if suspect(quote, before, [], []) is not None:
                    refused.append(f"{today.symbol} {today.day} {kind} at {price:g}: {math.exp(move):.3f}x")
    widest.sort(reverse=True)
    print(f"prints looked at: {looked} ({args.csv})")
    print(f"refused as bad prints: {len(refused)} ({len(refused) / max(looked, 1):.4%})")
    for line in refused[:20]:
        print(f"  {line}")
    limit_up, limit_down = math.exp(FAR), math.exp(-FAR)
    print(f"the rule's limits: {limit_up:.3f}x and {limit_down:.3f}x the last close")
    print("largest real moves against the last close:")
    for move, where in widest[:5]:
        print(f"  {where} ({move / FAR:.0%} of the way to a limit)")


if __name__ == "__main__":
    main()
