"""What a gateway call returns and what a run adds up: the caller's identity, the answer, the totals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, NamedTuple, TypeVar

from llmtrade.llm.recorder import CacheEntry
from llmtrade.llm.types import ChatMessage, ChatReply, Usage

T = TypeVar("T")

# No tokens at no cost (frozen, so one shared instance): a model's totals before its first call, an offline answer.
FREE = Usage(cost_usd=0.0)
# Nothing spent yet, cost unknown (frozen, so shared: one fewer model built per call).
NO_USAGE = Usage()


def plain_messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """`[m.model_dump() for m in messages]` (role, then content) without the serializer: every call's record
    carries its messages, and model_dump's keyword handling was most of the cost of two small dicts."""
    return [{"role": m.role, "content": m.content} for m in messages]


@dataclass(frozen=True)
class CallSite:
    """Who is asking, for the record: the role and the run, week and account it works for."""

    role: str
    run_id: str
    week_id: date | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class Answer(Generic[T]):
    value: T
    model: str
    usage: Usage
    repaired: bool = False


@dataclass
class UsageTotals:
    """A run's answers: `calls` counts every one asked (a model's, live or from the replay cache, and the offline rules
    provider's, as RunFinished.llm_calls has always stored it), `rules` those the offline rules gave ($0, no model)."""

    calls: int = 0
    rules: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    requests: int = 0  # HTTP requests sent to providers, retries and refused ones included (not `calls`: answers)
    by_model: dict[str, Usage] = field(default_factory=dict)

    def add(self, model: str, usage: Usage, *, rules: bool = False, counted: float | None = None) -> None:
        """`counted`: what the budget counted for a call whose cost is unknown (its worst case), in `cost_usd` as
        status, trace and the report count it (domain.events.spent_usd)."""
        self.calls += 1
        self.rules += rules
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        if usage.cost_usd is None:
            self.unpriced_calls += 1
            self.cost_usd += counted or 0.0
        else:
            self.cost_usd += usage.cost_usd
        before = self.by_model.get(model)
        if before is None:
            before = FREE
        elif not usage.prompt_tokens and not usage.completion_tokens and usage.cost_usd == 0.0 and _plus(before):
            return  # a free answer (the offline rules') adds nothing: the model's totals stay the same object
        self.by_model[model] = Usage(
            prompt_tokens=before.prompt_tokens + usage.prompt_tokens,
            completion_tokens=before.completion_tokens + usage.completion_tokens,
            cost_usd=(before.cost_usd or 0.0) + (usage.cost_usd or 0.0),
        )


def _plus(usage: Usage) -> bool:
    """Whether `usage`'s cost stays itself when 0.0 is added (a float, not -0.0: -0.0 + 0.0 is 0.0)."""
    cost = usage.cost_usd
    return cost is not None and (cost > 0.0 or (cost == 0.0 and math.copysign(1.0, cost) > 0.0))


def sum_usage(a: Usage, b: Usage) -> Usage:
    cost = None if a.cost_usd is None and b.cost_usd is None else (a.cost_usd or 0.0) + (b.cost_usd or 0.0)
    return Usage(
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        cost_usd=cost,
    )


class Exchange(NamedTuple):
    """One answer as the gateway got it (llm/gateway.py); a tuple: built for every call, where a frozen dataclass set
    each member through object.__setattr__."""

    content: str
    usage: Usage
    source: str
    provider: str
    attempts: int
    latency_ms: float
    key: str
    reply: ChatReply | None = None  # live calls only: what the normaliser found besides the text
    note: str | None = None
    entry: CacheEntry | None = None  # live calls only: stored in the replay cache with the call's record
    counted: float | None = None  # what the budget counted for an unknown cost (its worst case held)
