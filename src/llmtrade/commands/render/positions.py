"""`positions list`: what llmtrade manages at each broker and the differences."""

from __future__ import annotations

from llmtrade.app.position_results import ManagedAccounts
from llmtrade.console import Output


def print_managed(out: Output, found: ManagedAccounts) -> None:
    def held(positions: list) -> str:
        return ", ".join(f"{p.qty:+d} {p.symbol}" for p in positions) or "-"

    out.table(
        "positions",
        ["account", "managed by llmtrade", "at the broker", "differences"],
        [
            (
                a.account_id,
                held(a.managed),
                held(a.broker),
                "; ".join(f"{d.difference.kind} {d.difference.symbol}: {d.difference.detail}" for d in a.differences)
                or "none",
            )
            for a in found.root
        ],
    )
