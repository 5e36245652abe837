"""A week's cost lines in the report: its model calls and their cost, and its trading (fills, notional, commissions,
slippage). Pure over StoredEvents, as `report_weeks` is."""

from __future__ import annotations

import math
from collections.abc import Sequence

from llmtrade.app.report_records import WeekCost, WeekTrading
from llmtrade.domain.call_costs import budget_counted, cost_unknown, spent_usd
from llmtrade.domain.events import StoredEvent, rules_answer
from llmtrade.domain.trading import OrderFilled


def week_cost(answers: Sequence[StoredEvent], failed: Sequence[StoredEvent]) -> WeekCost:
    """The week's model calls and their cost: `answers` its LLMCallCompleted, `failed` its LLMCallFailed events."""
    calls = [e for e in answers if not rules_answer(e.payload)]
    # What the budget counts, as status does (app/queries.usage): the failed calls that were billed.
    billed = [e for e in failed if budget_counted(e.payload)]
    spent = [*calls, *billed]
    return WeekCost(
        calls=len(calls),
        rules_answers=len(answers) - len(calls),
        failed_calls=len(billed),
        prompt_tokens=sum(e.payload.get("prompt_tokens") or 0 for e in spent),
        completion_tokens=sum(e.payload.get("completion_tokens") or 0 for e in spent),
        cost_usd=round(sum(spent_usd(e.payload) for e in spent), 6),
        unpriced_calls=sum(1 for e in spent if cost_unknown(e.payload)),
    )


PAPER = "paper"  # the paper broker's name on its fills (brokers/paper.py), the one whose slippage is known


def week_trading(filled: Sequence[StoredEvent], slippage_bps: float) -> WeekTrading:
    """The week's fills (`filled`: its OrderFilled events), notional, commissions and the paper broker's estimated
    slippage at `slippage_bps` (None when a fill is another broker's, whose slippage is not known)."""
    # Once per order, as the leaderboard counts them: a fill recorded twice (a recovery) is one fill.
    once = {(f.fill.account_id, f.fill.client_order_id): f for f in map(OrderFilled.from_event, filled)}
    fills = list(once.values())
    traded = math.fsum(f.fill.qty * f.fill.price for f in fills)
    known = all(f.broker == PAPER for f in fills)
    return WeekTrading(
        fills=len(fills),
        traded_usd=round(traded, 2),
        commissions_usd=round(math.fsum(f.fill.commission for f in fills), 2),
        # Unrounded: the report's total is their sum, and cents rounded per week drifted from the leaderboard's.
        slippage_usd=traded * slippage_bps / 10_000 if known else None,
    )
