"""Where a leaderboard's time goes on long books: curves, baselines, standings with their bootstrap
intervals, and the two knowledge-cutoff periods, with no database (the pure analytics part).

Six accounts on the synthetic market, each buying 10 shares of a random instrument every Wednesday and
selling them three sessions later, over `--weeks` weeks; then the FLAT, SPY and EQUAL_WEIGHT baselines
and the standings of all nine over the whole range and over two halves.

    python benchmarks/leaderboard_stats.py [--weeks 520]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import timedelta

from llmtrade.analytics import baseline_tracks, curves
from llmtrade.analytics.standings import standings
from llmtrade.config.loader import load_config
from llmtrade.domain.trading import Fill, Side
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.synthetic import SyntheticMarket


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=520)
    args = parser.parse_args()
    calendar = TradingCalendar()
    end = calendar.previous_session(calendar.last_day - timedelta(days=800))
    sessions = calendar.sessions_between(end - timedelta(weeks=args.weeks), end)
    closes_at = [calendar.session_close(day) for day in sessions]
    universe = load_config(None).config.assets.universe
    classes = {i.symbol: i.asset_class.value for i in universe}
    bars = SyntheticMarket(classes, seed=7).daily_bars(list(classes), sessions[0], sessions[-1])
    closes = {s: {b.day: b.close for b in series} for s, series in bars.items()}
    symbols = list(classes)
    rng = random.Random(1)

    started = time.perf_counter()
    tracks = []
    for account in range(6):
        fills = []
        for i, day in enumerate(sessions[:-4]):
            if day.weekday() != 2:
                continue
            symbol = rng.choice(symbols)
            for side, at in ((Side.BUY, i), (Side.SELL, i + 3)):
                fills.append(
                    Fill(
                        client_order_id=f"{account}-{i}-{side.value}",
                        account_id=f"acct_{account}",
                        symbol=symbol,
                        side=side,
                        qty=10,
                        price=closes[symbol][sessions[at]],
                        commission=1.0,
                        filled_at=closes_at[at],
                    )
                )
        tracks.append(
            curves.account_track(
                f"acct_{account}",
                fills,
                starting_cash=100_000.0,
                sessions=sessions,
                closes_at=closes_at,
                closes=closes,
                slippage_bps=5,
            )
        )
    accounts_done = time.perf_counter()
    costs = curves.Costs(slippage_bps=5, commission=1.0)
    tracks += [
        baseline_tracks.flat_track(sessions, 100_000.0),
        baseline_tracks.buy_and_hold_track("SPY", sessions, closes, 100_000.0, costs),
        baseline_tracks.equal_weight_track(symbols, sessions, closes, 100_000.0, costs),
    ]
    baselines_done = time.perf_counter()
    trials = {f"acct_{a}" for a in range(5)}
    rows = standings(tracks, trials=5, trial_names=trials)
    whole_done = time.perf_counter()
    half = len(sessions) // 2
    for first, last in ((0, half), (half, len(sessions) - 1)):
        standings([t.between(first, last) for t in tracks], trials=5, trial_names=trials)
    periods_done = time.perf_counter()

    print(f"{args.weeks} weeks, {len(sessions)} sessions, {len(tracks)} curves, {rows[0].trades} trades per account")
    print(f"account curves  {accounts_done - started:6.2f} s")
    print(f"baselines       {baselines_done - accounts_done:6.2f} s")
    print(f"standings       {whole_done - baselines_done:6.2f} s (includes importing arch and drawing the resamples)")
    print(f"two periods     {periods_done - whole_done:6.2f} s")
    print(f"total           {periods_done - started:6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
