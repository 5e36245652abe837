"""The gateway's record of a failed call and the pricing of what a reply used (llm/gateway.py)."""

from __future__ import annotations

from llmtrade.config.models import Price
from llmtrade.domain.events import LLMCallFailed
from llmtrade.errors import LLMBadReply
from llmtrade.llm.budget import cut_off_of
from llmtrade.llm.records import plain_messages
from llmtrade.llm.types import ChatRequest, ResponseMode, Usage


def priced(price: Price | None, usage: Usage) -> Usage:
    """`usage` with its cost: the provider's, else its tokens at `price`; unknown (None) for a reply without usage or
    a model without a price, never 0 tokens' worth."""
    if usage.cost_usd is not None or not usage.reported or price is None:
        return usage
    cost = (usage.prompt_tokens * price.input_per_mtok + usage.completion_tokens * price.output_per_mtok) / 1e6
    return usage.model_copy(update={"cost_usd": cost})


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
    exc: Exception,
    *,
    mode: ResponseMode | None,
    note: str | None,
    cost: float | None,
    counted: float | None,
) -> LLMCallFailed:
    """The LLMCallFailed of a call that raised `exc`, with what did come back (a bad reply's text and tokens)."""
    bad = exc if isinstance(exc, LLMBadReply) else None
    return LLMCallFailed(
        role=role,
        provider=provider,
        model=model,
        messages=plain_messages(request.messages),
        error_type=type(exc).__name__,
        error=str(exc),
        cache_key=key,
        answer=bad.content if bad else None,
        reasoning=bad.reasoning if bad else None,
        finish_reason=bad.finish_reason if bad else None,
        response_mode=mode,
        max_tokens=request.max_tokens,
        prompt_tokens=bad.prompt_tokens if bad else 0,
        completion_tokens=bad.completion_tokens if bad else 0,
        note=note,
        cost_usd=cost,
        cost_counted_usd=counted,
        cut_off_attempts=cut_off_of(exc),
    )
