"""What the baselines start with and pay, and SPY held over any two closes: the leaderboard's baselines and `status`'s
SPY line are one computation, so the two agree on SPY's return over the same closes (a new user found status's SPY
free of the slippage the leaderboard's paid, and nothing said so)."""

from __future__ import annotations

from datetime import date

from llmtrade.analytics import baseline_tracks, curves
from llmtrade.config.models import BENCHMARK, AccountRole, Config

TRIAL_ROLES = (AccountRole.PM, AccountRole.CHAIRMAN)


def baseline_cash(config: Config) -> float:
    """The baselines start where the accounts do: the first trading account's starting cash."""
    accounts = config.accounts.accounts
    trading = [a for a in accounts if a.role in TRIAL_ROLES] or accounts
    return trading[0].starting_cash


def baseline_costs(config: Config) -> curves.Costs:
    """The paper broker's costs, which every baseline pays (accounts.yaml `paper`)."""
    paper = config.accounts.paper
    return curves.Costs(slippage_bps=paper.slippage_bps, commission=paper.commission_per_order)


def spy_return(config: Config, start: tuple[date, float], end: tuple[date, float]) -> float:
    """The SPY baseline's return from the close `start` (its session, its close) to the close `end`: bought there with
    the baseline's cash in whole shares, paying the paper broker's slippage and commission, as the leaderboard's SPY
    row is. 0.0 when both are one close (a purchase's costs show from the next close on, as on the leaderboard)."""
    if end[0] <= start[0]:
        return 0.0
    cash = baseline_cash(config)
    closes = {BENCHMARK: {start[0]: start[1], end[0]: end[1]}}
    track = baseline_tracks.buy_and_hold_track(BENCHMARK, [start[0], end[0]], closes, cash, baseline_costs(config))
    return track.curve.equity[-1] / cash - 1.0
