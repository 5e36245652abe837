"""The dollar budget (models.yaml `budget:`): a live model call is sent only when it cannot overspend.

Before a call is sent its worst case is reserved: the prompt's tokens estimated high (a token per 3 bytes
of the request's JSON; real tokenisers give 3.5-4.5 for English) plus all of `max_tokens`, at the model's
configured price. The call is refused when the run's spent + reserved + worst case would pass
`per_run_usd`, or the week's would pass `per_week_usd`; a model with no price is refused whenever a budget
is set (its cost could not be bounded). After the call the reservation is replaced by what it cost
(the reply's usage, priced), so calls in flight at once never together pass a ceiling: reserving is
synchronous, between awaits, so two coroutines of the event loop cannot both take the last dollar. A billed attempt
(cut off after its 200, an error in a 200's body, not a rate limit or an overload that wrote nothing) counts at the
cost it reported, else at the worst case, so a retry after one first holds that too (`extend`), or is not sent.

A reply with no usage has an unknown cost: it settles at the worst case held for it, recorded with the call
(`cost_counted_usd`), never at $0. What the week spent before this process comes from the call records (their cost,
else what the budget counted for them, else their tokens priced) of the week, read once when the budget is
built; runs of the same week in other processes at the same moment are not seen (the week lock already
serialises the weekly jobs).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from llmtrade.config.models import ModelsConfig, Price
from llmtrade.config.sections import BudgetConfig
from llmtrade.domain.events import BudgetRefused
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import BudgetExceeded, LLMRequestRejected, LLMUnavailable
from llmtrade.llm.types import ChatRequest
from llmtrade.market.calendar import new_york_date
from llmtrade.reply_errors import LLMBadReply

if TYPE_CHECKING:
    import psycopg

    from llmtrade.domain.events import StoredEvent
    from llmtrade.storage.event_store import EventStore

# Bytes of request JSON per prompt token, taken low so the estimate is high.
_BYTES_PER_TOKEN = 3


@dataclass
class Hold:
    """One call's reservation, released by `Budget.settle`: `amount` (USD) is an attempt's worst case; `held` what is
    held in all: the worst case, and before a retry what the attempts billed before it may count (`Budget.extend`: the
    cost one reported, else its worst case)."""

    model: str
    amount: float
    held: float


def estimate_prompt_tokens(messages: Sequence[Mapping[str, object]], extra: object = None) -> int:
    """An upper estimate of a request's prompt tokens: its messages (and schema or tools) as JSON bytes / 3."""
    size = len(json.dumps(list(messages), ensure_ascii=False).encode())
    if extra is not None:
        size += len(json.dumps(extra, ensure_ascii=False).encode())
    return math.ceil(size / _BYTES_PER_TOKEN)


def price_of(price: Price, prompt_tokens: int, completion_tokens: int) -> float:
    """USD for the tokens at `price` (per million tokens)."""
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6


