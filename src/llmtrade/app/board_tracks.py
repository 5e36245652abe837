"""The leaderboard's equity tracks: each account's from its fills, and the baselines' (FLAT, buy-and-hold of the
benchmark, equal weight over the week's universe) from the same cash and the paper broker's costs, with the notes
that say so. app/leaderboard.py builds the board from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from llmtrade.analytics import baseline_tracks, curves
from llmtrade.app.baselines import baseline_cash, baseline_costs
from llmtrade.app.marked_books import PAPER
from llmtrade.config.models import BENCHMARK, Config
from llmtrade.domain.ledger import BooksReset, Split
from llmtrade.domain.trading import Fill


def tracks_of(
    config: Config,
    fills: list[Fill],
    brokers: dict[str, set[str]],
    sessions: list[date],
    closes_at: list[datetime],
    closes: curves.Closes,
    splits: Sequence[Split],
    weekly: Mapping[date, Sequence[str]],
    resets: Mapping[str, Sequence[BooksReset]],
) -> list[curves.Track]:
    """The equity tracks the board ranks: one per configured account (its fills marked at the closes), then the
    FLAT, buy-and-hold and equal-weight baselines."""
    accounts = config.accounts.accounts
    paper = config.accounts.paper
    tracks = [
        curves.account_track(
            account.id,
            [f for f in fills if f.account_id == account.id],
            starting_cash=account.starting_cash,
            sessions=sessions,
            closes_at=closes_at,
            closes=closes,
            # Only the paper broker's slippage is known; another broker's is in its prices, unmeasured.
            slippage_bps=paper.slippage_bps if brokers.get(account.id, set()) <= {PAPER} else None,
            splits=splits,
            resets=resets.get(account.id, ()),
        )
        for account in accounts
    ]
    cash, costs = baseline_cash(config), baseline_costs(config)
    tracks += [
        baseline_tracks.flat_track(sessions, cash),
        baseline_tracks.buy_and_hold_track(BENCHMARK, sessions, closes, cash, costs),
        baseline_tracks.equal_weight_track(config.assets.symbols, sessions, closes, cash, costs, weekly),
    ]
    return tracks


def fee_notes(config: Config) -> list[str]:
    """What the board says of the baselines' cash and costs: they start with one cash and pay the paper broker's."""
    notes = []
    if len({a.starting_cash for a in config.accounts.accounts}) > 1:
        notes.append(
            f"accounts start with different cash; the baselines start with {baseline_cash(config):,.0f} "
            "(returns compare, dollar costs do not)"
        )
    paper = config.accounts.paper
    notes.append(
        f"baselines pay the paper broker's costs: {paper.slippage_bps:g} bps slippage, "
        f"{paper.commission_per_order:g} USD per order; EQUAL_WEIGHT rebalances at the close of each week's "
        "first session"
    )
    return notes
