"""How a model call waits out a temporary failure (429, 408, 5xx, a timeout, an error inside a 200): at most
`max_retries` more attempts within `max_total_seconds`, each after the wait the provider asked for (capped at
`max_retry_after`: a longer one fails at once, llm/http_errors.refusal) or an exponential backoff with jitter, so a
committee's parallel calls do not retry in lockstep. One policy for the committee's client (llm/http_client.py) and
`ask`'s turns (llm/tool_chat.py), read from the provider's models.yaml settings. The embeddings client
(llm/embeddings.py) shares the limits and `wait`, not `stop`: its total time counts from the start of the whole
batch, which a refusal may split into smaller ones."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from tenacity import RetryCallState, stop_after_attempt, stop_after_delay
from tenacity.stop import stop_base

from llmtrade.errors import LLMOutOfCredits, LLMRateLimited, LLMServerOutOfMemory, LLMUnavailable
from llmtrade.reply_errors import LLMNoChoice, LLMUpstreamError

_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 20.0


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    max_total_seconds: float = 300.0
    max_retry_after: float = 120.0

    def stop(self) -> stop_base:
        """tenacity's stop: the attempts or the total time, whichever ends first."""
        return stop_after_attempt(self.max_retries + 1) | stop_after_delay(self.max_total_seconds)

    def wait(self, attempt: int, asked: float | None) -> float:
        """Seconds to wait after failed attempt number `attempt` (from 1); `asked`: the wait the provider named."""
        if asked is not None:
            return min(max(asked, 0.0), self.max_retry_after)
        return min(_BACKOFF_FIRST * 2 ** (attempt - 1), _BACKOFF_MAX) + random.uniform(0, _BACKOFF_FIRST)


def temporary(exc: BaseException) -> bool:
    """Whether a failed attempt that raised `exc` is asked again: temporary (LLMUnavailable, an upstream's failure
    inside a 200), but not a limit the run cannot wait out (LLMRateLimited) or credits to add (LLMOutOfCredits), nor a
    reply with no choice (asked once more, then final: reply_errors.LLMNoChoice), nor a server short of memory for the
    model (LLMServerOutOfMemory)."""
    if isinstance(exc, (LLMRateLimited, LLMOutOfCredits, LLMServerOutOfMemory, LLMNoChoice)):
        return False
    return isinstance(exc, (LLMUnavailable, LLMUpstreamError))


def asked_wait(state: RetryCallState) -> float | None:
    """The wait the failed attempt's provider named (LLMUnavailable.retry_after), else None."""
    exc = state.outcome.exception() if state.outcome else None
    return exc.retry_after if isinstance(exc, LLMUnavailable) else None


async def pause(seconds: float) -> None:
    await asyncio.sleep(seconds)
