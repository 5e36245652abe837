"""A first reply `ask` repaired though it was no answer (cut at max_tokens, or empty), kept in the replay cache.

`ask` (llm/gateway.py) repairs such a reply: a truncated one is asked again with room to finish, an empty one is shown
its problem. The repair's answer was cached as any answer is, but the failed reply was not (the cache held answers
only), so a replay of a run that succeeded after such a repair missed at that call: a plain `--replay` stopped there
with ReplayMiss, and `--live-misses` paid for the first answer again, which the model may answer otherwise. So when
the repair succeeds, the failure it repaired is cached with its answer, under the request's key marked (`failed_key`),
and a replay raises it again, at no cost: the repair is then read from the cache, as the live run went. A call that
failed whole (its repair failed too) caches no failure, as before: the next run asks it again (a replay, with
`--live-misses`); nor does a reply no repair follows (a content filter, an upstream error)."""

from __future__ import annotations

import json

from llmtrade.llm.recorder import CacheEntry
from llmtrade.llm.structured import repair_prompt, truncation_prompt
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.reply_errors import LLMBadReply, LLMEmptyAnswer, LLMTruncated
from llmtrade.storage.llm_cache import AnswerCache, CachedAnswer

# A repair after truncation doubles max_tokens up to this; past it, only "answer shorter" is left.
MAX_REPAIR_TOKENS = 32768

REPAIRED: tuple[type[LLMBadReply], ...] = (LLMTruncated, LLMEmptyAnswer)
REPLAYED_NOTE = "replayed from the cache: the live answer failed so, and its repair followed"


def failed_key(key: str) -> str:
    """Where the failed reply to the request of cache key `key` is cached: never a request's key (those are hex)."""
    return f"{key}:failed"


def failure_entry(key: str, model: str, exc: BaseException) -> CacheEntry | None:
    """The cache entry of a live reply `ask` repairs (`REPAIRED`), None for any other failure."""
    if not isinstance(exc, REPAIRED):
        return None
    text = json.dumps(
        {"error": type(exc).__name__, "message": str(exc), "content": exc.content, "finish_reason": exc.finish_reason}
    )
    return CacheEntry(
        failed_key(key), model, CachedAnswer(text, exc.prompt_tokens, exc.completion_tokens, exc.cost_usd)
    )


def cached_failure(cache: AnswerCache, key: str) -> LLMBadReply | None:
    """The failed reply cached for the request of key `key`, raised again by a replay (at no cost), or None."""
    cached = cache.get(failed_key(key))
    if cached is None:
        return None
    kept = json.loads(cached.content)
    kind = {cls.__name__: cls for cls in REPAIRED}[kept["error"]]
    return kind(
        kept["message"],
        content=kept["content"],
        finish_reason=kept["finish_reason"],
        prompt_tokens=cached.prompt_tokens,
        completion_tokens=cached.completion_tokens,
        cost_usd=0.0,
    )


def truncation_repair(request: ChatRequest) -> tuple[ChatRequest, str]:
    """The repair of `request`'s answer cut at max_tokens, and its event's note: room to finish, a shorter answer."""
    bigger = max(min(request.max_tokens * 2, MAX_REPAIR_TOKENS), request.max_tokens)
    note = (
        f"repair after truncation: max_tokens {request.max_tokens} -> {bigger}, asked for a shorter answer"
        if bigger > request.max_tokens
        else f"repair after truncation: max_tokens already at the cap {bigger}, asked for a shorter answer"
    )
    messages = (*request.messages, ChatMessage(role="user", content=truncation_prompt(bigger)))
    return request.model_copy(update={"max_tokens": bigger, "messages": messages}), note


def empty_repair(request: ChatRequest, problem: str) -> ChatRequest:
    """The repair of `request`'s empty answer, `problem` said."""
    messages = (*request.messages, ChatMessage(role="user", content=repair_prompt(problem)))
    return request.model_copy(update={"messages": messages})
