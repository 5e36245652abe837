"""The account a week's trade is sized from: as it will be once the week's roll has closed its other positions at
today's prices (workflows/week_gate.py sizes every account's intent from it)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from llmtrade.domain.trading import AccountSnapshot


def after_roll(
    account: AccountSnapshot,
    keep: str,
    prices: Mapping[str, float],
    unsold: Collection[str] = (),
    last_closes: Mapping[str, float] | None = None,
) -> AccountSnapshot:
    """The account as it will be once positions in other instruments are closed at today's prices, but those in
    `unsold` (symbols whose close could never fill: kept, at their price or their cost, and no money from them).

    An unsold position valued at its cost (no close this week: `at_cost`) whose prices ended is sized at the lower of
    its cost and its last close (`last_closes`): the week start values it at that close at the same instant, and sizing
    from its cost lent the trade money the position had lost; nor is a gain never realised lent."""
    ended = last_closes or {}
    marks = {
        s: min(p.qty * p.avg_price, p.qty * ended[s]) / p.qty
        for s, p in account.positions.items()
        if s in unsold and s in account.at_cost and s in ended and p.qty
    }
    shortfall = sum(p.qty * (marks[s] - p.avg_price) for s, p in account.positions.items() if s in marks)
    proceeds = sum(
        p.qty * prices.get(s, p.avg_price) for s, p in account.positions.items() if s != keep and s not in unsold
    )
    kept = {s: p for s, p in account.positions.items() if s == keep or s in unsold}
    exposure = sum(abs(p.qty) * marks.get(s, prices.get(s, p.avg_price)) for s, p in kept.items())
    cash = account.cash + proceeds
    equity = account.equity + shortfall
    return account.model_copy(
        update={"cash": cash, "positions": kept, "equity": equity, "buying_power": max(0.0, equity - exposure)}
    )