class Budget:
    """A run's view of the ceilings: what it and its week spent, and what calls in flight hold."""

    def __init__(
        self,
        config: BudgetConfig,
        prices: Mapping[str, Price],
        *,
        week_spent: float = 0.0,
        backtest_usd: float | None = None,
        backtest_spent: float = 0.0,
    ):
        """`backtest_usd`: a ceiling over every call recorded in a backtest's database (`backtest --replay
        --live-misses USD`), of which `backtest_spent` was spent before this run."""
        self.config = config
        self._prices = dict(prices)
        self.week_before = week_spent  # the week's calls recorded before this run
        self.backtest_usd = backtest_usd
        self.backtest_before = backtest_spent
        self.run_spent = 0.0
        self.reserved = 0.0

    @classmethod
    def unlimited(cls) -> Budget:
        """No ceiling: every call is sent, nothing is held."""
        return cls(BudgetConfig(), {})

    @property
    def active(self) -> bool:
        return self.config.active or self.backtest_usd is not None

    def reserve(self, role: str, model: str, prompt_tokens: int, max_tokens: int) -> Hold | BudgetRefused:
        """Hold the call's worst case, or the refusal to record when it does not fit (nothing held then)."""
        if not self.active:
            return Hold(model, 0.0, 0.0)
        price = self._prices.get(model)
        worst = None if price is None else price_of(price, prompt_tokens, max_tokens)
        refused = self._refusal(role, model, worst)
        if refused is not None:
            return refused
        assert worst is not None  # an active budget refused every unpriced model above
        self.reserved += worst
        return Hold(model, worst, worst)

    def extend(self, role: str, hold: Hold, needed: float) -> BudgetRefused | None:
        """Hold `needed` in all for the call (a retry after billed attempts: `billed_cost` and its own worst case), or
        the refusal to record (nothing more held then)."""
        more = needed - hold.held
        refused = self._refusal(role, hold.model, more) if more > 0 else None
        if refused is None and more > 0:
            self.reserved += more
            hold.held = needed
        return refused

    def _refusal(self, role: str, model: str, worst: float | None) -> BudgetRefused | None:
        for name, limit, spent in (
            ("run", self.config.per_run_usd, self.run_spent),
            ("week", self.config.per_week_usd, self.week_before + self.run_spent),
            ("backtest", self.backtest_usd, self.backtest_before + self.run_spent),
        ):
            if limit is None:
                continue
            if worst is None:
                reason = (
                    f"{model} has no price in models.yaml `prices:`, so its cost cannot be kept under the {name} budget"
                )
            elif spent + self.reserved + worst > limit:
                reason = (
                    f"the {name} budget ${limit:.4f} would be passed: ${spent:.4f} spent, ${self.reserved:.4f} "
                    f"held by calls in flight, ${worst:.4f} worst case for this {role} call to {model}"
                )
            else:
                continue
            return BudgetRefused(
                role=role,
                model=model,
                budget=name,
                limit_usd=limit,
                spent_usd=round(spent, 6),
                reserved_usd=round(self.reserved, 6),
                worst_case_usd=None if worst is None else round(worst, 6),
                reason=reason,
            )
        return None

    def reserve_request(self, role: str, request: ChatRequest) -> Hold | BudgetRefused | None:
        """`reserve` for a chat request (None: no budget is set, nothing to hold)."""
        if not self.active:
            return None
        messages = [m.model_dump() for m in request.messages]
        tokens = estimate_prompt_tokens(messages, request.json_schema)
        return self.reserve(role, request.model, tokens, request.max_tokens)

    def settle(self, hold: Hold | None, cost: float | None) -> None:
        """Release `hold` and count what the call cost (None: unknown, counted as its worst case)."""
        if hold is None:
            return
        self.reserved = max(0.0, self.reserved - hold.held)
        self.run_spent += hold.amount if cost is None else cost


def counted_cost(hold: Hold | None, costs: Sequence[float | None], cut_off: int) -> float | None:
    """What the budget counts for a call whose cost is not wholly known: the known `costs` of its billed parts (its
    reply, earlier attempts that reported their usage), the worst case held for each part whose cost is unknown (None:
    no usage), and the worst case for each attempt cut off after a 200 (generated and billed, cost never reported).
    None when the cost is known, or no budget holds anything."""
    if hold is None or not (cut_off or None in costs):
        return None
    return billed_cost(hold, costs, cut_off)


def billed_cost(hold: Hold, costs: Sequence[float | None], cut_off: int) -> float:
    """What a call's billed parts count (`counted_cost`): the known `costs`, the worst case for each other one."""
    return sum(cost for cost in costs if cost is not None) + hold.amount * (cut_off + costs.count(None))


# The failures that carry a call's billed attempts (the client sets them; BudgetExceeded: a retry not sent after them;
# a cancellation, SIGTERM or a sibling task failing, when the client or the gateway saw it: llm/call_records.py).
_COUNTED = (LLMUnavailable, LLMRequestRejected, LLMBadReply, BudgetExceeded, asyncio.CancelledError)


