"""The gateway's records of a call (a failed one's LLMCallFailed, an answered one's fields), the pricing of what a
reply used (llm/gateway.py), and the client's tally of a call's billed attempts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from llmtrade.config.models import Price
from llmtrade.domain.events import LLMCallFailed
from llmtrade.llm.budget import Hold, billed_of, counted_cost, cut_off_of
from llmtrade.llm.records import Exchange, plain_messages
from llmtrade.llm.types import ChatRequest, ResponseMode, Usage
from llmtrade.reply_errors import LLMBadReply


def priced(price: Price | None, usage: Usage) -> Usage:
    """`usage` with its cost: the provider's, else its tokens at `price`; unknown (None) for a reply without usage or
    a model without a price, never 0 tokens' worth."""
    if usage.cost_usd is not None or not usage.reported or price is None:
        return usage
    cost = (usage.prompt_tokens * price.input_per_mtok + usage.completion_tokens * price.output_per_mtok) / 1e6
    return usage.model_copy(update={"cost_usd": cost})


def call_cost(
    price: Price | None, hold: Hold | None, parts: Sequence[Usage], cut_off: int
) -> tuple[Usage, float | None]:
    """A call's usage over its billed `parts` (its reply, and earlier attempts that failed after a 200 and reported
    their usage), priced; its cost unknown (None) when a part's is or an attempt was cut off. And what the budget
    counts for it when unknown (llm/budget.counted_cost), else None."""
    costs = [priced(price, part).cost_usd for part in parts]
    known = not cut_off and all(cost is not None for cost in costs)
    usage = Usage(
        prompt_tokens=sum(part.prompt_tokens for part in parts),
        completion_tokens=sum(part.completion_tokens for part in parts),
        cost_usd=sum(cost for cost in costs if cost is not None) if known else None,
        reported=all(part.reported for part in parts),
    )
    return usage, counted_cost(hold, costs, cut_off)


def failed_cost(price: Price | None, hold: Hold | None, exc: BaseException) -> tuple[Usage | None, float | None]:
    """What a failed call's billed attempts used (a rejected reply's tokens, attempts that failed after a 200), priced
    (None: nothing was billed), and what the budget counts for it (call_cost)."""
    bad = exc if isinstance(exc, LLMBadReply) else None
    parts = [spent_by(bad)] if bad else []
    parts += billed_of(exc)
    cut = cut_off_of(exc)
    if not parts and not cut:
        return None, None
    return call_cost(price, hold, parts, cut)


def completed_values(
    role: str, model: str, request: ChatRequest, exchange: Exchange, *, outcome: str, problem: str | None
) -> dict[str, Any]:
    """The fields of the LLMCallCompleted of a call answered by `exchange` (llm/gateway.py)."""
    reply = exchange.reply
    return {
        "role": role,
        "provider": exchange.provider,
        "model": model,
        "source": exchange.source,
        "messages": plain_messages(request.messages),
        "answer": exchange.content,
        "schema_name": request.schema_name,
        "outcome": outcome,
        "problem": problem,
        "prompt_tokens": exchange.usage.prompt_tokens,
        "completion_tokens": exchange.usage.completion_tokens,
        "cost_usd": exchange.usage.cost_usd,
        "latency_ms": exchange.latency_ms,
        "attempts": exchange.attempts,
        "cache_key": exchange.key,
        "reasoning": reply.reasoning if reply else None,
        "think": reply.think if reply else None,
        "answer_from": reply.answer_from if reply else "content",
        "response_mode": reply.response_mode if reply else None,
        "finish_reason": reply.finish_reason if reply else None,
        "max_tokens": request.max_tokens,
        "note": exchange.note,
        "cost_counted_usd": exchange.counted,
        "cut_off_attempts": reply.cut_off if reply else 0,
    }


def spent_by(bad: LLMBadReply) -> Usage:
    """What a rejected reply said it used (its tokens are billed though the answer is unusable)."""
    return Usage(
        prompt_tokens=bad.prompt_tokens,
        completion_tokens=bad.completion_tokens,
        cost_usd=bad.cost_usd,
        reported=bad.usage_reported,
    )


def failed_record(
    role: str,
    model: str,
    provider: str,
    request: ChatRequest,
    key: str,
    exc: BaseException,
    *,
    mode: ResponseMode | None,
    note: str | None,
    used: Usage | None,
    counted: float | None,
) -> LLMCallFailed:
    """The LLMCallFailed of a call that raised `exc`, with what did come back (a bad reply's text) and what its billed
    attempts `used` (call_cost; None: nothing billed)."""
    bad = exc if isinstance(exc, LLMBadReply) else None
    return LLMCallFailed(
        role=role,
        provider=provider,
        model=model,
        messages=plain_messages(request.messages),
        error_type=type(exc).__name__,
        error=str(exc) or f"{type(exc).__name__}: stopped in flight",  # a cancellation says nothing
        cache_key=key,
        answer=bad.content if bad else None,
        reasoning=bad.reasoning if bad else None,
        finish_reason=bad.finish_reason if bad else None,
        response_mode=mode,
        max_tokens=request.max_tokens,
        prompt_tokens=used.prompt_tokens if used else 0,
        completion_tokens=used.completion_tokens if used else 0,
        note=note,
        cost_usd=used.cost_usd if used else None,
        cost_counted_usd=counted,
        cut_off_attempts=cut_off_of(exc),
        billed=used is not None,
    )


class BilledAttempts:
    """A call's attempts (llm/http_client.py) that failed after the provider's 200 (it began generating, and
    bills them): the usage each reported, or, none reported (cut off, an error body without usage), one more counted
    at its worst case."""

    def __init__(self) -> None:
        self.billed: list[Usage] = []
        self.cut_off = 0

    def bill(self, usage: Usage | None) -> None:
        if usage is not None and usage.reported:
            self.billed.append(usage)
        else:
            self.cut_off += 1

    def onto(self, exc: BaseException, attempts: int) -> None:
        """Onto a typed failure, or a cancellation (asyncio.CancelledError carries them as plain attributes)."""
        exc.attempts = attempts  # type: ignore[attr-defined]
        exc.cut_off = self.cut_off  # type: ignore[attr-defined]
        exc.billed = tuple(self.billed)  # type: ignore[attr-defined]


@contextmanager
def billed_if_cancelled(cut_off: int, billed: Sequence[Usage]) -> Iterator[None]:
    """Around the await that records a failed call: a cancellation arriving meanwhile carries the call's billed
    attempts (`cut_off` cut off, `billed` usages), so the gateway's settle still counts them (review J)."""
    try:
        yield
    except asyncio.CancelledError as again:
        billed_on(again, cut_off, billed)
        raise


def billed_on(exc: BaseException, cut_off: int, billed: Sequence[Usage]) -> None:
    """Add a call's attempts billed under an earlier response format to a cancellation's (llm/gateway.py)."""
    exc.cut_off = cut_off + cut_off_of(exc)  # type: ignore[attr-defined]
    exc.billed = (*billed, *billed_of(exc))  # type: ignore[attr-defined]
