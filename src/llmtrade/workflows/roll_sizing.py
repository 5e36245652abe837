"""The account a week's trade is sized from: as it will be once the week's roll has closed its other positions at
today's prices (workflows/week_gate.py sizes every account's intent from it), how old the closes it counts the sales
at are (`sold_ages`), and what the run says of a position whose roll close is not sent (`unsold_note`)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from llmtrade.domain.market import PriceAge
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
    # Those marked are no longer at cost: the gate counts them at the larger of the two in their class (risk/stale.py).
    at_cost = [s for s in account.at_cost if s in kept and s not in marks]
    update = {"cash": cash, "positions": kept, "equity": equity, "buying_power": max(0.0, equity - exposure)}
    return account.model_copy(update=update | {"at_cost": at_cost})


def sold_ages(
    account: AccountSnapshot, keep: str, unsold: Collection[str], age: Callable[[str], PriceAge | None]
) -> dict[str, PriceAge]:
    """How old the last close is of each position `after_roll` counts as sold (not `keep`, not `unsold`), when it is not
    of the last session (`age`): the money the week's trade is sized from (risk/stale.py)."""
    held = [s for s, p in account.positions.items() if p.qty and s != keep and s not in unsold]
    return {s: found for s in held if (found := age(s)) is not None}


def unsold_note(account_id: str, symbol: str, qty: int, why: str, *, settles: bool) -> str:
    """What the week's run says of a held position whose roll close it does not send: its prices ended (`why`).
    `settles`: the account's broker closes such a position by hand (`positions settle`: the paper broker); else it is
    sold at the broker, which holds it (Alpaca)."""
    close = (
        f"`llmtrade positions settle {account_id} {symbol} [--price P]` closes it at its last close (or the cash-out "
        "price paid), or `llmtrade positions release"
        if settles
        else "sell it at the broker, which holds it, or `llmtrade positions release"
    )
    return (
        f"account {account_id} holds {qty:+d} {symbol}, whose prices ended ({why}): the week's roll sends no close of "
        "it (it could never fill) and sizes the week as still holding it, at its cost or its last close, whichever is "
        f"the more careful (the lower in equity, the larger in its class); give {symbol}'s prices again "
        f"(its CSV file through the last session), or, if it was delisted or renamed, {close} "
        f"{account_id} {symbol}` hands it back (README: Orders that can never fill)"
    )