def cut_off_of(exc: BaseException) -> int:
    """Attempts of a failed call cut off after the provider had answered 200 (set by the client)."""
    return getattr(exc, "cut_off", 0) if isinstance(exc, _COUNTED) else 0


def billed_of(exc: BaseException) -> tuple:
    """The usages the provider reported for a failed call's attempts that failed after its 200 (set by the client)."""
    return getattr(exc, "billed", ()) if isinstance(exc, _COUNTED) else ()


_CALLS = ["LLMCallCompleted", "LLMCallFailed"]


def week_spent(conn: psycopg.Connection, week_id: date, prices: Mapping[str, Price]) -> float:
    """USD the week's model calls cost so far, from their records (occurred_at's New York date in the week)."""
    rows = conn.execute(
        """
        SELECT payload->>'model',
               sum(coalesce((payload->>'cost_usd')::float8, (payload->>'cost_counted_usd')::float8)),
               sum(CASE WHEN coalesce(payload->>'cost_usd', payload->>'cost_counted_usd') IS NULL
                        THEN (payload->>'prompt_tokens')::bigint END),
               sum(CASE WHEN coalesce(payload->>'cost_usd', payload->>'cost_counted_usd') IS NULL
                        THEN (payload->>'completion_tokens')::bigint END)
          FROM events
         WHERE type = ANY(%s)
           AND (occurred_at AT TIME ZONE 'America/New_York')::date >= %s
           AND (occurred_at AT TIME ZONE 'America/New_York')::date < %s + 7
         GROUP BY 1
        """,
        (_CALLS, week_id, week_id),
    ).fetchall()
    return _total(rows, prices)


def events_spent(events: Sequence[StoredEvent], prices: Mapping[str, Price]) -> float:
    """USD the call records among `events` cost: their cost, else their tokens priced (as `week_spent`)."""
    rows: dict[str, list[float]] = {}
    for event in events:
        payload = event.payload
        row = rows.setdefault(str(payload.get("model")), [0.0, 0, 0])
        known = payload.get("cost_usd")
        if known is None:
            known = payload.get("cost_counted_usd")  # an unknown cost, counted at the worst case held for it
        if known is not None:
            row[0] += float(known)
        else:
            row[1] += int(payload.get("prompt_tokens") or 0)
            row[2] += int(payload.get("completion_tokens") or 0)
    return _total([(model, cost, prompt, completion) for model, (cost, prompt, completion) in rows.items()], prices)


def _total(rows: Sequence[tuple[str, float | None, int | None, int | None]], prices: Mapping[str, Price]) -> float:
    total = 0.0
    for model, cost, prompt, completion in rows:
        total += float(cost or 0.0)
        price = prices.get(model)
        if price is not None and (prompt or completion):
            total += price_of(price, int(prompt or 0), int(completion or 0))
    return total


def backtest_budget(models: ModelsConfig, events: EventStore, limit_usd: float) -> Budget:
    """A replayed backtest's budget for the calls its cache misses send live: `limit_usd` over every call
    recorded in its database (read through its event store, whose sole writer's copies hold the calls of
    jobs not flushed yet), on top of models.yaml's per-run ceiling if one is set (the week's is a live
    notion: a backtest steps through weeks)."""
    config = BudgetConfig(per_run_usd=models.budget.per_run_usd)
    spent = events_spent(events.read(type=_CALLS), models.prices)
    return Budget(config, models.prices, backtest_usd=limit_usd, backtest_spent=spent)


def run_budget(models: ModelsConfig, conn: psycopg.Connection, now: datetime) -> Budget:
    """A run's dollar budget (models.yaml `budget:`), with what the calls of `now`'s week already cost."""
    if not models.budget.active:
        return Budget.unlimited()
    week = week_id_for(new_york_date(now))
    return Budget(models.budget, models.prices, week_spent=week_spent(conn, week, models.prices))
